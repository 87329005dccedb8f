"""Replica-exchange ladders: which betas a run samples at, and tuning their spacing."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np


def make_ladder(betas: Sequence[float], rungs: int = 8, span: float = 10.0) -> list[float]:
    """A replica-exchange ladder: `rungs` betas spaced geometrically from min(betas) / span to
    max(betas), with every requested beta added. Neighbouring rungs must overlap for swaps to be
    accepted; 8 rungs over a factor of 10 suit the networks tried so far."""
    top, positive = max(betas), [b for b in betas if b > 0]
    if not positive or rungs < 2:
        return sorted(set(betas))
    ladder = np.geomspace(min(positive) / span, top, rungs).tolist()
    for b in betas:
        if not any(math.isclose(b, x, rel_tol=1e-9) for x in ladder):
            ladder.append(b)
    return sorted(ladder)


TUNING_STREAM = 1 << 20  # random-stream rounds of the ladder-tuning segments (sampling rounds count from 0)


def adapt_segments(burn_in: int) -> list[int]:
    """Steps of the ladder-tuning segments at the start of burn-in: 1/8, 1/8 and 1/4 of it (half of
    the burn-in then runs on the tuned ladder); none for a burn-in too short to measure swaps."""
    return [burn_in // 8, burn_in // 8, burn_in // 4] if burn_in >= 64 else []


def respace(ladder: np.ndarray, rejection: np.ndarray, pinned: list[int]) -> np.ndarray:
    """The ladder with its free rungs moved so that, between each two pinned rungs, neighbour
    pairs share the measured swap rejection evenly: the cumulative rejection (the communication
    barrier of Syed et al. 2021) is interpolated in log beta and cut into equal steps."""
    x = np.log(ladder) if ladder[0] > 0 else np.asarray(ladder, float)
    barrier = np.concatenate([[0.0], np.cumsum(np.maximum(rejection, 1e-3))])
    new = np.array(ladder, float)
    for a, b in zip(pinned[:-1], pinned[1:]):
        if b - a > 1:
            cut = np.interp(np.linspace(barrier[a], barrier[b], b - a + 1), barrier[a : b + 1], x[a : b + 1])
            new[a + 1 : b] = (np.exp(cut) if ladder[0] > 0 else cut)[1:-1]
    return new


def tune(ladder: np.ndarray, rejection: np.ndarray, pinned: list[int]) -> np.ndarray:
    """One tuning step: half-way (in log beta) from `ladder` to :func:`respace`'s ladder; the
    barrier measured on one ladder is a coarse guide to the next."""
    target = respace(ladder, rejection, pinned)
    return np.sqrt(ladder * target) if ladder[0] > 0 else (ladder + target) / 2


def run_ladder(betas: Sequence[float], sampler: str, rungs: int, ladder: Sequence[float] | None) -> list[float]:
    """The betas a run samples at: the requested ones for the paper's sampler, else `ladder`
    (which must contain them) or :func:`make_ladder`."""
    if sampler == "metropolis":
        return sorted(set(betas))
    if ladder is None:
        return make_ladder(betas, rungs)
    run = sorted(float(b) for b in ladder)
    missing = [b for b in betas if not any(math.isclose(b, x, rel_tol=1e-9) for x in run)]
    if missing or len(set(run)) < len(run):
        raise ValueError(f"ladder must be distinct betas including every requested beta (missing {missing})")
    return run


def swap_attempts(steps: int, every: int, rungs: int) -> np.ndarray:
    """Swap attempts of each neighbour pair (r, r + 1) in a run of `steps` steps: swap event e
    (1, 2, ...) tries the pairs whose r has the parity of e."""
    events = steps // every
    r = np.arange(max(rungs - 1, 0))
    return np.where(r % 2 == 0, events // 2, (events + 1) // 2)
