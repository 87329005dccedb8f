"""Today's architectures on the incremental path: residual and dilated towers, cropped residual
branches, skip sums, BatchNorm before and after the ReLU, channels-last exports, two dense layers,
explicit Pad ops, and heads applied at every position (conv of any width, MatMul over channels),
each against full evaluation by ONNX Runtime."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
from click.testing import CliRunner

import graphs
import seqmaxent as sm
from conftest import model_path
from seqmaxent.cli import cli
from seqmaxent.explain.logos import framing

L = 40

# name -> (builder, head output index, units, 1-based positions, the evaluation path the core must report)
CASES = {
    "residual": (lambda: graphs.residual(L), 0, (1, 0), None,
                 "incremental: 6 nodes (2 add, 1 avg_pool, 3 conv) updated in the core"),
    "cropped_residual_bn_after_relu": (lambda: graphs.cropped_residual(L), 0, (1, 0), None,
                                       "incremental: 6 nodes (2 add, 3 conv, 1 dense) updated in the core"),
    "spliceai_like": (lambda: graphs.spliceai_like(L, crop=15), 0, (1, 0), [3, 6],
                      "incremental: 18 nodes (6 add, 12 conv) updated in the core"),
    "spliceai_like_one_output": (lambda: graphs.spliceai_like(L, crop=15), 0, (1, 0), [5],
                                 "incremental: 18 nodes (6 add, 12 conv) updated in the core"),
    "profile_head_window": (lambda: graphs.profile_and_counts(L, crop=10), 0, 1, range(8, 13),
                            "incremental: 3 nodes (1 add, 2 conv) updated in the core"),
    "counts_head": (lambda: graphs.profile_and_counts(L, crop=10), 1, None, None,
                    "incremental: 4 nodes (1 add, 1 avg_pool, 2 conv) updated in the core"),
    "keras_channels_last": (lambda: graphs.keras_channels_last(L), 0, (1, 0), None,
                            "incremental: conv 5+relu, conv 3+relu, dense+relu, dense updated in the core"),
    "per_position_matmul": (lambda: graphs.per_position_matmul(L), 0, 0, [1, 20, 40],
                            "incremental: 3 nodes (1 add, 2 conv) updated in the core"),
    "activations": (lambda: graphs.activations(L), 0, (1, 0), None,
                    "incremental: 12 nodes (4 add, 1 avg_pool, 7 conv) updated in the core"),
    "padded": (lambda: graphs.padded(L), 0, (1, 0), None, "incremental: 6 nodes (2 add, 4 conv) updated in the core"),
    "padded_tail": (lambda: graphs.padded_tail(L), 0, (1, 0), None,
                    "incremental: conv 5 updated in the core, rest of the network in ONNX Runtime"),
    "residual_tail": (lambda: graphs.residual_tail(L), 0, (1, 0), None,
                      "incremental: 3 nodes (1 add, 2 conv) updated in the core, rest of the network in ONNX Runtime"),
}


@pytest.fixture(params=list(CASES), scope="module")
def case(request, tmp_path_factory):
    build, head, units, positions, path = CASES[request.param]
    proto = build()
    file = tmp_path_factory.mktemp("towers") / f"{request.param}.onnx"
    onnx.save(proto, file)
    layout = "NLC" if request.param.startswith("keras") else "NCL"
    return sm.Model(file, layout=layout, head=proto.graph.output[head].name), units, positions, path


def logit(model: sm.Model, codes: np.ndarray, units, positions) -> np.ndarray:
    """The selected logits (or log-odds) from the network's own output, per chosen position."""
    y = model.predict_units(codes).astype(np.float64)
    if model.head.activation == "Softmax":
        y = np.log(y)
    elif model.head.activation == "Sigmoid":
        y = np.log(y / (1 - y))
    units = model.units(units)
    z = y[:, :, [p - 1 for p in positions] if positions is not None else [0]]
    return z[:, units[0]] - (z[:, units[1]] if len(units) == 2 else 0)


