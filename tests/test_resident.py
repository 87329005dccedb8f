"""The resident path (the chains' state where ONNX Runtime runs the network, each step one run of
the step graph: the whole network, or the windows a change reaches), tested on the CPU provider,
where CI runs it; on a GPU (``pytest -m gpu``) the same graphs run on the CUDA provider."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest

import graphs
import seqmaxent as sm
import test_exact
import test_incremental
import test_towers
from seqmaxent.io import bundled
from seqmaxent.network import resident, runtime, windows
from seqmaxent.network.incremental import extract

CTCF_SEQS = sm.read_fasta(bundled.ctcf_examples_path())[1]


def has_cuda() -> bool:
    return "CUDAExecutionProvider" in runtime.providers()


STEP = {True: "windows", False: "whole"}


@pytest.mark.parametrize("incremental", [True, False], ids=STEP.get)
@pytest.mark.parametrize("sampler", ["metropolis", "tempering"])
@pytest.mark.parametrize("rel_beta,mu,units", [test_exact.CASES[1], test_exact.CASES[3], test_exact.CASES[4]])
def test_resident_steps_sample_the_exact_distribution(tiny, incremental, sampler, rel_beta, mu, units):
    beta = test_exact.relative_beta(tiny, units, rel_beta)
    results = test_exact.run(tiny, beta, mu, units, sampler, "metropolis", resident=True, incremental=incremental)
    evaluation = results[-1].params["evaluation"]
    assert evaluation.startswith("resident") and ("in windows" in evaluation) == incremental
    powered = [test_exact.assert_exact(tiny, r, mu, units, test_exact.N_SAMPLES // 3) for r in results]
    assert powered[-1]


@pytest.mark.parametrize("sampler", ["metropolis", "tempering"])
def test_resident_windows_through_a_residual_tower_sample_the_exact_distribution(tmp_path, sampler):
    """A per-position head on a residual tower, explained at two positions: caches of convs and
    sums updated in windows, every rung against the enumerated law."""
    onnx.save(graphs.tiny_profile(), tmp_path / "tiny_profile.onnx")
    model = sm.Model(tmp_path / "tiny_profile.onnx", layout="NCL")
    x0, positions = np.array([2, 1, 3, 0, 1], dtype=np.uint8), [2, 4]
    beta = test_exact.relative_beta(model, 0, 3.0, positions, x0)
    results = sm.sample(model, sm.decode(x0[None]), beta=beta, mu=0.4, units=0, positions=positions, sampler=sampler,
                        rungs=3, keep_ladder=True, chains=test_exact.CHAINS, steps=test_exact.STEPS,
                        period=test_exact.PERIOD, burn_in=test_exact.BURN_IN, max_rounds=1, seed=11, threads=2,
                        resident=True)
    assert "nodes kept and updated in windows" in results[0].params["evaluation"]
    powered = [test_exact.assert_exact(model, r, 0.4, 0, test_exact.N_SAMPLES // 3, positions, x0) for r in results]
    assert powered[-1]


@pytest.mark.parametrize("incremental", [True, False], ids=STEP.get)
def test_a_chain_is_the_same_chain_on_every_path(incremental):
    """The resident step draws the same numbers as the core's sampler: with the same seed, chains
    make the same moves (float differences between the two evaluations can flip a rare decision)."""
    model = sm.Model("ctcf")
    kw = dict(beta=50.0, chains=16, steps=1000, period=50, burn_in=0, sampler="metropolis", max_rounds=1, seed=4)
    core = sm.sample(model, CTCF_SEQS[:1], **kw)
    resident = sm.sample(model, CTCF_SEQS[:1], resident=True, incremental=incremental, **kw)
    same = (core.samples[0].reshape(16, -1, 101) == resident.samples[0].reshape(16, -1, 101)).all(axis=(1, 2))
    assert same.sum() >= 15
    np.testing.assert_allclose(core.acceptance, resident.acceptance, atol=0.02)
    s = model.scale()
    exact = np.linalg.norm(s * (model.phi(resident.samples[0]) - model.phi(sm.encode(CTCF_SEQS[:1]))), axis=1)
    np.testing.assert_allclose(resident.distances[0], exact, rtol=1e-4, atol=1e-4)


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _run(session: ort.InferenceSession, feeds: dict) -> dict:
    return dict(zip([o.name for o in session.get_outputs()], session.run(None, feeds)))


def _networks():
    for name, (layers, two_d, _) in test_incremental.CASES.items():
        dense = 2 if name == "two_dense" else 1
        yield name, lambda layers=layers, two_d=two_d, dense=dense: graphs.network(
            test_incremental.LENGTH, layers, dense=dense, two_d=two_d, seed=3), "NCL", None, None, None
    for name, (build, head, units, positions, _) in test_towers.CASES.items():
        yield name, build, "NLC" if name.startswith("keras") else "NCL", head, units, positions


NETWORKS = {name: rest for name, *rest in _networks()}


@pytest.mark.parametrize("name", list(NETWORKS))
def test_the_input_positions_phi_reads(tmp_path, name):
    """Model.reads is the backward cone of the explained outputs: no change outside it moves Phi,
    and changes at its edges do, around some of 8 random inputs (one input's inactive ReLUs or a
    max that stays put can hide an edge; a strided dilated conv skips positions, so an edge may be
    one it skips, within stride x dilation of one it reads)."""
    build, layout, head, units, positions = NETWORKS[name]
    proto = build()
    onnx.save(proto, tmp_path / "net.onnx")
    model = sm.Model(tmp_path / "net.onnx", layout=layout, head=None if head is None else proto.graph.output[head].name)
    span = model.reads(positions)
    if span is None:  # the core's graph stops before Phi
        assert extract(model._phi_model(model.positions(positions)), layout, model.length).tail
        return
    L, moved = model.length, 0
    for x0 in np.random.default_rng(0).integers(0, 4, (8, L)).astype(np.uint8):
        mutants = np.repeat(x0[None], 3 * L, axis=0)
        for k in range(3):
            mutants[np.arange(L) * 3 + k, np.arange(L)] = (x0 + 1 + k) % 4
        change = np.abs(model.phi(mutants, positions) - model.phi(x0[None], positions)).max(axis=1)
        moved = np.maximum(moved, change.reshape(L, 3).max(axis=1))
    first, last = span[0] - 1, span[1] - 1
    assert moved[:first].max(initial=0) == 0 and moved[last + 1:].max(initial=0) == 0, name
    reached = np.flatnonzero(moved > 0)
    assert reached[0] - first < 4 and last - reached[-1] < 4, (name, span, reached[[0, -1]] + 1)


@pytest.mark.parametrize("moves", ["metropolis", "heat-bath"])
@pytest.mark.parametrize("name", list(NETWORKS))
def test_windows_step_makes_the_whole_networks_moves(tmp_path, name, moves):
    """The windowed step against the whole network's step on the same draws, for every graph of
    the core's tests: the same distances and decisions at every step, and after 300 steps caches
    equal to the whole network's rows on the final sequences."""
    build, layout, head, units, positions = NETWORKS[name]
    proto = build()
    onnx.save(proto, tmp_path / "net.onnx")
    model = sm.Model(tmp_path / "net.onnx", layout=layout, head=None if head is None else proto.graph.output[head].name)
    L = model.length
    phi_model = model._phi_model(model.positions(positions))
    parts = extract(phi_model, layout, L)
    rows = None if parts.tail else windows.plan(parts, L)
    if rows is None or not any(r.cached for r in rows[1:]):
        # no windows where the core's graph stops before Phi or keeps no rows: the whole network's step
        assert "in windows" not in model.engine(L, "cpu", 1, True, positions, resident=True).path
        assert parts.tail or name == "dense_on_input"
        return
    init = _session(resident.init_model(parts, L))
    step, whole = (_session(resident.step_model(phi_model, layout, p, L, moves)) for p in (parts, None))
    rng = np.random.default_rng(0)
    B = 16
    codes = rng.integers(0, 4, (B, L)).astype(np.uint8)
    x = np.eye(4, dtype=np.float32)[codes]
    filled = _run(init, {"x": x})
    phi = model.phi(codes, positions=positions)
    np.testing.assert_allclose(filled["phi"], phi, rtol=1e-5, atol=1e-5)
    s = np.asarray(model.scale(units, positions=positions), np.float32).reshape(-1)
    d = np.linalg.norm(s * (phi - phi[:1]), axis=1).astype(np.float32)
    mutants = codes.copy()
    mutants[np.arange(B), rng.integers(0, L, B)] ^= 1
    step_size = np.abs(np.linalg.norm(s * (model.phi(mutants, positions=positions) - phi[:1]), axis=1) - d)
    beta = np.full(B, 1.0 / np.median(step_size[step_size > 0]), np.float32)
    state = {"x": x, "d": d, **{k: v for k, v in filled.items() if k.startswith("cache/")}}
    fixed = {"phi0": np.repeat(phi[:1], B, 0).astype(np.float32), "s": s, "w": np.array([0.3, 0, 0, 0.3], np.float32),
             "beta": beta}
    accepted, flipped = 0.0, 0
    for _ in range(300):
        draws = {"pos": rng.integers(0, L, B)}
        draws.update({"u": rng.random(B).astype(np.float32)} if moves == "heat-bath" else
                     {"shift": rng.integers(1, 4, B), "logu": np.log(rng.random(B)).astype(np.float32)})
        a, b = _run(step, {**state, **fixed, **draws}), _run(whole, {"x": state["x"], "d": state["d"], **fixed, **draws})
        same = a["accepted"] == b["accepted"]  # float differences may flip a decision at the boundary
        flipped += int((~same).sum())
        np.testing.assert_allclose(a["d_copy"][same], b["d_copy"][same], rtol=1e-4, atol=1e-5)
        np.testing.assert_array_equal(a["x_next"][same], b["x_next"][same])
        accepted += a["accepted"].mean() / 300
        state = {k: a[k + "_next"] for k in state}
    assert 0.1 < accepted < 0.9 and flipped <= 2
    again = _run(init, {"x": state["x"]})
    for k in state:
        if k.startswith("cache/"):
            np.testing.assert_allclose(state[k], again[k], rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("moves", ["metropolis", "heat-bath"])
@pytest.mark.parametrize("incremental", [True, False], ids=STEP.get)
def test_every_state_is_rewritten_in_place(incremental, moves):
    """The core binds each state tensor S and S_next to one buffer: that is sound because S_next is
    a ScatterND from S itself (ONNX Runtime then skips its copy) and every other reader of S runs
    before it, whatever order ONNX Runtime picks (each is one of its inputs' ancestors)."""
    model = sm.Model("ctcf")
    phi_model = model._phi_model(model.positions())
    parts = extract(phi_model, model.layout, 101) if incremental else None
    step = resident.step_model(phi_model, model.layout, parts, 101, moves)
    outputs = {o.name for o in step.graph.output}
    states = [i.name for i in step.graph.input if i.name + "_next" in outputs]
    assert states[:2] == ["x", "d"] and (len(states) > 2) == incremental
    producer = {out: n for n in step.graph.node for out in n.output}

    def ancestors(node: onnx.NodeProto) -> set[str]:
        seen, todo = set(), list(node.input)
        while todo:
            t = todo.pop()
            if t in producer and producer[t].name not in seen:
                seen.add(producer[t].name)
                todo.extend(producer[t].input)
        return seen

    for name in states:
        writer = producer[name + "_next"]
        assert writer.op_type == "ScatterND" and writer.input[0] == name
        before = ancestors(writer)
        readers = [n.name for n in step.graph.node if name in n.input and n is not writer]
        assert readers and set(readers) <= before


@pytest.mark.parametrize("incremental", [True, False], ids=STEP.get)
@pytest.mark.parametrize("sampler", ["metropolis", "tempering"])
def test_resident_heat_bath_samples_the_exact_distribution(tiny, incremental, sampler):
    rel_beta, mu, units = test_exact.CASES[2]
    beta = test_exact.relative_beta(tiny, units, rel_beta)
    results = test_exact.run(tiny, beta, mu, units, sampler, "heat-bath", resident=True, incremental=incremental)
    evaluation = results[0].params["evaluation"]
    assert evaluation.startswith("resident") and ("in windows" in evaluation) == incremental
    powered = [test_exact.assert_exact(tiny, r, mu, units, test_exact.N_SAMPLES // 3) for r in results]
    assert powered[-1]


@pytest.mark.parametrize("incremental", [True, False], ids=STEP.get)
def test_a_heat_bath_chain_is_the_same_chain_on_every_path(incremental):
    model = sm.Model("ctcf")
    kw = dict(beta=50.0, chains=16, steps=500, period=50, burn_in=0, sampler="metropolis", moves="heat-bath",
              max_rounds=1, seed=5)
    core = sm.sample(model, CTCF_SEQS[:1], **kw)
    resident = sm.sample(model, CTCF_SEQS[:1], resident=True, incremental=incremental, **kw)
    same = (core.samples[0].reshape(16, -1, 101) == resident.samples[0].reshape(16, -1, 101)).all(axis=(1, 2))
    assert same.sum() >= 15
    np.testing.assert_allclose(core.acceptance, resident.acceptance, atol=0.02)
    exact = np.linalg.norm(model.scale() * (model.phi(resident.samples[0]) - model.phi(sm.encode(CTCF_SEQS[:1]))), axis=1)
    np.testing.assert_allclose(resident.distances[0], exact, rtol=1e-4, atol=1e-4)


@pytest.mark.gpu
@pytest.mark.skipif(not has_cuda(), reason="needs a GPU and onnxruntime-gpu (pip install onnxruntime-gpu)")
@pytest.mark.parametrize("moves", ["metropolis", "heat-bath"])
@pytest.mark.parametrize("incremental", [True, False], ids=STEP.get)
def test_gpu_samples_the_exact_distribution(tiny, incremental, moves):
    beta = test_exact.relative_beta(tiny, (1, 0), 3.0)
    (res,) = test_exact.run(tiny, beta, 0.6, (1, 0), "metropolis", moves, provider="cuda", incremental=incremental)
    evaluation = res.params["evaluation"]
    assert evaluation.startswith("resident") and "GPU" in evaluation and ("in windows" in evaluation) == incremental
    assert test_exact.assert_exact(tiny, res, 0.6, (1, 0), test_exact.N_SAMPLES // 3)


@pytest.mark.gpu
@pytest.mark.skipif(not has_cuda(), reason="needs a GPU and onnxruntime-gpu (pip install onnxruntime-gpu)")
def test_gpu_and_cpu_marginals_agree_on_the_ctcf_network():
    model = sm.Model("ctcf")
    kw = dict(beta=50.0, mu=sm.gc_mu(0.42), chains=64, steps=2000, seed=1, max_rounds=1)
    cpu = sm.sample(model, CTCF_SEQS[:2], **kw)
    gpu = sm.sample(model, CTCF_SEQS[:2], provider="cuda", **kw)
    assert np.abs(cpu.marginals() - gpu.marginals()).max() < 0.1
