"""Summaries and convergence diagnostics on cases with known answers."""

from __future__ import annotations

import numpy as np

from seqmaxent.explain import diagnostics, summary


def test_mutual_information_finds_a_coupled_pair():
    rng = np.random.default_rng(0)
    a = rng.integers(0, 4, 20000)
    b = (a + 2 * (rng.random(20000) < 0.5)) % 4  # b is a or a+2: 1 bit about a
    x = np.stack([a, b, rng.integers(0, 4, 20000)], axis=1).astype(np.uint8)
    mi = summary.mutual_information(x)
    np.testing.assert_allclose(np.diag(mi), 2.0, atol=0.01)
    assert abs(mi[0, 1] - 1.0) < 0.01 and mi[0, 2] < 0.01 and np.allclose(mi, mi.T)
    assert summary.top_pairs(mi, 1)[0][:2] == (0, 1)


def test_strongest_pairs_of_a_long_input_in_bounded_memory():
    """A 40,000-position input (a 10-kb one-hot): the coupled pair is found among the moving positions
    without the (4L)^2 table (12 GiB at this length), and constant positions take no part."""
    import tracemalloc

    rng = np.random.default_rng(1)
    x = np.zeros((400, 40_000), np.uint8)
    moving = rng.choice(40_000, 900, replace=False)
    x[:, moving] = rng.integers(0, 4, (400, 900))
    x[:, moving[7]] = (x[:, moving[3]] + 2 * (rng.random(400) < 0.5)) % 4
    tracemalloc.start()
    pairs = summary.strongest_pairs(x, 20)
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert sorted(pairs[0, :2].astype(int).tolist()) == sorted([moving[3], moving[7]]) and pairs[0, 2] > 0.8
    assert peak < 400 * 2**20 and pairs.shape == (20, 3)
    few = summary.strongest_pairs(np.array([[0, 1, 2], [1, 1, 3]], np.uint8), 20)  # 1 pair, then NaN rows
    assert few[0, :2].tolist() == [0, 2] and np.isnan(few[1:]).all()


def test_importance_is_zero_at_the_background_and_maximal_when_fixed():
    bg = summary.background(np.log(0.4 / 0.6), [False, True, True, False])
    np.testing.assert_allclose(bg, [0.3, 0.2, 0.2, 0.3])
    p = np.array([bg, [0.0, 1.0, 0.0, 0.0]])
    np.testing.assert_allclose(summary.importance(p, bg), [0.0, np.log2(1 / 0.2)])
    np.testing.assert_allclose(summary.entropy(np.array([[0.25] * 4, [1.0, 0, 0, 0]])), [2.0, 0.0])


def test_gc_and_retained():
    codes = np.array([[1, 2, 0, 4], [3, 3, 3, 3]], np.uint8)  # C G A N ; T T T T
    np.testing.assert_allclose(summary.gc_content(codes, [False, True, True, False]), [2 / 3, 0.0])
    samples = np.array([[[0, 1], [0, 2], [3, 1], [0, 1]]], np.uint8)
    np.testing.assert_allclose(summary.retained(samples, np.array([[0, 1]], np.uint8)), [[0.75, 0.75]])


def test_rhat_and_ess():
    rng = np.random.default_rng(0)
    iid = rng.normal(size=(4, 1000))
    assert abs(diagnostics.split_rhat(iid) - 1) < 0.01 and diagnostics.ess(iid) > 3000
    ar = np.zeros((4, 1000))
    noise = rng.normal(size=(4, 1000))
    for t in range(1, 1000):
        ar[:, t] = 0.9 * ar[:, t - 1] + noise[:, t]
    assert 100 < diagnostics.ess(ar) < 320  # theory: 4000 (1 - 0.9) / (1 + 0.9) = 210
    stuck = iid + np.arange(4)[:, None]  # chains in different places
    assert diagnostics.split_rhat(stuck) > 1.5 and diagnostics.ess(stuck) < 10
    assert diagnostics.split_rhat(np.ones((4, 100))) == 1.0
    assert diagnostics.advice(1.0, 500, 0.3) is None and "R-hat 1.200" in diagnostics.advice(1.2, 500, 0.3)
    # independent series along leading axes
    both = np.stack([iid, stuck])
    np.testing.assert_allclose(diagnostics.split_rhat(both), [diagnostics.split_rhat(iid), diagnostics.split_rhat(stuck)])


def test_position_diagnostics_in_blocks_and_bounded_memory(monkeypatch):
    """The positions' worst R-hat and least ESS do not depend on how many positions are analysed
    at once, constant positions take no part, and a batch of 16 inputs of 2,114 positions (1,600
    samples each) is analysed in a small part of the ~4 GB that all of them at once would take."""
    import tracemalloc

    rng = np.random.default_rng(2)
    samples = rng.integers(0, 4, (2, 4, 60, 40)).astype(np.uint8)
    samples[:, :, :, :10] = 0  # never changing
    samples[1, :2, :, 20] = 0  # a position stuck in two chains, free in two
    x0 = np.zeros((2, 40), np.uint8)
    distances = rng.random((2, 4, 60))
    monkeypatch.setattr(diagnostics, "POSITIONS_AT_ONCE", 3)
    blocks = diagnostics.measure(samples, x0, distances)
    monkeypatch.setattr(diagnostics, "POSITIONS_AT_ONCE", 1000)
    whole = diagnostics.measure(samples, x0, distances)
    for key in whole:
        np.testing.assert_allclose(blocks[key], whole[key])
    assert whole["rhat_positions"][1] > 1.5 > whole["rhat_positions"][0]
    changing = samples[0, :, :, 10:].transpose(2, 0, 1) == 0
    assert np.isclose(whole["ess_positions"][0], diagnostics.ess(changing).min())
    monkeypatch.undo()
    long = rng.integers(0, 4, (16, 8, 200, 2114)).astype(np.uint8)
    tracemalloc.start()
    diagnostics.measure(long, np.zeros((16, 2114), np.uint8), rng.random((16, 8, 200)))
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    assert peak < 200 * 2**20, peak / 2**20


def test_advice_matches_the_cause():
    """Stuck chains (acceptance near 0, R-hat NaN or infinite) mean beta is too high, not that more
    steps are needed; the run's summary counts inputs by cause."""
    assert "lower beta" in diagnostics.advice(float("nan"), 3.0, 0.0)
    assert "raise beta" in diagnostics.advice(1.3, 50.0, 0.995)
    assert "--max-rounds" in diagnostics.advice(1.3, 50.0, 0.4)
    assert np.isnan(diagnostics.worst(1.01, float("nan"), 300.0, 200.0)[0])  # NaN is the worst R-hat
    line = diagnostics.run_summary([1.0, 1.3, float("nan"), 1.2], [500, 50, 1, 80], [0.3, 0.4, 0.0, 0.5])
    assert line.startswith("3 of 4 inputs did not pass the convergence check")
    assert "1 beta too high" in line and "2 more sampling" in line
    assert diagnostics.run_summary([1.0], [500], [0.3]) is None