@pytest.mark.filterwarnings("error::RuntimeWarning")  # no silent fallback to full evaluation
def test_path_and_phi_match_onnxruntime(case):
    model, units, positions, path = case
    engine = model.engine(L, "cpu", 2, True, positions)
    assert engine.path == path
    codes = np.random.default_rng(0).integers(0, 4, (32, L), dtype=np.uint8)
    np.testing.assert_allclose(engine.phi(codes), model.phi(codes, positions), rtol=1e-5, atol=1e-5)
    incremental, full = engine.flops()
    assert 0 < incremental < full
    each = [engine.flops([p])[0] for p in range(L)]  # the default averages over every position
    assert incremental == pytest.approx(np.mean(each)) and engine.flops([0, L - 1])[1] == full
    with pytest.raises(ValueError, match="outside the input"):
        engine.flops([L])


def test_s_phi_plus_b_is_the_selected_logit(case):
    """s . Phi differs from the chosen logit (or log-odds), position by position, by a constant:
    the bias, so s is exactly the head's weights over Phi."""
    model, units, positions, _ = case
    codes = np.random.default_rng(1).integers(0, 4, (16, L), dtype=np.uint8)
    where = model.positions(positions)
    phi, s = model.phi(codes, positions), model.scale(units, positions)
    per_position = [slice(None)] if where is None else np.split(np.arange(phi.shape[1]), np.cumsum(
        [len(model.head.window(p)) * model.head.weight.shape[1] for p in where])[:-1])
    z = logit(model, codes, units, positions)
    for k, cols in enumerate(per_position):
        residual = z[:, k] - phi[:, cols] @ s[cols]
        np.testing.assert_allclose(residual, residual[0], atol=2e-4)


@pytest.mark.filterwarnings("error::RuntimeWarning")
def test_updates_match_full_evaluation(case):
    """Distances after thousands of accepted and rejected in-place updates (no refresh) equal
    those of the same samples evaluated from scratch by ONNX Runtime."""
    model, units, positions, _ = case
    x0 = np.random.default_rng(2).integers(0, 4, (2, L), dtype=np.uint8)
    s = model.scale(units, positions)
    d0 = np.linalg.norm(s * (model.phi(x0[:1], positions) - model.phi(x0[1:], positions)))
    res = sm.sample(model, sm.decode(x0), beta=10.0 / max(d0, 1e-3), units=units, positions=positions, chains=4,
                    steps=2000, period=50, seed=2, refresh=0, sampler="metropolis", max_rounds=1)
    assert 0.05 < res.acceptance.mean() < 0.95  # both the accept and the reject branch ran
    for i in range(2):
        expected = np.linalg.norm(s * (model.phi(res.samples[i], positions) - model.phi(x0[i : i + 1], positions)), axis=1)
        np.testing.assert_allclose(res.distances[i], expected, rtol=1e-4, atol=1e-4)  # float drift only


def test_one_output_of_a_dilated_tower_keeps_only_the_rows_it_reads(tmp_path):
    """At one output position, Phi reads a dilation-2 conv's output only through every second row:
    the core keeps and updates that lattice, not the interval around it (13, 9, 5 and 1 rows)."""
    onnx.save(graphs.spliceai_like(L, crop=15), tmp_path / "spliceai.onnx")
    engine = sm.Model(tmp_path / "spliceai.onnx").engine(L, "cpu", 1, True, [5])
    kept = [n["rows_kept"] for n in engine.nodes if n["kind"] == "conv 3"]
    assert kept[-4:] == [7, 5, 3, 1]  # the dilation-2 group's convs


