"""Properties of the sampler: limits in beta, reproducibility, results, cancellation."""

from __future__ import annotations

import numpy as np
import pytest

import seqmaxent as sm
from seqmaxent.explain import diagnostics
from conftest import model_path

SEQS = ["ACGTACGTTTGACCAGTACGGATC", "GGGGCCCCAAAATTTTACGTACGT"]


@pytest.fixture(scope="module")
def model() -> sm.Model:
    return sm.Model(model_path("gemm_softmax_ncl"))


@pytest.mark.parametrize("mu", [0.0, 0.8, -1.2])
def test_beta_zero_gives_the_mu_background(model, mu):
    res = sm.sample(model, SEQS, beta=0.0, mu=mu, chains=40, steps=4000, period=20, burn_in=400, seed=1)
    gc = np.exp(mu) / (1 + np.exp(mu))
    expected = np.array([(1 - gc) / 2, gc / 2, gc / 2, (1 - gc) / 2])  # A C G T
    n = res.samples.shape[1]
    sd = np.sqrt(expected * (1 - expected) / n)
    # every position of every input, within 5 binomial SDs at a 4-fold effective-size loss
    assert np.all(np.abs(res.marginals() - expected) < 5 * 2 * sd)
    np.testing.assert_allclose(res.marginals().mean(axis=(0, 1)), expected, atol=0.01)
    assert res.acceptance.min() > 0.2


def test_gc_mu_matches_a_genome_fraction():
    assert sm.gc_mu(0.5) == 0.0
    assert np.isclose(np.exp(sm.gc_mu(0.38)) / (1 + np.exp(sm.gc_mu(0.38))), 0.38)
    with pytest.raises(ValueError):
        sm.gc_mu(1.0)


@pytest.mark.parametrize("incremental", [True, False], ids=["incremental", "full"])
def test_very_large_beta_keeps_x0(model, incremental):
    res = sm.sample(model, SEQS, beta=1e7, chains=8, steps=2000, period=100, incremental=incremental)
    x0 = sm.encode(SEQS)
    assert (res.samples == x0[:, None, :]).all(axis=2).mean() > 0.99
    assert res.distances.max() < 1e-5
    assert res.entropy().max() < 0.2


@pytest.mark.parametrize("incremental", [True, False], ids=["incremental", "full"])
def test_same_seed_same_samples_for_any_thread_count(model, incremental):
    kw = dict(beta=5.0, mu=0.3, chains=37, steps=500, period=50, seed=11, incremental=incremental)
    one = sm.sample(model, SEQS, threads=1, **kw)
    two = sm.sample(model, SEQS, threads=2, **kw)
    np.testing.assert_array_equal(one.samples, two.samples)
    np.testing.assert_array_equal(one.distances, two.distances)
    np.testing.assert_array_equal(one.acceptance, two.acceptance)
    other = sm.sample(model, SEQS, threads=2, **{**kw, "seed": 12})
    assert not np.array_equal(one.samples, other.samples)


def test_result_shapes_and_summaries(model):
    res = sm.sample(model, SEQS, beta=3.0, chains=5, steps=600, period=30, burn_in=100, names=["a", "b"])
    assert res.samples.shape == (2, 5 * 20, 24) and res.samples.dtype == np.uint8
    assert res.distances.shape == (2, 100) and res.acceptance.shape == (2, 5)
    assert res.outputs.shape == (2, 2) and res.phi0.shape == (2, model.phi_dim)
    np.testing.assert_array_equal(res.x0, sm.encode(SEQS))
    np.testing.assert_allclose(res.marginals().sum(axis=-1), 1.0)
    h = res.entropy()
    assert h.shape == (2, 24) and (h >= 0).all() and (h <= 2 + 1e-12).all()
    assert ((res.acceptance >= 0) & (res.acceptance <= 1)).all()
    assert len(res.sequences(1)) == 100 and res.names == ["a", "b"]
    assert res.params["beta"] == 3.0 and res.params["model_sha256"] == model.sha256
    assert res.params["units"] == (1, 0)
    assert "2 input(s)" in repr(res)


