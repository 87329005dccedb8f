"""Phi and final-layer extraction across heads and layouts; d from the core against numpy."""

from __future__ import annotations

import numpy as np
import pytest

import seqmaxent as sm
from seqmaxent import _core
from seqmaxent.network import runtime
from conftest import model_path

# name -> (layout, outputs, output activation, evaluation path keyword)
MODELS = {
    "gemm_softmax_ncl": ("NCL", 2, "Softmax", "dense updated in the core"),
    "matmul_add_nlc": ("NLC", 3, "Identity", "dense updated in the core"),
    "sigmoid_strided": ("NCL", 1, "Sigmoid", "dense updated in the core"),
    "keras_n1lc": ("N1LC", 2, "Softmax", "dense updated in the core"),
    "conv_pool": ("NCL", 2, "Identity", "max_pool 4, dense updated in the core"),
    "mlp": ("NLC", 2, "Softmax", "conv 24 updated in the core"),
}


def random_codes(n: int, length: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 4, (n, length), dtype=np.uint8)


def logit_of(outputs: np.ndarray, activation: str, units) -> np.ndarray:
    """What s . Phi + const must equal for the chosen units, from the network's outputs alone."""
    if activation == "Softmax":  # log-odds log(y1/y2) = (W1 - W2) . Phi + const
        z = np.log(outputs)
    elif activation == "Sigmoid":
        z = np.log(outputs / (1 - outputs))
    else:
        z = outputs
    return z[:, units[0]] if len(units) == 1 else z[:, units[0]] - z[:, units[1]]


@pytest.mark.parametrize("name", MODELS)
def test_layout_head_and_path_detected(name):
    layout, outputs, activation, path = MODELS[name]
    info = sm.inspect(model_path(name))
    assert (info.layout, info.length, info.units, info.output_activation) == (layout, 24, outputs, activation)
    assert path in info.evaluation
    assert info.phi_dim == sm.Model(model_path(name)).phi(random_codes(1, 24)).shape[1]
    assert layout in str(info) and info.phi in repr(sm.Model(model_path(name)))


@pytest.mark.parametrize("name", MODELS)
def test_scale_is_the_final_layer_weight(name):
    """s . Phi differs from the unit (or pair) logit by a constant: s is W[k] or W[k1] - W[k2]."""
    _, outputs, activation, _ = MODELS[name]
    model = sm.Model(model_path(name))
    codes = random_codes(64, 24, seed=1)
    phi, out = model.phi(codes), model.predict(codes).astype(np.float64)
    singles = [] if activation == "Softmax" else [(k,) for k in range(outputs)]  # softmax fixes only differences
    for units in singles + ([(1, 0), (0, 1)] if outputs > 1 else []):
        residual = logit_of(out, activation, units) - phi @ model.scale(units if len(units) == 2 else units[0])
        assert residual.std() < 1e-4 * max(1.0, np.abs(residual).max()), units


