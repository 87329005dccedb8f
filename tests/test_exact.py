"""The gold standard: on a model small enough to enumerate all 4^L sequences, the sampled
distribution matches the exact P(x) ~ exp(-beta d(x) + mu N_C(x))."""

from __future__ import annotations

import numpy as np
import pytest

import seqmaxent as sm
from conftest import all_sequences, state_index

CHAINS, STEPS, PERIOD, BURN_IN = 100, 10_000, 10, 200
N_SAMPLES = CHAINS * STEPS // PERIOD


def exact(model: sm.Model, x0: np.ndarray, beta: float, mu: float, units, constrained: str = "GC",
          positions=None) -> np.ndarray:
    """P over all 4^L sequences, computed with onnxruntime's Python API and numpy only."""
    states = all_sequences(model.length)
    s = model.scale(units, positions)
    d = np.linalg.norm(s * (model.phi(states, positions) - model.phi(x0[None], positions)), axis=1)
    n_c = np.isin(np.array(list(model.alphabet))[states], list(constrained)).sum(axis=1)
    logp = -beta * d + mu * n_c
    p = np.exp(logp - logp.max())
    return p / p.sum()


def tv_bound(p: np.ndarray, n_eff: int, rng: np.random.Generator) -> float:
    """99.9th percentile of the total-variation distance of n_eff independent draws from p."""
    draws = rng.multinomial(n_eff, p, size=2000) / n_eff
    return float(np.quantile(0.5 * np.abs(draws - p).sum(axis=1), 0.999))


def tv(samples: np.ndarray, p: np.ndarray) -> float:
    freq = np.bincount(state_index(samples), minlength=p.size) / len(samples)
    return 0.5 * float(np.abs(freq - p).sum())


# (beta in units of 1/std(d), mu, units): weak and strong constraints, GC pressure both ways.
CASES = [(1.0, 0.0, (1, 0)), (4.0, 0.0, (1, 0)), (2.0, 0.8, (1, 0)), (3.0, -1.0, 1), (2.0, 0.5, (0, 1))]
SAMPLERS = [("metropolis", "metropolis"), ("metropolis", "heat-bath"), ("tempering", "metropolis"),
            ("tempering", "heat-bath")]
X0 = np.array([2, 1, 3, 0], dtype=np.uint8)  # GCTA


def relative_beta(model: sm.Model, units, rel_beta: float, positions=None, x0: np.ndarray = X0) -> float:
    states = all_sequences(model.length)
    d_all = np.linalg.norm(model.scale(units, positions) * (model.phi(states, positions) - model.phi(x0[None], positions)),
                           axis=1)
    return rel_beta / d_all.std()


def run(model, beta, mu, units, sampler, moves, steps=STEPS, **kw) -> list[sm.Result]:
    """One result per rung (tempering: 4 rungs over a factor of 10) or the single beta."""
    res = sm.sample(model, sm.decode(X0[None]), beta=beta, mu=mu, units=units, sampler=sampler, moves=moves, rungs=4,
                    keep_ladder=True, chains=CHAINS, steps=steps, period=PERIOD, burn_in=BURN_IN, max_rounds=1, seed=7,
                    threads=2, **kw)
    return res


def assert_exact(model, res: sm.Result, mu, units, n_eff: int, positions=None, x0: np.ndarray = X0) -> bool:
    beta = res.params["beta"]
    p = exact(model, x0, beta, mu, units, positions=positions)
    bound = tv_bound(p, n_eff, np.random.default_rng(0))
    observed = tv(res.samples[0], p)
    assert observed < bound, f"beta {beta:.3g}: TV {observed:.4f} >= bound {bound:.4f}"
    # The test has power: the same samples are rejected as draws from a law whose beta is 25%
    # off, or whose mu is 0.25 off, wherever that law differs from the true one by more than twice
    # the bound (near beta 0 a 25% change of beta hardly moves the law); returns whether it did.
    checked = False
    for wrong_beta, wrong_mu in ((beta * 1.25, mu), (beta, mu - 0.25)):
        q = exact(model, x0, wrong_beta, wrong_mu, units, positions=positions)
        if 0.5 * np.abs(q - p).sum() > 2 * bound:
            assert tv(res.samples[0], q) > bound, f"no power at beta {beta:.3g}"
            checked = True
    return checked