def test_each_chain_starts_from_its_own_input(model):
    """Chains are grouped by input: with x0 kept, input i's samples are all x0[i]."""
    res = sm.sample(model, SEQS, beta=1e7, chains=3, steps=100, period=50)
    assert res.sequences(0) == [SEQS[0]] * 6 and res.sequences(1) == [SEQS[1]] * 6


def test_one_hot_input_equals_string_input(model):
    x = np.eye(4, dtype=np.float32)[sm.encode(SEQS)]
    a = sm.sample(model, SEQS, beta=2.0, chains=2, steps=200, period=100)
    b = sm.sample(model, x, beta=2.0, chains=2, steps=200, period=100)
    np.testing.assert_array_equal(a.samples, b.samples)


def test_interrupt_cancels_and_leaves_the_interpreter_usable(model):
    calls = []

    def progress(done, total):
        calls.append((done, total))
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sm.sample(model, SEQS * 50, beta=1.0, chains=50, steps=100_000, period=100, burn_in=0, progress=progress)
    assert calls and calls[0][1] == 100 * 50 * 8 * 100_000 * 2 ** 3  # inputs x chains x rungs x steps at the cap
    res = sm.sample(model, SEQS, beta=1.0, chains=2, steps=100, period=50)
    assert res.samples.shape == (2, 4, 24)


def test_progress_reaches_the_total(model):
    seen = []
    sm.sample(model, SEQS, beta=1.0, chains=4, steps=20_000, period=100, progress=lambda d, t: seen.append((d, t)))
    assert seen and all(d <= t for d, t in seen)


