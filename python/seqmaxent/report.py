"""One self-contained HTML report (images embedded) of one results file, or of a beta sweep."""

from __future__ import annotations

import base64
import html
import io
from pathlib import Path

import numpy as np


from . import __version__
from . import logos, motifs
from .diagnostics import advice, describe_sampler
from .formatting import position_runs
from .sampling import constrained_mask
from .store import load
from .summary import background

STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; max-width: 1800px; }
h1 { font-size: 1.6em; } h2 { font-size: 1.25em; margin-top: 2em; border-bottom: 1px solid #ccc; }
table { border-collapse: collapse; font-size: 0.85em; margin: 0.5em 0; }
td, th { border: 1px solid #ddd; padding: 3px 8px; text-align: right; } th { background: #f3f3f3; }
td.name, th.name { text-align: left; } .warn { color: #a40; } img { max-width: 100%; }
.figure { margin: 0.5em 0 1.5em 0; } .caption { font-size: 0.85em; color: #555; }
"""


def _png(fig) -> str:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=100)
    plt.close(fig)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _table(header: list[str], rows: list[list], name_columns: int = 1) -> str:
    head = "".join(f"<th class='name'>{h}</th>" if i < name_columns else f"<th>{h}</th>" for i, h in enumerate(header))
    body = "".join(
        "<tr>" + "".join(f"<td class='name'>{c}</td>" if i < name_columns else f"<td>{c}</td>" for i, c in enumerate(r))
        + "</tr>" for r in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def build(results: list[str | Path], output: str | Path, max_inputs: int = 20, match: bool = True) -> Path:
    """Write the report of one or more results files (several: a beta sweep over the same inputs)."""
    runs = [load(path) for path in results]
    runs.sort(key=lambda r: r[0]["beta"])
    try:
        return _write(runs, Path(output), max_inputs, match)
    finally:
        for _, _, h5 in runs:
            h5.close()


def _write(runs, output: Path, max_inputs: int, match: bool) -> Path:
    first, names, _ = runs[0]
    alphabet = first["alphabet"]
    bg = background(first["mu"], constrained_mask(first["constrained"], alphabet))
    betas = ", ".join(f"{p['beta']:g}" for p, _, _ in runs)
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>seqmaxent report</title><style>{STYLE}</style>"
             "</head><body>", "<h1>seqmaxent report</h1>",
             "<p>Maximum-entropy samples of sequences the network represents like each input (Finnegan &amp; Song "
             "2017). Positions the network relies on stay fixed (high importance); the others drift to the "
             "background.</p>"]
    settings = [["model", html.escape(first["model"])], ["model SHA-256", first["model_sha256"][:16] + "..."],
                ["input", html.escape(first["input"])], ["inputs", len(names)], ["beta", betas],
                ["mu", f"{first['mu']:.4g}"], ["explained output", html.escape(str(first.get("head")))],
                ["units", first["units"]], ["output positions (1-based)", position_runs(first.get("positions")) if first.get("positions") else "-"],
                ["constrained", first["constrained"]],
                ["sampler", html.escape(describe_sampler(first))],
                ["ladder before tuning (beta of each rung)", ", ".join(f"{b:.3g}" for b in first.get("ladder") or [first["beta"]])],
                ["seed", first["seed"]], ["seqmaxent", first.get("version", __version__)]]
    parts += ["<h2>Run</h2>", _table(["setting", "value"], settings, name_columns=2)]
    for params, _, h5 in runs:
        rows, warnings = [], []
        for i, name in enumerate(names):
            gc = h5["gc"][i]
            rows.append([html.escape(name), f"{h5['kept_class'][i]:.3f}", f"{h5['acceptance'][i].mean():.3f}",
                         f"{gc[0]:.3f}", f"{gc[1]:.3f}", f"{gc[2]:.3f}", f"{h5['rhat'][i]:.3f}", f"{h5['ess'][i]:.0f}",
                         f"{h5['rhat_positions'][i]:.3f}", f"{h5['ess_positions'][i]:.0f}", str(h5["rounds"][i]),
                         f"{h5['evaluations'][i] / 1e6:.2f}", "yes" if h5["converged"][i] else "no",
                         ", ".join(f"{a:.2f}" for a in h5["swap_acceptance"][i] if np.isfinite(a)) or "-"])
            w = advice(max(h5["rhat"][i], h5["rhat_positions"][i]), min(h5["ess"][i], h5["ess_positions"][i]))
            if w:
                warnings.append(f"<li class='warn'>{html.escape(name)}: {w}</li>")
        parts += [f"<h2>Diagnostics, beta {params['beta']:g}</h2>",
                  _table(["input", "class kept", "acceptance", "GC samples", "GC x0", "GC background", "R-hat d",
                          "ESS d", "max R-hat positions", "min ESS positions", "rounds", "evaluations (M)",
                          "converged", "swap acceptance (rungs r, r+1)"], rows)]
        if warnings:
            parts.append("<ul>" + "".join(warnings) + "</ul>")
    parts.append("<h2>Inputs</h2>")
    for i, name in enumerate(names[:max_inputs]):
        parts.append(f"<h3>{html.escape(name)}</h3>")
        for params, _, h5 in runs:
            fig = logos.figure(h5["marginals"][i], h5["importance"][i], h5["x0"][i], alphabet, bg,
                               title=f"{name}, beta {params['beta']:g}")
            pairs = ", ".join(f"{int(a) + 1}-{int(b) + 1} ({v:.2f} bits)" for a, b, v in h5["top_pairs"][i][:5])
            parts.append(f"<div class='figure'><img alt='logo of {html.escape(name)}' src='{_png(fig)}'>"
                         f"<div class='caption'>Top: base probabilities; middle: information (bits above the "
                         f"background); bottom: importance with x0. Most dependent position pairs: {pairs}.</div></div>")
    if len(names) > max_inputs:
        parts.append(f"<p>Logos of the first {max_inputs} of {len(names)} inputs.</p>")
    for params, _, h5 in runs:
        found = [m for i, name in enumerate(names)
                 for m in motifs.extract(name, h5["marginals"][i], h5["importance"][i], alphabet)]
        consensus = motifs.aggregate(found)
        parts.append(f"<h2>Motifs, beta {params['beta']:g}</h2><p>{len(found)} segment(s) with importance &ge; "
                     f"{motifs.THRESHOLD} bits over &ge; {motifs.MIN_LENGTH} positions; {len(consensus)} consensus "
                     f"motif(s) found in &ge; 2 inputs.</p>")
        shown = consensus or found[:5]
        matches = motifs.match(shown, top=3) if match and shown else [[] for _ in shown]
        for m, best in zip(shown, matches):
            rows = [[x.target_id, html.escape(x.target_name), f"{x.p_value:.2g}", f"{x.q_value:.2g}", x.strand]
                    for x in best]
            parts.append(f"<div class='figure'><b>{html.escape(m.name)}</b> ({m.sites} site(s), {m.consensus})<br>"
                         f"<img alt='motif {html.escape(m.name)}' src='{_png(logos.pwm_figure(m.pwm))}'>"
                         + (_table(["JASPAR", "name", "p", "q", "strand"], rows, name_columns=2) if rows else "")
                         + "</div>")
    parts.append("</body></html>")
    output.write_text("\n".join(parts))
    return output