@pytest.mark.parametrize("form", ["torchscript", "dynamo", "op"])
def test_an_exported_gelu_is_one_step(tmp_path, form):
    """GELU's five exported ops (or opset 20's Gelu) become one step of the core, with no affine
    maps left over; the step reproduces ONNX Runtime's Phi."""
    net = graphs.Net(0, L, opset=20 if form == "op" else 17)
    x = graphs.gelu(net, net.conv("x", 8, 5), form)
    onnx.save(net.finish(net.gemm(net.op("Flatten", [net.conv(x, 8, 3)], axis=1), 2)), tmp_path / "gelu.onnx")
    model = sm.Model(tmp_path / "gelu.onnx")
    engine = model.engine(L, "cpu", 1, True)
    assert engine.path == "incremental: conv 5+gelu, conv 3 updated in the core"
    codes = np.random.default_rng(0).integers(0, 4, (8, L), dtype=np.uint8)
    np.testing.assert_allclose(engine.phi(codes), model.phi(codes), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("name", ["bpnet_small", "spliceai_small", "basset_small", "padded_small"])
def test_pytorch_exports_take_the_incremental_path(name):
    """PyTorch (TorchScript exporter) versions of BPNet, SpliceAI and Basset, and a tower that pads
    with F.pad (Pad ops with computed pads), run entirely in the core."""
    model = sm.Model(model_path(name), head="counts" if name.startswith("bpnet") else None)
    length = model.length
    units = {"bpnet_small": None, "spliceai_small": (2, 0), "basset_small": 3, "padded_small": (1, 0)}[name]
    positions = 21 if name.startswith("spliceai") else None  # the centre of 41 output positions
    engine = model.engine(length, "cpu", 2, True, positions)
    assert engine.path.startswith("incremental") and "ONNX Runtime" not in engine.path
    codes = np.random.default_rng(3).integers(0, 4, (8, length), dtype=np.uint8)
    np.testing.assert_allclose(engine.phi(codes), model.phi(codes, positions), rtol=1e-4, atol=1e-5)
    res = sm.sample(model, sm.decode(codes[:1]), beta=1.0, units=units, positions=positions, chains=2, steps=300,
                    period=50, refresh=0, sampler="metropolis", max_rounds=1, seed=1)
    s = model.scale(units, positions)
    expected = np.linalg.norm(s * (model.phi(res.samples[0], positions) - model.phi(codes[:1], positions)), axis=1)
    np.testing.assert_allclose(res.distances[0], expected, rtol=1e-4, atol=1e-4)


def test_positions_must_be_chosen_and_in_range(tmp_path):
    onnx.save(graphs.profile_and_counts(L, crop=10), tmp_path / "bpnet.onnx")
    model = sm.Model(tmp_path / "bpnet.onnx")
    with pytest.raises(ValueError, match=r"gives 20 output positions: choose positions=.*1-based, 1\.\.20"):
        model.scale(0)
    with pytest.raises(ValueError, match=r"output position 21 is out of range.*1\.\.20"):
        model.scale(0, 21)
    with pytest.raises(ValueError, match="choose units"):  # two profile tracks under no per-unit softmax
        model.scale(None, 3)
    counts = sm.Model(tmp_path / "bpnet.onnx", head=model._proto.graph.output[1].name)
    with pytest.raises(ValueError, match="has no positions"):
        counts.scale(None, 3)
    with pytest.raises(sm.ModelError, match="no output named 'nope'"):
        sm.Model(tmp_path / "bpnet.onnx", head="nope")
    info = str(model.info())
    assert "Conv over positions (width 7)" in info and "Gemm reading" in info


def test_chosen_output_positions_say_which_input_positions_they_read(tmp_path):
    """A per-position head's chosen outputs read a window of the input: inspect says which, with the
    region that samples only it; results record it, and the logo's title and the report say it."""
    onnx.save(graphs.profile_and_counts(L, crop=10), tmp_path / "bpnet.onnx")
    model = sm.Model(tmp_path / "bpnet.onnx")
    first, last = model.reads(range(10, 12))
    assert 1 < first < last < L and model.reads(range(10, 13)) == (first, last + 1)  # one output further: one more
    assert f"reads       input positions {first}-{last} (1-based) of {L}" in str(model.info(range(10, 12)))
    seqs = ["".join(np.random.default_rng(0).choice(list("ACGT"), L))]
    res = sm.sample(model, seqs, beta=5.0, units=0, positions=range(10, 12), chains=2, steps=100, period=10,
                    max_rounds=1, names=["s"])
    assert res.params["reads"] == f"{first}-{last}"
    res.save(tmp_path / "run.h5")
    report = CliRunner().invoke(cli, ["report", str(tmp_path / "run.h5"), "-o", str(tmp_path / "r.html"), "--no-match"])
    assert report.exit_code == 0, report.output
    assert f"output positions 10-11 read input positions {first}-{last}" in (tmp_path / "r.html").read_text()
    assert framing(res.params, res.importance()[0])[1] == f"output positions 10-11 read input {first}-{last}"
