"""The network's own verdict on an input: the explained output of x0 (a class probability, a
logit or a value) and whether the network calls x0 the explained class; and how often the
samples keep that call."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..network.model import Model

MAX_PREDICTED = 200  # samples per input run through the whole network


@dataclass(frozen=True)
class Verdict:
    label: str  # what the values are, e.g. "P(bound)" or "logit of 'counts'"
    values: np.ndarray  # (inputs,) the explained output of each x0 (mean over the chosen positions)
    called: np.ndarray | None  # (inputs,) the network calls x0 the explained class; None for a value


def unit_name(model: Model, k: int) -> str:
    """A unit's class name; else the output's name for a one-unit head, else "unit k"."""
    names = model.class_names
    if names and k < len(names):
        return names[k]
    return repr(model.head_name) if model.head is not None and model.head.n_units == 1 else f"unit {k}"


def _classes(model: Model) -> bool:
    """Whether the head's units are classes (a per-unit softmax or sigmoids)."""
    head = model.head
    return head is not None and (head.softmax_over == "units" or head.activation == "Sigmoid")


def label(model: Model, units, positions) -> str:
    """What the verdict's values are: "P(bound)", "logit of unit 0 (mean of 11 output positions)"..."""
    chosen = model.units(units)
    if chosen is None:
        return f"output {model.head_name!r}"
    where = model.positions(positions)
    at = "" if where is None or model.n_positions == 1 else (
        f" at output position {where[0] + 1}" if len(where) == 1 else f" (mean of {len(where)} output positions)")
    k = chosen[0]
    if _classes(model):
        return f"P({unit_name(model, k)}){at}"
    if len(chosen) == 2:
        return f"logit({unit_name(model, k)}) - logit({unit_name(model, chosen[1])}){at}"
    return f"{'logit' if model.head.softmax_over == 'positions' else 'value'} of {unit_name(model, k)}{at}"


def verdict(model: Model, outputs: np.ndarray, units, positions) -> Verdict:
    """The verdict from x0's outputs (inputs, positions x units), as ``Result.outputs`` holds them."""
    chosen = model.units(units)
    n = len(outputs)
    text = label(model, units, positions)
    if chosen is None:
        return Verdict(text, outputs.reshape(n, -1).mean(axis=1), None)
    where = model.positions(positions)
    out = np.asarray(outputs, float).reshape(n, 1 if where is None else len(where), model.head.n_units)
    k = chosen[0]
    if _classes(model):
        if model.head.activation == "Sigmoid":
            called = (out[:, :, k] > 0.5).all(axis=1)
        else:
            called = (out.argmax(axis=2) == k).all(axis=1)
        return Verdict(text, out[:, :, k].mean(axis=1), called)
    if len(chosen) == 2:  # logits of a pair: the network's call is the larger one
        diff = out[:, :, k] - out[:, :, chosen[1]]
        return Verdict(text, diff.mean(axis=1), (diff > 0).all(axis=1))
    return Verdict(text, out[:, :, k].mean(axis=1), None)


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
