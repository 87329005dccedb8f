"""Choosing beta: the smallest beta at which the samples keep what the network says about x0."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from ..explain.verdict import kept_fraction
from ..network.model import Model
from .run import run, to_codes
from .settings import Settings

# the options of a run that its pilots share (the rest are the pilots' own)
PILOT_OPTIONS = ("mu", "units", "positions", "region", "constrained", "sampler", "moves", "rungs", "threads",
                 "provider", "incremental")

@dataclass
class Calibration:
    beta: float
    target: float
    history: list[tuple[float, float]] = field(default_factory=list)  # (beta, kept fraction) tried

    def __str__(self) -> str:
        tried = ", ".join(f"{b:.3g}: {k:.3f}" for b, k in sorted(self.history))
        return f"beta = {self.beta:.3g} keeps x0's prediction in >= {self.target:.0%} of pilot samples (tried {tried})"


def pilot_size(chains: int, steps: int | None) -> dict:
    """A pilot's chains, steps and period for a run of `chains` x `steps` (None: the default):
    at most 4 x 2,000."""
    pilot_steps = max(100, min(steps or 2000, 2000) // 100 * 100)
    return {"chains": min(chains, 4), "steps": pilot_steps, "period": pilot_steps // 100}


def calibrate_beta(model: Model, sequences, target: float = 0.95, tolerance: float | None = None,
                low: float = 1.0, high: float = 2000.0, rounds: int = 8, max_inputs: int = 8,
                chains: int = 4, steps: int = 2000, period: int = 20, seed: int = 0, **options) -> Calibration:
    """Bisect log(beta) in [low, high] for the smallest beta whose pilot samples keep x0's predicted
    class (or stay within `tolerance` of a regression output) with frequency >= target, on up to
    `max_inputs` of the sequences. Other options (mu, units, sampler, ..., on_n, names) are
    :func:`seqmaxent.sample`'s;
    each pilot is one round of the sampler the run will use, `chains` x `steps` (every `period`
    kept)."""
    if not 0 < target < 1:
        raise ValueError(f"target must be between 0 and 1, not {target}")
    subset = [sequences] if isinstance(sequences, str) else sequences[:max_inputs]
    names = options.pop("names", None)
    names = None if names is None else list(names)[:len(subset)]
    codes = to_codes(model, subset, names, options.pop("on_n", "fail"))
    if tolerance is None:  # a value, not a class: say so before any pilot runs
        output = model.predict_at(codes[:1], options.get("positions")).reshape(-1)
        if math.isnan(kept_fraction(model, codes[:1], output, None, options.get("positions"))):
            raise ValueError("the explained output is a value, not a class: give a tolerance (the change of it that "
                             "samples may show; --tolerance) to choose beta")

    def kept(beta: float) -> float:
        res = run(model, codes, Settings(beta=beta, chains=chains, steps=steps, period=period, seed=seed,
                                         max_rounds=1, tolerance=tolerance, **options), names)
        if np.isnan(res.kept_class).any():
            raise ValueError(f"the explained output ({res.params['verdict']}) is a value, not a class: give a "
                             f"tolerance (the change of it that samples may show) to choose beta")
        return float(res.kept_class.mean())

    cal = Calibration(beta=high, target=target)
    lo, hi = math.log(low), math.log(high)
    cal.history.append((high, kept(high)))
    if cal.history[-1][1] < target:
        cal.beta = high  # even the largest beta tried does not reach the target: report it as is
        return cal
    for _ in range(rounds):
        mid = math.exp((lo + hi) / 2)
        cal.history.append((mid, kept(mid)))
        if cal.history[-1][1] >= target:
            hi = math.log(mid)
        else:
            lo = math.log(mid)
    cal.beta = math.exp(hi)
    return cal
