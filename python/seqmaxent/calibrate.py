"""Choosing beta: the smallest beta at which the samples keep what the network says about x0."""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from .model import Model
from .sampling import sample

MAX_PREDICTED = 200  # samples per input run through the whole network


def kept_fraction(model: Model, samples: np.ndarray, x0_output: np.ndarray, tolerance: float | None = None,
                  positions=None) -> float:
    """Fraction of (a subsample of) samples (S, L) that the network puts in x0's class at every
    chosen position (`x0_output`: (positions x units) outputs of x0, as ``Result.outputs``): the
    same argmax over several units, the same side of 0.5 for one sigmoid unit; for a regression
    output (or a profile's logits), within `tolerance` of x0's values (NaN without one)."""
    sub = samples[:: max(1, len(samples) // MAX_PREDICTED)]
    out = model.predict_at(sub, positions)  # (S, positions, units)
    ref = np.asarray(x0_output).reshape(out.shape[1:])
    classes = model.head is not None and model.head.softmax_over != "positions"
    if out.shape[2] >= 2 and classes:
        return float((out.argmax(axis=2) == ref.argmax(axis=1)).all(axis=1).mean())
    if out.shape[2] == 1 and classes and model.head.activation == "Sigmoid":
        return float(((out[:, :, 0] > 0.5) == (ref[:, 0] > 0.5)).all(axis=1).mean())
    if tolerance is None:
        return float("nan")
    return float((np.abs(out - ref) <= tolerance).all(axis=(1, 2)).mean())


@dataclass
class Calibration:
    beta: float
    target: float
    history: list[tuple[float, float]] = field(default_factory=list)  # (beta, kept fraction) tried

    def __str__(self) -> str:
        tried = ", ".join(f"{b:.3g}: {k:.3f}" for b, k in sorted(self.history))
        return f"beta = {self.beta:.3g} keeps x0's prediction in >= {self.target:.0%} of pilot samples (tried {tried})"


def choose_beta(model: Model, sequences, target: float = 0.95, tolerance: float | None = None,
                low: float = 1.0, high: float = 2000.0, rounds: int = 8, max_inputs: int = 8,
                chains: int = 4, steps: int = 2000, period: int = 20, seed: int = 0, **options) -> Calibration:
    """Bisect log(beta) in [low, high] for the smallest beta whose pilot samples keep x0's predicted
    class (or stay within `tolerance` of a regression output) with frequency >= target, on up to
    `max_inputs` of the sequences. Other options (mu, units, sampler, ...) go to :func:`sample`;
    each pilot is one round of the sampler the run will use."""
    if not 0 < target < 1:
        raise ValueError(f"target must be between 0 and 1, not {target}")
    subset = [sequences] if isinstance(sequences, str) else sequences[:max_inputs]

    def kept(beta: float) -> float:
        res = sample(model, subset, beta=beta, chains=chains, steps=steps, period=period, seed=seed, max_rounds=1,
                     **options)
        values = [kept_fraction(model, res.samples[i], res.outputs[i], tolerance, options.get("positions"))
                  for i in range(res.n_inputs)]
        if any(math.isnan(v) for v in values):
            raise ValueError("the model's output is a regression value: give a tolerance to choose beta")
        return float(np.mean(values))

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
