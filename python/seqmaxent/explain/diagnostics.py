"""Convergence diagnostics across chains: split R-hat and effective sample size (ESS).

Both take draws shaped (..., chains, draws) and reduce the last two axes; leading axes (inputs,
positions) are independent series. Definitions follow Gelman et al., Bayesian Data Analysis
(3rd ed.), with Geyer's initial monotone sequence for the ESS.
"""

from __future__ import annotations

import numpy as np

RHAT_LIMIT = 1.05
MIN_ESS = 100  # marginals from 100 effective samples carry a standard error of at most 0.05


def _split(x: np.ndarray) -> np.ndarray:
    n = x.shape[-1] // 2
    return np.concatenate([x[..., :n], x[..., x.shape[-1] - n :]], axis=-2)


def split_rhat(x: np.ndarray) -> np.ndarray:
    """Potential scale reduction of each series; 1 for a constant series, NaN with < 4 draws."""
    x = _split(np.asarray(x, float))
    n = x.shape[-1]
    if n < 2:
        return np.full(x.shape[:-2], np.nan)
    w = x.var(axis=-1, ddof=1).mean(axis=-1)
    b = n * x.mean(axis=-1).var(axis=-1, ddof=1)
    var_plus = (n - 1) / n * w + b / n
    with np.errstate(divide="ignore", invalid="ignore"):
        r = np.sqrt(var_plus / w)
    return np.where(var_plus == 0, 1.0, r)


