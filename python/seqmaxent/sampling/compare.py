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
    """Models A and B on the same inputs; every pair is (A's, B's). `kept[0]` is the fraction of
    A's samples that B still puts in x0's class (B's verdict), `kept[1]` of B's samples under A;
    `cross[0]` B's verdict values over (a subsample of) A's samples, `cross[1]` A's over B's;
    `prediction` each model's verdict value on x0; `marginals` and `importance` (bits) each
    model's own ensembles. `results` are those ensembles when sampled here (None when read from
    results files)."""

    names: list[str]
    labels: tuple[str, str]  # each model's verdict label
    prediction: np.ndarray  # (2, inputs)
    kept: np.ndarray  # (2, inputs)
    cross: tuple[np.ndarray, np.ndarray]  # (inputs, samples) each
    marginals: np.ndarray  # (2, inputs, L, 4)
    importance: np.ndarray  # (2, inputs, L) bits
    background: np.ndarray  # (4,) the samples' beta = 0 base frequencies
    alphabet: str
    results: tuple[Result, Result] | None = None

    def difference(self) -> np.ndarray:
        """(inputs, L) importance under B minus under A (bits)."""
        return self.importance[1] - self.importance[0]


def _agreement(models: list[Model], samples: tuple, outputs: tuple, options: dict) -> tuple[np.ndarray, tuple]:
    """kept (2, inputs) and cross values of each model's samples (inputs, S, L) under the other
    model, against the sampling model's outputs on x0 (inputs, outputs)."""
    units, positions = options.get("units"), options.get("positions")
    kept, cross = np.zeros((2, len(samples[0]))), ([], [])
    for k, other in enumerate((models[1], models[0])):
        for i, (own, x0_outputs) in enumerate(zip(samples[k], outputs[k])):
            kept[k, i] = kept_fraction(other, own, x0_outputs, options.get("tolerance"), positions)
            sub = own[:: max(1, len(own) // MAX_PREDICTED)]
            cross[k].append(verdict(other, other.predict_at(sub, positions).reshape(len(sub), -1), units, positions).values)
    return kept, (np.array(cross[0]), np.array(cross[1]))


def models_of(model_a: Model | str | Path, model_b: Model | str | Path) -> list[Model]:
    """Both models, opened, after checking that they read the same inputs: one alphabet, and one
    length where both fix it."""
    models = [m if isinstance(m, Model) else Model(m) for m in (model_a, model_b)]
    lengths = [m.length for m in models]
    if models[0].alphabet != models[1].alphabet or (None not in lengths and lengths[0] != lengths[1]):
        reads = [f"{m.path} reads {'any length' if m.length is None else f'{m.length} bp'} of {m.alphabet}"
                 for m in models]
        raise ValueError(f"the models must read the same inputs: {reads[0]}, {reads[1]}")
    return models


def compare(model_a: Model | str | Path, model_b: Model | str | Path, sequences,
            progress: Callable[[int], None] | None = None, **options) -> Comparison:
    """Sample each input's ensemble under A and under B (`options` as :func:`seqmaxent.sample`,
    one beta) and evaluate each model on the other's samples; `progress(n)` gets increments of
    replica steps (the two runs' totals at their round cap, as ``steps_at_cap`` counts them).
    :func:`compare_file` does the same for an input file, streamed into results files."""
    models = models_of(model_a, model_b)
    results = tuple(sample(m, sequences, progress=Increments(progress), **options) for m in models)
    if isinstance(results[0], list):
        raise ValueError("compare takes one beta")
    kept, cross = _agreement(models, (results[0].samples, results[1].samples),
                             (results[0].outputs, results[1].outputs), options)
    return Comparison(names=results[0].names or [f"input_{i + 1}" for i in range(results[0].n_inputs)],
                      labels=(results[0].params["verdict"], results[1].params["verdict"]),
                      prediction=np.stack([r.prediction for r in results]), kept=kept, cross=cross,
                      marginals=np.stack([r.marginals() for r in results]),
                      importance=np.stack([r.importance() for r in results]), background=results[0].background(),
                      alphabet=results[0].alphabet, results=results)


def sample_paths(output: str | Path) -> tuple[Path, Path]:
    """Where :func:`compare_file` keeps each model's samples: OUTPUT.a.h5 and OUTPUT.b.h5."""
    output = Path(output)
    return tuple(output.with_name(f"{output.stem}.{k}.h5") for k in "ab")


def _read(models: list[Model], paths: tuple[Path, Path], rows: list[int], options: dict) -> Comparison:
    """The comparison of inputs `rows` (indices into both files, which hold the same names) of
    two results files."""
    from ..io.store import load

    opened = [load(p) for p in paths]
    try:
        (params, names, _), h5s = opened[0], [h5 for _, _, h5 in opened]

        def take(key: str) -> list[np.ndarray]:
            return [h5[key][rows] for h5 in h5s]

        kept, cross = _agreement(models, tuple(take("samples")), tuple(take("outputs")), options)
        return Comparison(names=[names[i] for i in rows], labels=(params["verdict"], opened[1][0]["verdict"]),
                          prediction=np.stack(take("prediction")), kept=kept, cross=cross,
                          marginals=np.stack(take("marginals")), importance=np.stack(take("importance")),
                          background=Result.background_of(params, params["alphabet"]), alphabet=params["alphabet"])
    finally:
        for _, _, h5 in opened:
            h5.close()


def compare_file(model_a: Model | str | Path, model_b: Model | str | Path, input_path: str | Path,
                 output: str | Path, *, batch_size: int = 64, resume: bool = False, overwrite: bool = False,
                 progress: Callable[[int], None] | None = None, on_compared: Callable[[int], None] | None = None,
                 page_inputs: int = 20, **options) -> list[Path]:
    """:func:`compare` on every input of a file, streamed. Each model's samples go to results
    files (:func:`sample_paths`, through :func:`seqmaxent.sample_file`: written batch by batch,
    resumable), then the cross evaluations, a few inputs at a time, to `output` (HDF5: per input
    its name, each model's prediction on x0, the kept fractions, the median cross values and each
    model's importance) and OUTPUT.tsv (:func:`table`), each appearing whole when done, and the
    first `page_inputs` inputs to the page OUTPUT.html. Returns those three files and the two
    results files. `progress(n)` gets increments of replica steps, `on_compared(n)` of inputs."""
    import json

    import h5py

    from ..io.store import header, replacing
    from .pipeline import sample_file

    models = models_of(model_a, model_b)
    paths = sample_paths(output)
    for model, path in zip(models, paths):
        sample_file(model, input_path, path, batch_size=batch_size, resume=resume, overwrite=overwrite,
                    progress=progress, **options)
    (params, names), (other, names_b) = header(paths[0]), header(paths[1])
    if names != names_b:
        raise ValueError(f"{paths[0]} and {paths[1]} hold different inputs; sample both again with --force")
    output = Path(output)
    tsv, html_path = output.with_suffix(".tsv"), output.with_suffix(".html")
    step = max(1, min(batch_size, 8))  # each input's samples of both models are in memory at once
    with replacing(output) as tmp_h5, replacing(tsv) as tmp_tsv, h5py.File(tmp_h5, "w") as out, open(tmp_tsv, "w") as text:
        out.attrs["params"] = json.dumps(dict(model_a=str(models[0].path), model_b=str(models[1].path),
                                              samples=[str(p) for p in paths], input=str(input_path),
                                              verdicts=[params["verdict"], other["verdict"]],
                                              alphabet=models[0].alphabet))
        for start in range(0, len(names), step):
            c = _read(models, paths, list(range(start, min(start + step, len(names)))), options)
            rows = table(c)
            text.write(rows if start == 0 else rows.split("\n", 1)[1])
            for key, values in (("names", np.array(c.names, dtype=h5py.string_dtype())),
                                ("prediction", c.prediction.T), ("kept", c.kept.T),
                                ("cross_median", np.array([np.median(x, axis=1) for x in c.cross]).T),
                                ("importance", c.importance.transpose(1, 0, 2).astype(np.float32))):
                _extend(out, key, values)
            if on_compared is not None:
                on_compared(len(c.names))
    first = _read(models, paths, list(range(min(page_inputs, len(names)))), options)
    page(first, html_path, tuple(Path(str(m.path)).name for m in models), total=len(names))
    return [output, tsv, html_path, *paths]


def _extend(h5, key: str, values: np.ndarray) -> None:
    """Append rows to dataset `key` of `h5`, created on the first call."""
    if key not in h5:
        h5.create_dataset(key, data=values, maxshape=(None, *values.shape[1:]), chunks=True)
        return
    data = h5[key]
    data.resize(len(data) + len(values), axis=0)
    data[-len(values):] = values


def table(c: Comparison, top: int = 5) -> str:
    """One TSV row per input: each verdict on x0, the cross fractions and medians, and the
    positions whose importance differs most (1-based, B minus A in bits)."""
    lines = ["\t".join(["input", "verdict_a", "verdict_b", "b_keeps_a_samples", "a_keeps_b_samples",
                        "b_median_on_a_samples", "a_median_on_b_samples", "most_different_positions"])]
    diff = c.difference()
    for i, name in enumerate(c.names):
        order = np.argsort(-np.abs(diff[i]))[:top]
        lines.append("\t".join([name, f"{c.prediction[0, i]:.4g}", f"{c.prediction[1, i]:.4g}",
                                f"{c.kept[0, i]:.3g}", f"{c.kept[1, i]:.3g}", f"{np.median(c.cross[0][i]):.4g}",
                                f"{np.median(c.cross[1][i]):.4g}",
                                ",".join(f"{p + 1}:{diff[i, p]:+.2f}" for p in order)]))
    return "\n".join(lines) + "\n"


def page(c: Comparison, path: str | Path, model_names: tuple[str, str], total: int | None = None) -> Path:
    """An HTML page: per input, the two information logos stacked on the same axes and the
    importance difference, with the positions that differ most. `total`: the inputs compared in
    all, when `c` holds only the first of them."""
    from ..explain import logos
    from ..explain.report import STYLE, _png, _table

    plt = logos._pyplot()
    a, b = (html.escape(n) for n in model_names)
    header, *rows = [line.split("\t") for line in table(c).splitlines()]
    total = total or len(c.names)
    shown = "" if total == len(c.names) else (f" The first {len(c.names)} of {total} inputs are shown; the TSV beside "
                                              f"this page has every input.")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>seqmaxent compare</title><style>{STYLE}</style>"
             f"</head><body><h1>{a} (A) against {b} (B)</h1><p class='answer'>B still calls x0's class in a median "
             f"{np.median(c.kept[0]):.0%} of A's samples; A in {np.median(c.kept[1]):.0%} of B's.</p><p>Each model's "
             f"maximum-entropy samples of each input, and each model on the other's samples: the fraction it still "
             f"calls x0's class, its median output there, and the positions whose importance (bits) differs most, "
             f"B minus A (positions from 1). Verdicts: {html.escape(c.labels[0])} (A), {html.escape(c.labels[1])} (B)."
             f"{shown}</p>" + _table([h.replace("_", " ") for h in header], [[html.escape(v) for v in r] for r in rows])]
    diff = c.difference()
    for i, name in enumerate(c.names):
        L = c.marginals.shape[2]
        fig, axes = plt.subplots(3, 1, figsize=(max(6.0, L * 0.14), 5.0), sharex=True)
        for k, (ax, label) in enumerate(zip(axes, ("A: " + model_names[0], "B: " + model_names[1]))):
            logos.plot_logo(c.marginals[k, i], c.alphabet, c.background, ax=ax)
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
