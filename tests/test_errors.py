"""Bad input gets a clear Python exception, never a crash."""

from __future__ import annotations

import numpy as np
import pytest

import seqmaxent as sm
from seqmaxent.network import runtime
from conftest import model_path

SEQ = "ACGTACGTTTGACCAGTACGGATC"


@pytest.fixture(scope="module")
def model() -> sm.Model:
    return sm.Model(model_path("gemm_softmax_ncl"))


def run(model, seqs=(SEQ,), **kw):
    args = dict(beta=1.0, chains=2, steps=100, period=50)
    args.update(kw)
    return sm.sample(model, list(seqs) if not isinstance(seqs, np.ndarray) else seqs, **args)


def test_lowercase_is_accepted(model):
    res = run(model, [SEQ.lower()], beta=1e7)
    assert res.sequences(0)[0] == SEQ


def test_non_acgt_names_sequence_and_position(model):
    bad = SEQ[:9] + "N" + SEQ[10:]
    with pytest.raises(sm.SequenceError, match=r"sequence 'chr1:5-29' \(#2\) has 'N' at position 10"):
        run(model, [SEQ, bad], names=["ok", "chr1:5-29"])
    with pytest.raises(sm.SequenceError, match=r"sequence #1 has 'X' at position 1"):
        run(model, ["X" + SEQ[1:]])


def test_wrong_length_for_a_fixed_length_model(model):
    with pytest.raises(sm.SequenceError, match=r"#2 has length 23, expected 24 \(the model's input length\)"):
        run(model, [SEQ, SEQ[:-1]])


def test_empty_input(model):
    with pytest.raises(sm.SequenceError, match="no input sequences"):
        run(model, [])
    with pytest.raises(sm.SequenceError, match="no input sequences"):
        run(model, np.zeros((0, 24, 4)))


def test_not_one_hot(model):
    x = np.eye(4)[sm.encode([SEQ])]
    x[0, 5] = [0.5, 0.5, 0, 0]
    with pytest.raises(sm.SequenceError, match="not one-hot at position 6"):
        run(model, x)
    with pytest.raises(sm.SequenceError, match=r"not \(1, 24\); codes \(n, L\).*sm.decode"):
        run(model, sm.encode([SEQ]))  # codes, not one-hot: the message says how to pass them


def test_missing_and_corrupt_model_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="nope.onnx"):
        sm.Model(tmp_path / "nope.onnx")
    corrupt = tmp_path / "corrupt.onnx"
    corrupt.write_bytes(model_path("gemm_softmax_ncl").read_bytes()[:500])
    with pytest.raises(sm.ModelError, match="corrupt.onnx is not a valid ONNX model"):
        sm.Model(corrupt)
    text = tmp_path / "text.onnx"
    text.write_text("hello")
    with pytest.raises(sm.ModelError, match="text.onnx"):
        sm.Model(text)


def test_no_final_linear_layer_suggests_phi():
    with pytest.raises(sm.ModelError, match=r"no final linear map.*phi="):
        sm.Model(model_path("no_head"))
    with pytest.raises(sm.ModelError, match="no tensor named 'missing'"):
        sm.Model(model_path("no_head"), phi="missing")


def test_layout_errors(tiny):
    with pytest.raises(sm.ModelError, match="ambiguous"):
        sm.Model(model_path("tiny"))
    with pytest.raises(sm.ModelError, match="does not fit layout NLC"):
        sm.Model(model_path("gemm_softmax_ncl"), layout="NLC")
    with pytest.raises(sm.ModelError, match="unknown layout"):
        sm.Model(model_path("gemm_softmax_ncl"), layout="LN")
    with pytest.raises(ValueError, match="alphabet"):
        sm.Model(model_path("gemm_softmax_ncl"), alphabet="ACGU")


@pytest.mark.parametrize("units,match", [(2, "output unit 2 is out of range"), ((0, 5), "output unit 5"),
                                         ((0, 1, 2), "units must be"), (-1, "out of range")])
def test_out_of_range_units(model, units, match):
    with pytest.raises(ValueError, match=match):
        run(model, units=units)


def test_three_outputs_need_units():
    with pytest.raises(ValueError, match="has 3 units: choose units"):
        run(sm.Model(model_path("matmul_add_nlc")))


@pytest.mark.parametrize("kw,match", [
    (dict(beta=-1.0), "beta must be"), (dict(beta=float("nan")), "beta must be"), (dict(mu=float("inf")), "mu must be"),
    (dict(chains=0), "chains must be"), (dict(steps=0), "steps must be"), (dict(period=30), "period .30. must divide"),
    (dict(burn_in=-5), "burn_in must be"), (dict(threads=0), "threads must be"), (dict(provider="tpu"), "provider"),
    (dict(constrained="GCX"), "constrained"),
])
def test_bad_parameters(model, kw, match):
    with pytest.raises(ValueError, match=match):
        run(model, **kw)


def test_cuda_without_onnxruntime_gpu_says_what_to_install(model):
    if "CUDAExecutionProvider" in runtime.providers():
        pytest.skip("onnxruntime-gpu is installed")
    with pytest.raises(RuntimeError, match="onnxruntime-gpu"):
        run(model, provider="cuda")


def test_n_fails_by_default_and_says_how_to_freeze(model):
    with pytest.raises(sm.SequenceError, match=r"has 'n' at position 3 .*on_n='freeze'"):
        run(model, ["ACn" + SEQ[3:]])
    with pytest.raises(ValueError, match="all N"):
        run(model, ["N" * 24], on_n="freeze")
    with pytest.raises(ValueError, match="on_n must be"):
        run(model, [SEQ], on_n="drop")