def ess(x: np.ndarray) -> np.ndarray:
    """Effective number of independent draws of each series (at most chains x draws)."""
    x = np.asarray(x, float)
    m, n = x.shape[-2], x.shape[-1]
    if n < 4:
        return np.full(x.shape[:-2], np.nan)
    centred = x - x.mean(axis=-1, keepdims=True)
    f = np.fft.rfft(centred, n=2 * n, axis=-1)
    acov = np.fft.irfft(f * np.conj(f), axis=-1)[..., :n] / n  # (..., m, n) per-chain autocovariance
    w = x.var(axis=-1, ddof=1).mean(axis=-1)
    var_plus = (n - 1) / n * w + x.mean(axis=-1).var(axis=-1, ddof=1) if m > 1 else (n - 1) / n * w
    with np.errstate(divide="ignore", invalid="ignore"):
        rho = 1.0 - (w[..., None] - acov.mean(axis=-2)) / var_plus[..., None]
    pairs = rho[..., : n // 2 * 2].reshape(*rho.shape[:-1], n // 2, 2).sum(axis=-1)
    keep = np.cumprod(pairs > 0, axis=-1).astype(bool)  # initial positive sequence
    pairs = np.minimum.accumulate(np.where(keep, pairs, np.inf), axis=-1)  # made monotone
    tau = -1.0 + 2.0 * np.where(keep, pairs, 0.0).sum(axis=-1)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.minimum(m * n / tau, m * n)
    return np.where(var_plus == 0, float(m * n), out)


POSITIONS_AT_ONCE = 64  # positions whose indicators are analysed together: bounds memory on long inputs


def measure(samples: np.ndarray, x0: np.ndarray, distances: np.ndarray) -> dict[str, np.ndarray]:
    """Per input: split R-hat and ESS of d, and the worst split R-hat and smallest ESS of the
    per-position indicator "x0's base retained" over the positions that change. samples: (inputs,
    chains, draws, L), x0: (inputs, L), distances: (inputs, chains, draws). Input by input and
    :data:`POSITIONS_AT_ONCE` changing positions at a time, so memory follows that block, not
    the batch or the input length."""
    n = len(samples)
    worst_rhat, least_ess = np.ones(n), np.full(n, float(samples.shape[1] * samples.shape[2]))
    for i in range(n):
        indicator = samples[i] == x0[i]  # (chains, draws, L)
        flat = indicator.reshape(-1, indicator.shape[-1])
        changing = np.flatnonzero(flat.any(axis=0) & ~flat.all(axis=0))
        for start in range(0, len(changing), POSITIONS_AT_ONCE):
            block = indicator[:, :, changing[start:start + POSITIONS_AT_ONCE]].transpose(2, 0, 1)
            worst_rhat[i] = np.maximum(worst_rhat[i], np.max(split_rhat(block)))  # NaN (too few draws) propagates
            least_ess[i] = np.minimum(least_ess[i], np.min(ess(block)))
    return {"rhat": split_rhat(distances), "ess": ess(distances), "rhat_positions": worst_rhat,
            "ess_positions": least_ess}


def check(samples: np.ndarray, x0: np.ndarray, distances: np.ndarray, min_ess: float = MIN_ESS) -> np.ndarray:
    """Which inputs' chains pass: every R-hat of :func:`measure` <= RHAT_LIMIT, every ESS >= min_ess."""
    m = measure(samples, x0, distances)
    return ((np.maximum(m["rhat"], m["rhat_positions"]) <= RHAT_LIMIT)
            & (np.minimum(m["ess"], m["ess_positions"]) >= min_ess))


LOW_ACCEPTANCE, HIGH_ACCEPTANCE = 0.02, 0.98


def worst(rhat: float, rhat_positions: float, ess_d: float, ess_positions: float) -> tuple[float, float]:
    """The R-hat and ESS the convergence check uses: the worst over d and every changing position."""
    return max(rhat, rhat_positions, key=lambda r: np.inf if np.isnan(r) else r), min(ess_d, ess_positions)


def checked(h5, i: int) -> tuple[float, float]:
    """Input i's R-hat and ESS in a results file, as the convergence check sees them."""
    return worst(*(float(h5[k][i]) for k in ("rhat", "rhat_positions", "ess", "ess_positions")))


def cause(rhat: float, ess_value: float, acceptance: float) -> str | None:
    """Why an input's samples fail the check (None when they pass): "beta too high" (almost
    nothing is accepted), "beta too low" (almost everything is), or "more sampling"."""
    if rhat <= RHAT_LIMIT and ess_value >= MIN_ESS:
        return None
    if acceptance < LOW_ACCEPTANCE:
        return "beta too high"
    if acceptance > HIGH_ACCEPTANCE:
        return "beta too low"
    return "more sampling"


ADVICE = {
    "beta too high": "almost no change is accepted, so the chains cannot move: lower beta",
    "beta too low": "almost every change is accepted, so the network constrains little: raise beta",
    "more sampling": "the chains have not mixed: allow more rounds (--max-rounds, each doubles the cap) or chains",
}


def advice(rhat: float, ess_value: float, acceptance: float) -> str | None:
    """What to do when an input's samples fail the check, or None when they pass."""
    why = cause(rhat, ess_value, acceptance)
    if why is None:
        return None
    return (f"R-hat {rhat:.3f} (limit {RHAT_LIMIT}), ESS {ess_value:.0f} (at least {MIN_ESS}), acceptance "
            f"{acceptance:.3f}: {ADVICE[why]}")


def run_summary(rhat: np.ndarray, ess_value: np.ndarray, acceptance: np.ndarray) -> str | None:
    """One line on the inputs of a run that fail the check, by cause; None if all pass."""
    causes = [cause(r, e, a) for r, e, a in zip(rhat, ess_value, acceptance)]
    failed = [c for c in causes if c is not None]
    if not failed:
        return None
    counts = ", ".join(f"{failed.count(c)} {c} ({ADVICE[c].split(': ')[-1]})" for c in ADVICE if c in failed)
    return (f"{len(failed)} of {len(causes)} inputs did not pass the convergence check (R-hat <= {RHAT_LIMIT}, "
            f"ESS >= {MIN_ESS} for d and every changing position): {counts}")


def describe_sampler(params: dict) -> str:
    """One line on how a results file was sampled, from its parameters."""
    ladder = params.get("ladder") or [params["beta"]]
    tuned = ", tuned per input" if params.get("adapt", True) else ""
    how = (f"replica exchange, {len(ladder)} rungs from beta {ladder[0]:.3g} to {ladder[-1]:.3g}{tuned}"
           if params.get("sampler") == "tempering" and len(ladder) > 1 else "independent chains")
    return (f"{how}, {params.get('moves', 'metropolis')} site updates, {params['chains']} chains x "
            f"{params['steps']} steps in the first round (burn-in {params['burn_in']}), "
            f"up to {params.get('max_rounds', 1)} rounds"
            + (f"; only positions {params['region']} (1-based) changed, the rest held at x0" if params.get("region") else ""))