@pytest.mark.parametrize("incremental", [True, False], ids=["incremental", "full"])
@pytest.mark.parametrize("name", MODELS)
def test_core_distance_matches_numpy(name, incremental):
    """Every kept sample's d, computed by the core, equals ||s (Phi(x) - Phi(x0))|| from onnxruntime's Python API."""
    model = sm.Model(model_path(name))
    units = 2 if name == "matmul_add_nlc" else None
    x0 = random_codes(2, 24, seed=2)
    res = sm.sample(model, sm.decode(x0), beta=2.0, units=units, chains=4, steps=3000, period=100, seed=3,
                    threads=2, incremental=incremental, refresh=1000)
    s = model.scale(units)
    for i in range(2):
        expected = np.linalg.norm(s * (model.phi(res.samples[i]) - model.phi(x0[i : i + 1])), axis=1)
        np.testing.assert_allclose(res.distances[i], expected, rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(res.phi0, model.phi(x0), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(res.outputs, model.predict(x0), rtol=1e-6)


def test_incremental_drift_stays_bounded_without_refresh():
    """With refresh off, 20,000 accumulated single-base updates still give Phi to float precision."""
    model = sm.Model(model_path("gemm_softmax_ncl"))
    x0 = random_codes(1, 24, seed=4)
    res = sm.sample(model, sm.decode(x0), beta=0.0, chains=4, steps=20_000, period=1000, seed=5, refresh=0)
    s = model.scale()
    expected = np.linalg.norm(s * (model.phi(res.samples[0]) - model.phi(x0)), axis=1)
    np.testing.assert_allclose(res.distances[0], expected, rtol=1e-3, atol=1e-4)


def test_phi_named_by_hand():
    """A model with no final linear layer works once Phi is named; d is then unweighted."""
    with pytest.raises(sm.ModelError, match="phi="):
        sm.Model(model_path("no_head"))
    model = sm.Model(model_path("no_head"), phi="y")
    assert model.n_outputs is None and model.phi_dim == 2
    np.testing.assert_array_equal(model.scale(), np.ones(2, np.float32))
    with pytest.raises(sm.ModelError, match="units need the final linear map"):
        model.scale((1, 0))
    res = sm.sample(model, sm.decode(random_codes(1, 24)), beta=1.0, chains=2, steps=100, period=50)
    assert res.samples.shape == (1, 4, 24)


def test_phi_override_on_the_head_input_keeps_the_weights():
    default = sm.Model(model_path("gemm_softmax_ncl"))
    named = sm.Model(model_path("gemm_softmax_ncl"), phi=default.phi_name)
    np.testing.assert_array_equal(named.scale(), default.scale())


def test_alphabet_orders_the_channels():
    """The same model read with alphabet GCAT sees G where ACGT sees A: Phi follows the channel."""
    acgt = sm.Model(model_path("gemm_softmax_ncl"))
    gcat = sm.Model(model_path("gemm_softmax_ncl"), alphabet="gcat")
    seq = "ACGTTGCAACGTTGCAACGTTGCA"
    codes_acgt = sm.encode([seq], "ACGT")
    codes_gcat = sm.encode([seq.translate(str.maketrans("ACGT", "GCAT"))], "GCAT")
    np.testing.assert_array_equal(codes_acgt, codes_gcat)
    np.testing.assert_allclose(acgt.phi(codes_acgt), gcat.phi(codes_gcat))
    res = sm.sample(gcat, [seq], beta=1e6, chains=2, steps=100, period=50)
    assert res.sequences(0) == [seq] * 4 and res.alphabet == "GCAT"


@pytest.mark.parametrize("name", ["gemm_softmax_ncl", "conv_pool", "any_length"])
def test_plan_folder_round_trip(tmp_path, name):
    """The folder the benchmark binary reads gives the same layers, scale and Phi."""
    runtime.ensure_loaded()
    model = sm.Model(model_path(name))
    model.save_plan(tmp_path / "plan", units=(1, 0) if model.n_outputs > 1 else 0, length=24)
    plan, scale = _core.Plan.load(str(tmp_path / "plan"))
    np.testing.assert_array_equal(scale, model.scale((1, 0) if model.n_outputs > 1 else 0))
    assert [y.kind for y in plan.nodes] == [y.kind for y in model.plan(24).nodes]
    codes = random_codes(5, 24)
    np.testing.assert_array_equal(_core.Engine(plan).phi(codes), _core.Engine(model.plan(24)).phi(codes))


def test_plan_folder_rewritten_for_another_model(tmp_path):
    """A folder reused for a model without a tail does not pick up the previous model's tail."""
    runtime.ensure_loaded()
    sm.Model(model_path("any_length")).save_plan(tmp_path, length=24)
    model = sm.Model(model_path("gemm_softmax_ncl"))
    model.save_plan(tmp_path, units=(1, 0))
    plan, _ = _core.Plan.load(str(tmp_path))
    assert "ONNX Runtime" not in _core.Engine(plan).path
    codes = random_codes(5, 24)
    np.testing.assert_array_equal(_core.Engine(plan).phi(codes), _core.Engine(model.plan(24)).phi(codes))


def test_any_length_model_samples_each_length():
    """A fully convolutional model takes any length; d still matches onnxruntime for each."""
    model = sm.Model(model_path("any_length"))
    assert model.length is None and "any" in str(model.info())
    for length in (17, 40):
        x0 = random_codes(2, length, seed=length)
        res = sm.sample(model, sm.decode(x0), beta=2.0, chains=3, steps=400, period=100, seed=1)
        assert res.samples.shape == (2, 12, length)
        expected = np.linalg.norm(model.scale() * (model.phi(res.samples[1]) - model.phi(x0[1:2])), axis=1)
        np.testing.assert_allclose(res.distances[1], expected, rtol=1e-4, atol=1e-5)
    with pytest.raises(sm.SequenceError, match="the length of the first sequence"):
        sm.sample(model, ["ACGTACGTAC", "ACGT"], beta=1.0, chains=1, steps=10, period=5)


def test_fixed_batch_size_is_explained(tmp_path):
    import onnx

    proto = onnx.load(model_path("gemm_softmax_ncl"))
    flatten = next(n for n in proto.graph.node if n.op_type == "Flatten")
    shape = onnx.helper.make_tensor("fixed_shape", onnx.TensorProto.INT64, [2], [1, -1])
    proto.graph.initializer.append(shape)
    flatten.op_type, flatten.input[:] = "Reshape", [flatten.input[0], "fixed_shape"]
    del flatten.attribute[:]
    onnx.save(proto, tmp_path / "batch1.onnx")
    with pytest.raises(sm.ModelError, match="fixed batch size"):
        sm.Model(tmp_path / "batch1.onnx")