@pytest.mark.parametrize("incremental", [True, False], ids=["incremental", "full"])
def test_frozen_n_positions_never_change(model, incremental):
    seq = "ACGTNNACGTTTGACCAGTANNNN"
    res = sm.sample(model, [seq, SEQS[0]], beta=0.0, chains=4, steps=2000, period=100, on_n="freeze",
                    incremental=incremental)
    n_pos = [i for i, b in enumerate(seq) if b == "N"]
    assert all(s[i] == "N" for s in res.sequences(0) for i in n_pos)
    assert res.entropy()[0, n_pos].max() == 0 and res.entropy()[0, 0] > 1.5  # other positions move freely
    # Phi at x0 treats N as an all-zero one-hot row, as onnxruntime does
    np.testing.assert_allclose(res.phi0[0], model.phi(sm.encode([seq], on_n="freeze"))[0], rtol=1e-5, atol=1e-6)
    expected = np.linalg.norm(model.scale() * (model.phi(res.samples[0]) - res.phi0[0]), axis=1)
    np.testing.assert_allclose(res.distances[0], expected, rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("region", ["3-5,20-24", range(3, 6), [(20, 24), (3, 5)]], ids=["text", "range", "pairs"])
def test_a_region_changes_only_its_positions(model, region):
    """Only the region changes (with N frozen inside it); it is recorded canonically (1-based)."""
    seq = "ACNTACGTTTGACCAGTACGNATC"
    res = sm.sample(model, [seq], beta=0.0, chains=4, steps=2000, period=100, region=region, on_n="freeze")
    inside = np.zeros(24, bool)
    inside[[2, 3, 4, 19, 20, 21, 22, 23] if not isinstance(region, range) else [2, 3, 4]] = True
    moved = np.array([[s[p] != seq[p] for p in range(24)] for s in res.sequences(0)]).any(axis=0)
    assert (moved == (inside & (np.array(list(seq)) != "N"))).all()
    assert res.params["region"] == ("3-5" if isinstance(region, range) else "3-5,20-24")
    assert (res.importance()[0, ~inside] == 0).all() and "only positions 3-5" in diagnostics.describe_sampler(res.params)


@pytest.mark.parametrize("region,message", [("0-4", "outside the input's positions 1-24"), ("5-3", "first position comes after the last"),
                                            ("3-25", "outside"), ("a-b", "not a 1-based position"),
                                            (range(3, 9, 2), "step 1"), ("3", None)])
def test_bad_regions_are_named(model, region, message):
    if message is None:  # a single position is a region
        res = sm.sample(model, [SEQS[0]], beta=0.0, chains=2, steps=200, period=100, region=region)
        assert {s[2] for s in res.sequences(0)} != {SEQS[0][2]} and res.params["region"] == "3"
        return
    with pytest.raises(ValueError, match=message):
        sm.sample(model, [SEQS[0]], beta=1.0, chains=2, steps=100, period=50, region=region)


def test_default_steps_follow_the_positions_proposed():
    """4,400 steps per 101 positions proposed, at least 4,400: a region's count, not the input's."""
    from seqmaxent.sampling.settings import Settings, default_steps

    assert default_steps(24) == default_steps(101) == 4400 and default_steps(300) == 13_200
    assert Settings(beta=1.0).sized(10_001).steps == 436_000
    s = Settings(beta=1.0, region="4901-5100").sized(10_001)
    assert (s.steps, s.burn_in, s.steps // s.period) == (8800, 2200, 200)
    assert Settings(beta=1.0, steps=1000, region="4901-5100").sized(10_001).steps == 1000  # given: kept


def test_a_long_input_runs_and_records_its_region_sized_steps(tmp_path):
    """sample() and sample_file() (a model of any length: the file's first sequence sizes the run)
    run and record the steps of the region's 300 positions, whatever the input's length."""
    import h5py
    import json

    model, seq = sm.Model(model_path("any_length")), "ACGTTGCA" * 75  # 600 bp
    options = dict(beta=1.0, sampler="metropolis", chains=1, max_rounds=1, region="101-400")
    res = sm.sample(model, [seq], **options)
    assert res.params["steps"] == 13_200 and res.evaluations[0] == 13_200 + 3300
    (tmp_path / "in.fa").write_text(f">a\n{seq}\n")
    sm.sample_file(model, tmp_path / "in.fa", tmp_path / "o.h5", **options)
    with h5py.File(tmp_path / "o.h5") as h5:
        params = json.loads(h5.attrs["params"])
        assert (params["steps"], params["burn_in"]) == (13_200, 3300) and (h5["samples"][:] == res.samples).all()


def test_a_region_of_only_n_is_refused(model):
    with pytest.raises(ValueError, match="all N in the region"):
        sm.sample(model, ["ACNNACGTTTGACCAGTACGGATC"], beta=1.0, chains=2, steps=100, period=50, region="3-4",
                  on_n="freeze")


def test_rounds_stop_when_the_diagnostics_pass(model):
    """At beta 0 one round passes; with too few samples for min_ess every round runs, each as long
    as all before it, and the samples keep their number."""
    easy = sm.sample(model, SEQS, beta=0.0, chains=8, steps=2000, period=20, burn_in=200, max_rounds=3)
    assert easy.converged.all() and (easy.rounds == 1).all()
    assert (easy.evaluations == 8 * (200 + 2000)).all()  # beta 0 needs no ladder: one rung
    hard = sm.sample(model, SEQS, beta=2.0, chains=8, steps=200, period=20, burn_in=50, max_rounds=3, min_ess=1e9)
    assert not hard.converged.any() and (hard.rounds == 3).all()
    rungs = len(hard.params["ladder"])
    assert rungs == 8 and (hard.evaluations == 8 * rungs * (50 + 200 + 200 + 400)).all()
    assert hard.samples.shape == (2, 8 * 10, 24)
    # the samples span the whole run evenly, one every 80 steps after 3 rounds: the first round
    # is the same run as alone, and the last sample (step 800) is far from it
    one = sm.sample(model, SEQS, beta=2.0, chains=8, steps=200, period=20, burn_in=50, max_rounds=1)
    per_chain = hard.samples.reshape(2, 8, 10, 24)
    assert (per_chain[:, :, 1] == one.samples.reshape(2, 8, 10, 24)[:, :, 7]).all()  # step 160
    assert (per_chain[:, :, -1] != per_chain[:, :, 1]).any(axis=-1).mean() > 0.5


def test_replica_exchange_records_its_ladder_and_swaps(model):
    res = sm.sample(model, SEQS, beta=4.0, chains=4, steps=400, period=20, max_rounds=1, adapt=False)
    ladder = res.params["ladder"]
    assert res.params["sampler"] == "tempering" and len(ladder) == 8
    np.testing.assert_allclose([ladder[0], ladder[-1]], [0.4, 4.0])
    assert np.all(np.diff(ladder) > 0) and res.params["beta"] == 4.0
    assert res.swap_acceptance.shape == (2, 7)
    assert ((res.swap_acceptance > 0) & (res.swap_acceptance <= 1)).all()
    every = sm.sample(model, SEQS, beta=4.0, chains=4, steps=400, period=20, max_rounds=1, keep_ladder=True)
    assert [r.params["beta"] for r in every] == pytest.approx(ladder)
    np.testing.assert_array_equal(every[-1].samples, res.samples)  # the same run, more rungs kept
    # rungs nearer beta 0 move more
    assert every[0].acceptance.mean() > every[-1].acceptance.mean()
    np.testing.assert_array_equal(res.ladders, [ladder, ladder])


def test_respace_evens_out_swap_rejection():
    from seqmaxent.sampling.ladder import respace

    ladder = np.geomspace(1.0, 100.0, 6)
    np.testing.assert_allclose(respace(ladder, np.full(5, 0.3), [0, 5]), ladder)  # already even
    steep = respace(ladder, np.array([0.1, 0.1, 0.1, 0.1, 0.9]), [0, 5])  # most rejection at the top
    assert steep[0] == 1.0 and steep[-1] == 100.0 and np.all(np.diff(steep) > 0)
    assert steep[-2] > ladder[-2] and steep[1] > ladder[1]  # rungs crowd towards the top
    pinned = respace(ladder, np.array([0.1, 0.1, 0.9, 0.1, 0.1]), [0, 2, 5])
    assert pinned[2] == ladder[2]  # a kept rung stays where it is


def test_adapted_ladders_keep_the_kept_betas(model):
    res = sm.sample(model, SEQS, beta=[2.0, 8.0], chains=4, steps=800, period=20, burn_in=400, max_rounds=1)
    for r in res:
        assert r.ladders.shape == (2, len(r.params["ladder"]))
        assert (r.ladders[:, 0] == r.params["ladder"][0]).all()
        assert (np.isclose(r.ladders, 2.0, rtol=0, atol=0).sum(axis=1) == 1).all()
        assert (r.ladders[:, -1] == 8.0).all() and (np.diff(r.ladders, axis=1) > 0).all()
    assert not np.allclose(res[0].ladders, res[0].params["ladder"])  # tuned: free rungs moved


def test_a_beta_sweep_is_one_ladder(model):
    low, high = sm.sample(model, SEQS, beta=[1.0, 200.0], chains=4, steps=400, period=20, max_rounds=1)
    assert (low.params["beta"], high.params["beta"]) == (1.0, 200.0)
    assert low.params["ladder"] == high.params["ladder"] and {1.0, 200.0} <= set(low.params["ladder"])
    assert low.entropy().mean() > high.entropy().mean() + 0.05  # the high beta fixes what the low one frees
    with pytest.raises(ValueError, match="ladder must"):
        sm.sample(model, SEQS, beta=8.0, ladder=[1.0, 2.0, 4.0])
    with pytest.raises(ValueError, match="steps / period must be even"):
        sm.sample(model, SEQS, beta=8.0, steps=300, period=100)


@pytest.mark.parametrize("sampler", ["metropolis", "tempering"])
def test_one_chain_of_one_input(model, sampler):
    """One input, one chain (and with metropolis one rung): the start state is the caller's own array, never
    a read-only view ('assignment destination is read-only' before)."""
    res = sm.sample(model, [SEQS[0]], beta=1.0, chains=1, steps=200, period=20, sampler=sampler, max_rounds=2)
    assert res.samples.shape == (1, 10, 24) and res.rounds[0] >= 1
