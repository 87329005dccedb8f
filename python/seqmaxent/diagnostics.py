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


def advice(rhat: float, ess_value: float) -> str | None:
    """What to do when the chains have not mixed, or None when they have."""
    problems = []
    if not rhat <= RHAT_LIMIT:
        problems.append(f"R-hat {rhat:.3f} > {RHAT_LIMIT}")
    if not ess_value >= MIN_ESS:
        problems.append(f"effective sample size {ess_value:.0f} < {MIN_ESS}")
    if not problems:
        return None
    return ", ".join(problems) + ": run more steps (or a burn-in) or more chains before trusting the marginals"
