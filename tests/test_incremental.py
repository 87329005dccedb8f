"""The incremental path against full evaluation by ONNX Runtime, over the layer mixes it accepts:
kernel widths, strides, dilation, padding modes, pooling kinds, elementwise ops, BatchNorm, depths,
1-D and (1, L) 2-D convolutions, and a tail left to ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

import seqmaxent as sm
from graphs import network

LENGTH = 24


def conv(out: int, width: int, **options) -> tuple[str, dict]:
    return "conv", dict(out=out, width=width, **options)


def pool(kind: str, width: int, **options) -> tuple[str, dict]:
    return kind, dict(width=width, **options)


def op(name: str) -> tuple[str, dict]:
    return name, {}


# name -> (layers, 2-D, the evaluation path the core must report); "two_dense" has a second
# dense layer before Phi, updated in the core from the first one's changes; "dense_on_input"
# starts with a dense layer on the flattened one-hot input (a conv as wide as the input).
CASES = {
    "conv": ([conv(8, 5), op("relu")], False, "conv 5+relu, dense updated in the core"),
    "strided_dilated_padded": ([conv(20, 4, stride=2, dilation=2, pads=(3, 1)), op("relu")], False,
                               "conv 4+relu, dense updated in the core"),
    "same_upper_maxpool": ([conv(6, 6, auto_pad="SAME_UPPER"), op("relu"), pool("maxpool", 2)], False,
                           "conv 6+relu, max_pool 2, dense updated in the core"),
    "same_lower_avgpool_counting_pads": (
        [conv(6, 5, auto_pad="SAME_LOWER"), op("tanh"), pool("avgpool", 3, stride=2, pads=(1, 1), count_include_pad=1)],
        False, "conv 5+tanh, avg_pool 3, dense updated in the core"),
    "avgpool_skipping_pads": ([conv(8, 3), op("relu"), pool("avgpool", 4, stride=3, pads=(2, 1))], False,
                              "conv 3+relu, avg_pool 4, dense updated in the core"),
    "overlapping_padded_maxpool": ([conv(8, 5), op("relu"), pool("maxpool", 3, stride=1, pads=(1, 1))], False,
                                   "conv 5+relu, max_pool 3, dense updated in the core"),
    "two_convs": ([conv(8, 5), op("relu"), pool("maxpool", 2), conv(12, 3, pads=(1, 1)), op("relu")], False,
                  "conv 5+relu, max_pool 2, conv 3+relu, dense updated in the core"),
    "strided_dilated_second_conv": ([conv(8, 3), op("relu"), conv(8, 3, stride=2, dilation=2, pads=(2, 2)),
                                     op("sigmoid")], False, "conv 3+relu, conv 3+sigmoid, dense updated in the core"),
    "batchnorm": ([conv(8, 5), op("batchnorm"), op("relu"), conv(8, 3), op("relu"), op("batchnorm"),
                   pool("maxpool", 3, stride=2)], False, "conv 5+relu, conv 3+relu+affine, max_pool 3, dense updated in the core"),
    "three_stages": ([conv(16, 5), op("relu"), pool("maxpool", 2), conv(16, 3), op("relu"), pool("maxpool", 2),
                      conv(16, 3), op("leakyrelu"), pool("avgpool", 2)], False,
                     "conv 5+relu, max_pool 2, conv 3+relu, max_pool 2, conv 3+leaky_relu, avg_pool 2, "
                     "dense updated in the core"),
    "global_maxpool": ([conv(8, 5), op("relu"), conv(8, 3), op("relu"), op("gmaxpool")], False,
                       "conv 5+relu, conv 3+relu, max_pool 18, dense updated in the core"),
    "global_avgpool_affine": ([conv(8, 5), op("relu"), op("mul"), op("add"), op("sigmoid"), op("gavgpool")], False,
                              "conv 5+relu+affine+sigmoid, avg_pool 20, dense updated in the core"),
    "two_d": ([conv(8, 5, pads=(2, 2)), op("relu"), pool("maxpool", 2), conv(8, 3), op("relu")], True,
              "conv 5+relu, max_pool 2, conv 3+relu, dense updated in the core"),
    "two_dense": ([conv(8, 5), op("relu"), pool("maxpool", 2)], False,
                  "conv 5+relu, max_pool 2, dense+relu, dense updated in the core"),
    "dense_on_input": ([], False, "conv 24+relu, dense updated in the core"),  # MMSplice's modules
    "tail_in_onnxruntime": ([conv(8, 5), op("relu"), pool("maxpool", 2), op("softsign"), conv(8, 3)], False,
                            "conv 5+relu, max_pool 2 updated in the core, rest of the network in ONNX Runtime"),
}


@pytest.fixture(params=list(CASES), scope="module")
def case(request, tmp_path_factory) -> tuple[sm.Model, str]:
    layers, two_d, path = CASES[request.param]
    file = tmp_path_factory.mktemp("nets") / f"{request.param}.onnx"
    dense = 2 if request.param in ("two_dense", "dense_on_input") else 1
    onnx.save(network(LENGTH, layers, dense=dense, two_d=two_d, seed=len(request.param)), file)
    return sm.Model(file, layout="NCL"), path


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no silent fallback to full evaluation
def test_path_and_phi_match_onnxruntime(case):
    model, path = case
    assert model.info().evaluation == "incremental: " + path
    codes = np.random.default_rng(0).integers(0, 4, (32, LENGTH), dtype=np.uint8)
    engine = model.engine(LENGTH, "cpu", 2, True)
    np.testing.assert_allclose(engine.phi(codes), model.phi(codes), rtol=1e-5, atol=1e-5)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_updates_match_full_evaluation(case):
    """Distances after thousands of accepted and rejected in-place updates (no refresh) equal
    those of the same samples evaluated from scratch by ONNX Runtime."""
    model, _ = case
    x0 = np.random.default_rng(1).integers(0, 4, (2, LENGTH), dtype=np.uint8)
    d0 = np.linalg.norm(model.scale() * (model.phi(x0[:1]) - model.phi(x0[1:])))
    res = sm.sample(model, sm.decode(x0), beta=2.0 / max(d0, 1e-3), chains=4, steps=2000, period=50, seed=2,
                    refresh=0)
    assert 0.05 < res.acceptance.mean() < 0.95  # both the accept and the reject branch ran
    for i in range(2):
        expected = np.linalg.norm(model.scale() * (model.phi(res.samples[i]) - model.phi(x0[i : i + 1])), axis=1)
        np.testing.assert_allclose(res.distances[i], expected, rtol=1e-4, atol=1e-4)  # float drift only


def test_drift_through_a_deep_stack_is_bounded_and_refresh_removes_it(tmp_path):
    """20,000 updates through three conv/pool stages without refresh stay at float precision."""
    layers, two_d, _ = CASES["three_stages"]
    onnx.save(network(LENGTH, layers, two_d=two_d, seed=7), tmp_path / "deep.onnx")
    model = sm.Model(tmp_path / "deep.onnx", layout="NCL")
    x0 = np.random.default_rng(3).integers(0, 4, (1, LENGTH), dtype=np.uint8)
    expected = None
    for refresh in (0, 1000):
        res = sm.sample(model, sm.decode(x0), beta=0.0, chains=4, steps=20_000, period=1000, seed=5, refresh=refresh)
        exact = np.linalg.norm(model.scale() * (model.phi(res.samples[0]) - model.phi(x0)), axis=1)
        np.testing.assert_allclose(res.distances[0], exact, rtol=1e-3, atol=1e-4)
        expected = res.samples if expected is None else expected
        np.testing.assert_array_equal(res.samples, expected)  # beta = 0: the same walk either way
