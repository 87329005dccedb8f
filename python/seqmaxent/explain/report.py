"""One self-contained HTML report (images embedded) of one results file, or of a beta sweep.

The answer comes first: the run in one paragraph, the consensus motifs beside the JASPAR motifs
they match, and a table of every input with the network's own verdict on it and what the samples
kept; then each input's logos (found motifs marked), then the detailed diagnostics and settings.
"""

from __future__ import annotations

import base64
import html
import io
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import __version__
from . import logos, motifs
from .diagnostics import advice, checked, describe_sampler, run_summary
from ..formatting import position_runs, short
from ..io.sequences import constrained_mask
from ..io.store import load
from .summary import background

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1800px; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f3f3f3; }
td.name, th.name { text-align: left; } .warn { color: #a40; } img { max-width: 100%; }
.figure { margin: 0.5em 0 1.5em 0; } .caption { font-size: 0.85em; color: #555; }
.motif { display: flex; gap: 1.5em; align-items: flex-start; flex-wrap: wrap; margin: 0.5em 0 1.5em 0; }
tr.flag td { background: #fff3e0; } .answer { font-size: 1.05em; }
"""
SORTS = ("input", "prediction", "importance")


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _table(header: list[str], rows: list[list], name_columns: int = 1, flags: list[bool] | None = None) -> str:
    head = "".join(f"<th class='name'>{h}</th>" if i < name_columns else f"<th>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        ("<tr class='flag'>" if flags and flags[k] else "<tr>")
        + "".join(f"<td class='name'>{c}</td>" if i < name_columns else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>" for k, r in enumerate(rows))
    return f"<table><tr>{head}</tr>{body}</table>"


def _order(h5, names: list[str], sort: str) -> list[int]:
    if sort not in SORTS:
        raise ValueError(f"sort must be one of {', '.join(SORTS)}, not {sort!r}")
    if sort == "prediction":
        return list(np.argsort(-np.nan_to_num(h5["prediction"][:], nan=-np.inf), kind="stable"))
    if sort == "importance":
        return list(np.argsort(-h5["importance"][:].max(axis=1), kind="stable"))
    return list(range(len(names)))


def build(results: list[str | Path], output: str | Path, max_inputs: int = 20, match: bool = True,
          sort: str = "input", progress: Callable[[int], None] | None = None,
          variants: list[dict] | None = None) -> Path:
    """Write the report of one or more results files (several: a beta sweep over the same inputs);
    inputs in input order, by prediction or by largest importance (`sort`). `progress(n)` is called
    as inputs are drawn. `variants` (rows of :func:`seqmaxent.explain.variants.score_variants`) are marked
    on their inputs' logos and listed under them."""
    if match:
        motifs.warm_up()  # compiles Tomtom while the logos are drawn
    runs = []
    try:
        for path in results:
            runs.append(load(path))
            if runs[-1][1] != runs[0][1] or not np.array_equal(runs[-1][2]["x0"][:], runs[0][2]["x0"][:]):
                raise ValueError(f"{path} holds other inputs than {results[0]}; a report of several files is a beta "
                                 f"sweep over the same inputs")
        runs.sort(key=lambda r: r[0]["beta"])
        return _write(runs, Path(output), max_inputs, match, sort, progress or (lambda n: None), variants or [])
    finally:
        for _, _, h5 in runs:
            h5.close()


def _motifs(names: list[str], h5, alphabet: str) -> tuple[list[motifs.Motif], dict[int, list[motifs.Motif]], list[str]]:
    """Every input's motifs, by input, and the inputs too frozen to call any."""
    by_input, frozen = {}, []
    for i, name in enumerate(names):
        if motifs.frozen(h5["importance"][i]):
            frozen.append(name)
        by_input[i] = motifs.extract(name, h5["marginals"][i], h5["importance"][i], alphabet)
    return [m for ms in by_input.values() for m in ms], by_input, frozen


def _variants_table(rows: list[dict]) -> str:
    """The scored variants of one input (the first run's samples as the null)."""
    cells = [[html.escape(str(r["variant"])), str(r["position"]), html.escape(f"{r['ref']}>{r['alt']}"),
              *([f"{r['d']:.3g}", f"{r['tail_probability']:.3g} ({r['tail_low']:.2g}-{r['tail_high']:.2g})",
                 f"{r['output_change']:+.3g}", f"{r['importance_bits']:.2f}"] if r["status"] == "ok"
                else [html.escape(r["status"]), "", "", ""])] for r in rows]
    return _table(["variant", "position", "change", "d", "tail probability (95%)", "output change", "bits"], cells)


def _write(runs, output: Path, max_inputs: int, match: bool, sort: str, progress, variants: list[dict]) -> Path:
    first, full_names, _ = runs[0]
    names = [short(n) for n in full_names]  # full names stay in the results file
    alphabet = first["alphabet"]
    bg = background(first["mu"], constrained_mask(first["constrained"], alphabet))
    label = first.get("verdict", "prediction")
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>seqmaxent report</title><style>{STYLE}</style>"
             "</head><body>", "<h1>seqmaxent report</h1>",
             "<p>Maximum-entropy samples of sequences the network represents like each input (Finnegan &amp; Song "
             "2017). Positions the network relies on stay fixed (high importance, in bits); the others drift to the "
             "background. Positions are numbered from 1.</p>"]
    targets = motifs.jaspar() if match else None
    per_run = []
    for params, _, h5 in runs:
        found, by_input, frozen = _motifs(names, h5, alphabet)
        consensus = motifs.aggregate(found)
        per_run.append((params, h5, by_input, frozen, consensus))
    # -- the answer -----------------------------------------------------------------------------
    parts.append("<h2>Summary</h2>")
    for params, h5, by_input, frozen, consensus in per_run:
        beta = params["beta"]
        called = h5["called"][:]
        pred = h5["prediction"][:]
        not_called = int((called == 0).sum())
        rhat_ess = [checked(h5, i) for i in range(len(names))]
        summary = run_summary([r for r, _ in rhat_ess], [e for _, e in rhat_ess], h5["acceptance"][:].mean(axis=1))
        text = (f"<p class='answer'><b>beta {beta:g}</b>: {len(names)} input(s) of {html.escape(first['input'])} "
                f"explained through {html.escape(str(first.get('head')))} ({html.escape(label)}: "
                f"{np.nanmin(pred):.3g} to {np.nanmax(pred):.3g}). "
                + (f"Only positions {html.escape(first['region'])} were sampled; the rest held each input's bases. "
                   if first.get("region") else "")
                + (f"The explained output positions {position_runs(first['positions'])} read input positions "
                   f"{html.escape(first['reads'])}; no other position can change them. "
                   if first.get("reads") and first.get("positions") else "")
                + f"{len(consensus)} consensus motif(s) in &ge; 2 inputs. ")
        if not_called:
            text += f"<span class='warn'>The network does not call {not_called} input(s) the explained class.</span> "
        text += (f"<span class='warn'>{html.escape(summary)}.</span>" if summary else
                 "Every input passed the convergence check.") + "</p>"
        if frozen:
            text += (f"<p class='warn'>No motifs are called from {len(frozen)} input(s) with most positions fixed "
                     f"({html.escape(', '.join(frozen[:5]))}{', ...' if len(frozen) > 5 else ''}): at this beta the "
                     f"network keeps whole sequences, so their segments are not motifs; lower beta.</p>")
        parts.append(text)
        matches = motifs.match(consensus, targets, top=3) if match and consensus else [[] for _ in consensus]
        for m, best in zip(consensus, matches):
            blocks = [f"<div><b>{html.escape(m.name)}</b> ({m.sites} sites, {m.consensus})<br>"
                      f"<img alt='motif {html.escape(m.name)}' src='{_png(logos.pwm_figure(m.pwm))}'></div>"]
            if best:
                top = best[0]
                blocks.append(f"<div><b>JASPAR {top.target_id} {html.escape(top.target_name)}</b> (strand "
                              f"{top.strand}, p {top.p_value:.2g}, q {top.q_value:.2g})<br><img alt='JASPAR "
                              f"{top.target_id}' src='{_png(logos.pwm_figure(top.pwm))}'></div>")
                rows = [[x.target_id, html.escape(x.target_name), f"{x.p_value:.2g}", f"{x.q_value:.2g}", x.strand]
                        for x in best]
                blocks.append(_table(["JASPAR", "name", "p", "q", "strand"], rows, name_columns=2))
            parts.append("<div class='motif'>" + "".join(blocks) + "</div>")
        order = _order(h5, names, sort)
        rows, flags = [], []
        for i in order:
            imp = h5["importance"][i]
            rhat, ess_value = rhat_ess[i]
            fixed = position_runs(np.flatnonzero(imp >= motifs.THRESHOLD) + 1)
            rows.append([html.escape(names[i]), f"{pred[i]:.3g}", {1: "yes", 0: "<b>no</b>", -1: "-"}[int(called[i])],
                         f"{h5['kept_class'][i]:.2f}" if np.isfinite(h5["kept_class"][i]) else "-",
                         f"{imp.max():.2f}", fixed if len(fixed) < 60 else fixed[:57] + "...",
                         ", ".join(m.span for m in by_input[i]) or "-",
                         "yes" if h5["converged"][i] else "<b>no</b>", f"{rhat:.3f}", f"{ess_value:.0f}",
                         f"{h5['acceptance'][i].mean():.3f}"])
            flags.append(called[i] == 0 or not h5["converged"][i])
        parts.append(f"<h3>Inputs at beta {beta:g} (by {sort})</h3>" + _table(
            ["input", html.escape(label), "called", "class kept", "max importance (bits)",
             f"positions &ge; {motifs.THRESHOLD} bits", "motifs", "converged", "R-hat", "ESS", "acceptance"],
            rows, flags=flags))
        parts.append("<p class='caption'>called: the network calls the input the explained class; class kept: "
                     "fraction of samples it still calls so; R-hat and ESS: the worst over d and every changing "
                     "position (the convergence check); flagged rows are not called, or not converged.</p>")
    # -- each input ----------------------------------------------------------------------------
    parts.append("<h2>Inputs</h2>")
    order = _order(runs[0][2], names, sort)
    for i in order[:max_inputs]:
        name = names[i]
        parts.append(f"<h3>{html.escape(name)}</h3>")
        scored = [r for r in variants if r["input"] == full_names[i]]
        for params, h5, by_input, _, _ in per_run:
            marks = [(m.start, m.start + len(m.pwm), m.span) for m in by_input[i]]
            marks += [(r["position"] - 1, r["position"] - 1 + len(r["ref"]), f"{r['ref']}>{r['alt']}") for r in scored]
            window, where = logos.framing(params, h5["importance"][i])
            shown = f", {where}" if where else ""
            title = f"{name}, beta {params['beta']:g}: {label} {h5['prediction'][i]:.3g}{shown}"
            fig = logos.figure(h5["marginals"][i], h5["importance"][i], h5["x0"][i], alphabet, bg, title=title,
                               motifs=marks, window=window)
            pairs = ", ".join(f"{int(a) + 1}-{int(b) + 1} ({v:.2f} bits)" for a, b, v in h5["top_pairs"][i][:5]
                              if np.isfinite(v))
            warning = advice(*checked(h5, i), float(h5["acceptance"][i].mean()))
            parts.append(f"<div class='figure'><img alt='logo of {html.escape(name)}' src='{_png(fig)}'>"
                         f"<div class='caption'>Top: base probabilities; middle: information (bits above the "
                         f"background); bottom: importance (bits) with x0; shaded: motifs"
                         + (" and variants (ref>alt)" if scored else "") + ". Most dependent position "
                         f"pairs: {pairs}." + (f" <span class='warn'>{html.escape(warning)}</span>" if warning else "")
                         + "</div></div>")
        if scored:
            parts.append("<p>Variants against the samples of the first beta: tail probability = P(d of a sample &ge; "
                         "d of the variant); output change = alt minus ref of the verdict; bits = importance of the "
                         "variant's positions.</p>" + _variants_table(scored))
        progress(1)
    if len(names) > max_inputs:
        parts.append(f"<p>Logos of the first {max_inputs} of {len(names)} inputs.</p>")
    # -- details -------------------------------------------------------------------------------
    for params, h5, _, _, _ in per_run:
        rows = [[html.escape(name), f"{h5['rhat'][i]:.3f}", f"{h5['ess'][i]:.0f}", f"{h5['rhat_positions'][i]:.3f}",
                 f"{h5['ess_positions'][i]:.0f}", str(h5["rounds"][i]), f"{h5['evaluations'][i] / 1e6:.2f}",
                 f"{h5['gc'][i][0]:.3f}", f"{h5['gc'][i][1]:.3f}",
                 ", ".join(f"{a:.2f}" for a in h5["swap_acceptance"][i] if np.isfinite(a)) or "-"]
                for i, name in enumerate(names)]
        parts += [f"<h2>Diagnostics, beta {params['beta']:g}</h2>",
                  _table(["input", "R-hat d", "ESS d", "max R-hat positions", "min ESS positions", "rounds",
                          "evaluations (M)", "GC samples", "GC x0", "swap acceptance (rungs r, r+1)"], rows)]
    settings = [["model", html.escape(first["model"])], ["model SHA-256", first["model_sha256"][:16] + "..."],
                ["input", html.escape(first["input"])], ["inputs", len(names)],
                ["beta", ", ".join(f"{p['beta']:g}" for p, _, _ in runs)],
                ["mu", f"{first['mu']:.4g}"], ["explained output", html.escape(str(first.get("head")))],
                ["verdict", html.escape(label)], ["units", first["units"]],
                ["output positions (1-based)", position_runs(first.get("positions")) if first.get("positions") else "-"],
                ["constrained", first["constrained"]], ["sampler", html.escape(describe_sampler(first))],
                ["ladder before tuning (beta of each rung)",
                 ", ".join(f"{b:.3g}" for b in first.get("ladder") or [first["beta"]])],
                ["GC background", f"{bg[np.asarray(constrained_mask(first['constrained'], alphabet))].sum():.3f}"],
                ["seed", first["seed"]], ["seqmaxent", first.get("version", __version__)]]
    parts += ["<h2>Run settings</h2>", _table(["setting", "value"], settings, name_columns=2), "</body></html>"]
    output.write_text("\n".join(parts))
    return output
