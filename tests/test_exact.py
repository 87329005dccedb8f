"""The gold standard: on a model small enough to enumerate all 4^L sequences, the sampled
distribution matches the exact P(x) ~ exp(-beta d(x) + mu N_C(x))."""

from __future__ import annotations

import numpy as np
import pytest

import seqmaxent as sm
from conftest import all_sequences, state_index

CHAINS, STEPS, PERIOD, BURN_IN = 100, 10_000, 10, 200
N_SAMPLES = CHAINS * STEPS // PERIOD


def exact(model: sm.Model, x0: np.ndarray, beta: float, mu: float, units, constrained: str = "GC") -> np.ndarray:
    """P over all 4^L sequences, computed with onnxruntime's Python API and numpy only."""
    states = all_sequences(model.length)
    s = model.scale(units)
    d = np.linalg.norm(s * (model.phi(states) - model.phi(x0[None])), axis=1)
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


@pytest.mark.parametrize("incremental", [True, False], ids=["incremental", "full"])
@pytest.mark.parametrize("rel_beta,mu,units", CASES)
def test_sampled_distribution_matches_exact(tiny, incremental, rel_beta, mu, units):
    x0 = np.array([2, 1, 3, 0], dtype=np.uint8)  # GCTA
    states = all_sequences(tiny.length)
    d_all = np.linalg.norm(tiny.scale(units) * (tiny.phi(states) - tiny.phi(x0[None])), axis=1)
    beta = rel_beta / d_all.std()
    p = exact(tiny, x0, beta, mu, units)
    res = sm.sample(tiny, sm.decode(x0[None]), beta=beta, mu=mu, units=units, chains=CHAINS, steps=STEPS,
                    period=PERIOD, burn_in=BURN_IN, seed=7, threads=2, incremental=incremental)
    assert res.samples.shape == (1, N_SAMPLES, 4)
    # Kept samples are 10 steps (2.5 sweeps of the 4 positions) apart, so successive ones are
    # correlated: the bound allows a 3-fold loss of effective sample size (observed TVs sit
    # near the bound for independent draws, about 0.55 of this one).
    bound = tv_bound(p, N_SAMPLES // 3, np.random.default_rng(0))
    observed = tv(res.samples[0], p)
    assert observed < bound, f"TV {observed:.4f} >= bound {bound:.4f}"
    # The test has power: the same samples are rejected as draws from a law whose beta is 25%
    # off, or whose mu is 0.25 off.
    for wrong_beta, wrong_mu in ((beta * 1.25, mu), (beta, mu - 0.25)):
        assert tv(res.samples[0], exact(tiny, x0, wrong_beta, wrong_mu, units)) > bound