@pytest.mark.parametrize("incremental", [True, False], ids=["incremental", "full"])
@pytest.mark.parametrize("rel_beta,mu,units", CASES)
def test_sampled_distribution_matches_exact(tiny, incremental, rel_beta, mu, units):
    beta = relative_beta(tiny, units, rel_beta)
    (res,) = run(tiny, beta, mu, units, "metropolis", "metropolis", incremental=incremental)
    assert res.samples.shape == (1, N_SAMPLES, 4)
    # Kept samples are 10 steps (2.5 sweeps of the 4 positions) apart, so successive ones are
    # correlated: the bound allows a 3-fold loss of effective sample size (observed TVs sit
    # near the bound for independent draws, about 0.55 of this one).
    assert assert_exact(tiny, res, mu, units, N_SAMPLES // 3)


@pytest.mark.parametrize("sampler,moves", SAMPLERS[1:])
@pytest.mark.parametrize("rel_beta,mu,units", [CASES[1], CASES[3], CASES[4]])
def test_every_sampler_and_rung_matches_exact(tiny, sampler, moves, rel_beta, mu, units):
    """Heat-bath updates, and every rung of a replica-exchange ladder, sample their own beta exactly."""
    beta = relative_beta(tiny, units, rel_beta)
    results = run(tiny, beta, mu, units, sampler, moves)
    assert [r.params["beta"] for r in results][-1] == pytest.approx(beta)
    assert len(results) == (4 if sampler == "tempering" else 1)
    powered = [assert_exact(tiny, res, mu, units, N_SAMPLES // 3) for res in results]
    assert powered[-1]  # at least at the target beta
    if sampler == "tempering":  # neighbours overlap: swaps happen, but not always
        assert 0.2 < results[0].swap_acceptance.min() and results[0].swap_acceptance.max() < 0.99


@pytest.mark.parametrize("sampler,moves", SAMPLERS)
def test_error_shrinks_with_more_samples(tiny, sampler, moves):
    """Unbiased: 20 times the samples shrink the TV distance about 4.5-fold (at least 2-fold), as
    for independent draws; a biased sampler's error would level off at its bias."""
    beta, mu, units = relative_beta(tiny, (1, 0), 3.0), 0.6, (1, 0)
    p = exact(tiny, X0, beta, mu, units)
    short, long = (tv(run(tiny, beta, mu, units, sampler, moves, steps=n)[-1].samples[0], p) for n in (STEPS // 20, STEPS))
    assert long < 0.5 * short, f"TV {short:.4f} -> {long:.4f}"


def test_tuned_ladder_samples_its_target_exactly(tiny):
    """Ladder tuning ends before the kept samples: the target rung stays exact."""
    beta, mu, units = relative_beta(tiny, (1, 0), 3.0), 0.6, (1, 0)
    res = sm.sample(tiny, sm.decode(X0[None]), beta=beta, mu=mu, units=units, rungs=6, chains=CHAINS, steps=STEPS,
                    period=PERIOD, burn_in=400, max_rounds=1, seed=3, threads=2)
    assert not np.allclose(res.ladders[0], res.params["ladder"])
    assert assert_exact(tiny, res, mu, units, N_SAMPLES // 3)


@pytest.mark.parametrize("incremental", [True, False], ids=["incremental", "full"])
@pytest.mark.parametrize("sampler", ["metropolis", "tempering"])
@pytest.mark.parametrize("units,positions", [(0, [2, 4]), ((0, 1), 3)])
def test_per_position_head_matches_exact(tmp_path_factory, incremental, sampler, units, positions):
    """A head applied at every position, explained at one or two output positions: Phi stacks the
    windows the head reads there; every rung samples its own beta exactly, through a residual tower."""
    import onnx

    import graphs

    path = tmp_path_factory.mktemp("profile") / "tiny_profile.onnx"
    onnx.save(graphs.tiny_profile(), path)
    model = sm.Model(path, layout="NCL")
    x0 = np.array([2, 1, 3, 0, 1], dtype=np.uint8)
    if incremental:
        assert model.engine(5, "cpu", 2, True, positions).path.startswith("incremental")
    beta = relative_beta(model, units, 3.0, positions, x0)
    results = sm.sample(model, sm.decode(x0[None]), beta=beta, mu=0.4, units=units, positions=positions, sampler=sampler,
                        rungs=3, keep_ladder=True, chains=CHAINS, steps=STEPS, period=PERIOD, burn_in=BURN_IN,
                        max_rounds=1, seed=11, threads=2, incremental=incremental)
    assert [r.params["positions"] for r in results][-1] == ([positions] if isinstance(positions, int) else positions)
    powered = [assert_exact(model, res, 0.4, units, N_SAMPLES // 3, positions, x0) for res in results]
    assert powered[-1]


@pytest.mark.parametrize("resident", [False, True], ids=["core", "resident"])
@pytest.mark.parametrize("sampler,moves", SAMPLERS)
def test_a_region_samples_the_exact_law_with_the_rest_held(tiny, sampler, moves, resident):
    """Region 2-3 (1-based): positions 1 and 4 keep x0's bases in every sample, importance 0 there,
    and positions 2-3 follow the exact law conditioned on them (GC counted as everywhere)."""
    units, mu = (1, 0), 0.5
    results = run(tiny, relative_beta(tiny, units, 3.0), mu, units, sampler, moves, region="2-3", resident=resident)
    held = (all_sequences(tiny.length)[:, [0, 3]] == X0[[0, 3]]).all(axis=1)
    for r in results:
        assert r.params["region"] == "2-3" and r.region.tolist() == [False, True, True, False]
        assert (r.samples[0][:, [0, 3]] == X0[[0, 3]]).all() and (r.importance()[0, [0, 3]] == 0).all()
        p = exact(tiny, X0, r.params["beta"], mu, units) * held
        p /= p.sum()
        bound = tv_bound(p, N_SAMPLES // 3, np.random.default_rng(0))
        assert tv(r.samples[0], p) < bound, f"beta {r.params['beta']:.3g}"
        whole = exact(tiny, X0, r.params["beta"], mu, units)  # the law without the region: far from it
        assert 0.5 * np.abs(whole - p).sum() > 2 * bound and tv(r.samples[0], whole) > bound
