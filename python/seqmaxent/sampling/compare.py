"""Two models compared on one input: what does model B make of model A's equivalence class?

Each model's MaxEnt samples of x0 are the sequences it treats as equivalent to x0. Evaluating
the other model on them asks whether it agrees: the fraction of A's samples that keep B's
verdict on x0 (and the other way round), B's output over A's samples, and per position the
importance (bits) under each model and their difference. Everything is in bits and fractions,
so models whose attributions have different scales (two folds, two cell types) compare directly.
Both models must read the same length and alphabet; they share every sampling option.
"""

from __future__ import annotations

import html
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..network.model import Model
from ..explain.result import Result
from .run import Increments
from .sampler import sample
from ..explain.verdict import MAX_PREDICTED, kept_fraction, verdict


@dataclass(frozen=True)
class Comparison:
    """Models A and B on the same inputs: `results` are each model's own ensembles (A's, B's);
    `kept[0]` is the fraction of A's samples that B still puts in x0's class (B's verdict),
    `kept[1]` of B's samples under A; `cross[0]` B's verdict values over (a subsample of) A's
    samples, `cross[1]` A's over B's."""

    results: tuple[Result, Result]
    kept: np.ndarray  # (2, inputs)
    cross: tuple[np.ndarray, np.ndarray]  # (inputs, samples) each
    labels: tuple[str, str]  # each model's verdict label

    @property
    def names(self) -> list[str]:
        return self.results[0].names or [f"input_{i + 1}" for i in range(self.results[0].n_inputs)]

    def importance(self) -> np.ndarray:
        """(2, inputs, L) bits under A and under B."""
        return np.stack([r.importance() for r in self.results])

    def difference(self) -> np.ndarray:
        """(inputs, L) importance under B minus under A (bits)."""
        imp = self.importance()
        return imp[1] - imp[0]


def _cross(model: Model, samples: np.ndarray, x0_outputs: np.ndarray, options: dict) -> tuple[float, np.ndarray]:
    """The fraction of `samples` that keep x0's class under `model`, and its verdict values over them."""
    units, positions = options.get("units"), options.get("positions")
    kept = kept_fraction(model, samples, x0_outputs, options.get("tolerance"), positions)
    sub = samples[:: max(1, len(samples) // MAX_PREDICTED)]
    values = verdict(model, model.predict_at(sub, positions).reshape(len(sub), -1), units, positions).values
    return kept, values


def compare(model_a: Model | str | Path, model_b: Model | str | Path, sequences,
            progress: Callable[[int], None] | None = None, **options) -> Comparison:
    """Sample each input's ensemble under A and under B (`options` as :func:`seqmaxent.sample`,
    one beta) and evaluate each model on the other's samples; `progress(n)` gets increments of
    replica steps (the two runs' totals at their round cap, as ``steps_at_cap`` counts them)."""
    models = [m if isinstance(m, Model) else Model(m) for m in (model_a, model_b)]
    if models[0].alphabet != models[1].alphabet or models[0].length != models[1].length:
        raise ValueError(f"the models must read the same inputs: {models[0].path} reads {models[0].length} bp of "
                         f"{models[0].alphabet}, {models[1].path} {models[1].length} bp of {models[1].alphabet}")
    results = tuple(sample(m, sequences, progress=Increments(progress), **options) for m in models)
    if isinstance(results[0], list):
        raise ValueError("compare takes one beta")
    kept, cross = np.zeros((2, results[0].n_inputs)), ([], [])
    for k, (res, other, own) in enumerate(((results[0], models[1], results[1]), (results[1], models[0], results[0]))):
        for i in range(res.n_inputs):
            kept[k, i], values = _cross(other, res.samples[i], own.outputs[i], options)
            cross[k].append(values)
    return Comparison(results=results, kept=kept, cross=(np.array(cross[0]), np.array(cross[1])),
                      labels=(results[0].params["verdict"], results[1].params["verdict"]))


def table(c: Comparison, top: int = 5) -> str:
    """One TSV row per input: each verdict on x0, the cross fractions and medians, and the
    positions whose importance differs most (1-based, B minus A in bits)."""
    lines = ["\t".join(["input", "verdict_a", "verdict_b", "b_keeps_a_samples", "a_keeps_b_samples",
                        "b_median_on_a_samples", "a_median_on_b_samples", "most_different_positions"])]
    diff = c.difference()
    for i, name in enumerate(c.names):
        order = np.argsort(-np.abs(diff[i]))[:top]
        lines.append("\t".join([name, f"{c.results[0].prediction[i]:.4g}", f"{c.results[1].prediction[i]:.4g}",
                                f"{c.kept[0, i]:.3g}", f"{c.kept[1, i]:.3g}", f"{np.median(c.cross[0][i]):.4g}",
                                f"{np.median(c.cross[1][i]):.4g}",
                                ",".join(f"{p + 1}:{diff[i, p]:+.2f}" for p in order)]))
    return "\n".join(lines) + "\n"


def page(c: Comparison, path: str | Path, model_names: tuple[str, str]) -> Path:
    """An HTML page: per input, the two information logos stacked on the same axes and the
    importance difference, with the positions that differ most."""
    from ..explain import logos
    from ..explain.report import STYLE, _png, _table

    plt = logos._pyplot()
    a, b = (html.escape(n) for n in model_names)
    header, *rows = [line.split("\t") for line in table(c).splitlines()]
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>seqmaxent compare</title><style>{STYLE}</style>"
             f"</head><body><h1>{a} (A) against {b} (B)</h1><p class='answer'>B still calls x0's class in a median "
             f"{np.median(c.kept[0]):.0%} of A's samples; A in {np.median(c.kept[1]):.0%} of B's.</p><p>Each model's "
             f"maximum-entropy samples of each input, and each model on the other's samples: the fraction it still "
             f"calls x0's class, its median output there, and the positions whose importance (bits) differs most, "
             f"B minus A (positions from 1). Verdicts: {html.escape(c.labels[0])} (A), {html.escape(c.labels[1])} (B).</p>"
             + _table([h.replace("_", " ") for h in header], [[html.escape(v) for v in r] for r in rows])]
    diff = c.difference()
    for i, name in enumerate(c.names):
        L = c.results[0].length
        fig, axes = plt.subplots(3, 1, figsize=(max(6.0, L * 0.14), 5.0), sharex=True)
        for ax, res, label in zip(axes, c.results, ("A: " + model_names[0], "B: " + model_names[1])):
            logos.plot_logo(res, input=i, ax=ax)
            ax.set_title(label, fontsize=8, loc="left")
        axes[2].bar(np.arange(L), diff[i], color=np.where(diff[i] > 0, "#c0392b", "#2c7fb8"))
        axes[2].axhline(0, color="black", lw=0.5)
        axes[2].set_ylabel("B - A (bits)")
        fig.suptitle(f"{name}: B keeps {c.kept[0, i]:.0%} of A's samples in x0's class, A keeps {c.kept[1, i]:.0%} "
                     f"of B's", fontsize=9)
        fig.tight_layout()
        parts.append(f"<h3>{html.escape(name)}</h3><img src='{_png(fig)}'>")
    Path(path).write_text("".join(parts) + "</body></html>")
    return Path(path)
