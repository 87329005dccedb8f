"""Sequence logos of MaxEnt samples (logomaker): probability and information logos with the
importance track and x0 underneath, positions numbered from 1, fixed bit axes (so a faint smear
never looks like a site), and found motifs marked."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from ..formatting import position_runs
from ..io.region import drawn
from ..io.sequences import decode
from .summary import importance

MAX_BITS = 2.0  # the information axis
MAX_SHOWN = 160  # positions drawn at most where a report focuses a long input


def focus(bits: np.ndarray, threshold: float = 0.5, margin: int = 20,
          region: np.ndarray | None = None) -> tuple[int, int] | None:
    """The positions (start, end), 0-based half-open, worth drawing of a long input: the span of
    the sampled `region` (a mask) when it fits, else its important ones (>= threshold bits, or
    the most important) with a margin, at most MAX_SHOWN wide; None when the whole input fits."""
    L = len(bits)
    if L <= MAX_SHOWN:
        return None
    if region is not None and not region.all():
        inside = np.flatnonzero(region)
        if inside[-1] + 1 - inside[0] <= MAX_SHOWN:
            return int(inside[0]), int(inside[-1]) + 1
    hot = np.flatnonzero(bits >= threshold)
    if not len(hot) or hot[-1] - hot[0] + 2 * margin > MAX_SHOWN:
        hot = np.array([int(np.argmax(bits))])
    start = max(0, min(int(hot[0]) - margin, L - MAX_SHOWN // 2))
    end = min(L, max(int(hot[-1]) + margin + 1, start + MAX_SHOWN // 2))
    return start, end


def framing(params: dict, bits: np.ndarray) -> tuple[tuple[int, int] | None, str]:
    """The window of a results file's logo of one input (:func:`focus` within the sampled region
    and the input positions Phi reads) and the text that says what it shows: the positions drawn,
    and for chosen output positions the input positions they read."""
    L = len(bits)
    window = focus(bits, region=drawn(params, L))
    parts = [] if window is None else [f"positions {window[0] + 1}-{window[1]} of {L}"]
    if params.get("reads") and params.get("positions"):
        parts.append(f"output positions {position_runs(params['positions'])} read input {params['reads']}")
    return window, "; ".join(parts)


def _pyplot():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt


def information_heights(marginals: np.ndarray, background: np.ndarray) -> np.ndarray:
    """Letter heights (L, 4) of an information logo: each base's share of the position's
    information (bits) relative to the background."""
    return marginals * np.clip(importance(marginals, background), 0, None)[:, None]


def _positions_axis(ax, length: int, first: int = 1) -> None:
    """1-based position numbers (the first drawn position is `first`): every 10th (and the first)."""
    step = 10 if length > 30 else 5 if length > 10 else 1
    ticks = sorted({0, *range((step - first % step) % step, length, step)})
    ax.set_xticks(ticks)
    ax.set_xticklabels([str(t + first) for t in ticks], fontsize=7)
    ax.set_xlim(-0.5, length - 0.5)


def plot_logo(marginals, alphabet: str = "ACGT", background: np.ndarray | None = None,
              kind: str = "information", ax=None, motifs: list[tuple[int, int]] = (), input: int = 0,
              first: int = 1):
    """A logo on a matplotlib `ax` (a new figure if None) of one input's marginals (L, 4), or of
    input `input` of a :class:`seqmaxent.Result` (its alphabet and background then come with it):
    ``kind="information"`` (bits above `background`, uniform if None, on a fixed 0-2 bit axis) or
    ``"probability"``. Positions are numbered from `first` (1); `motifs` are (start, end) 0-based
    half-open spans of the drawn rows to shade. Returns the axes."""
    import logomaker
    import pandas as pd

    if hasattr(marginals, "marginals"):  # a Result
        result = marginals
        marginals, alphabet, background = result.marginals()[input], result.alphabet, result.background()
    if kind not in ("information", "probability"):
        raise ValueError(f"kind must be 'information' or 'probability', not {kind!r}")
    plt = _pyplot()
    if ax is None:
        _, ax = plt.subplots(figsize=(max(6.0, len(marginals) * 0.14), 1.8))
    bg = np.full(4, 0.25) if background is None else np.asarray(background)
    heights = information_heights(marginals, bg) if kind == "information" else marginals
    with warnings.catch_warnings():  # an all-flat logo (nothing fixed) is fine: logomaker warns of its y limits
        warnings.simplefilter("ignore", UserWarning)
        logomaker.Logo(pd.DataFrame(heights, columns=list(alphabet)), ax=ax, color_scheme="classic")
    ax.set_ylim(0, MAX_BITS if kind == "information" else 1)
    ax.set_ylabel("bits" if kind == "information" else "probability")
    for start, end in motifs:
        ax.axvspan(start - 0.5, end - 0.5, color="#ffd27f", alpha=0.35, zorder=0)
    _positions_axis(ax, len(marginals), first)
    return ax


def figure(marginals: np.ndarray, bits: np.ndarray, x0: np.ndarray, alphabet: str, background: np.ndarray,
           title: str = "", motifs: list[tuple[int, int, str]] = (), window: tuple[int, int] | None = None):
    """A matplotlib figure: probability logo, information logo (bits above the background, 0-2),
    and importance `bits` (0 to its largest possible value) per position with x0's bases underneath;
    positions numbered from 1; `motifs` (start, end, label), 0-based half-open, shaded and labelled;
    only positions [start, end) of a `window` drawn."""
    plt = _pyplot()
    start, end = window or (0, len(bits))
    marginals, bits, x0 = marginals[start:end], bits[start:end], x0[start:end]
    motifs = [(max(a, start) - start, min(b, end) - start, text) for a, b, text in motifs if b > start and a < end]
    L = len(bits)
    spans = [(a, b) for a, b, _ in motifs]
    fig, axes = plt.subplots(3, 1, figsize=(max(6.0, L * 0.14), 5.4), sharex=True,
                             gridspec_kw={"height_ratios": [1, 1, 0.8]})
    plot_logo(marginals, alphabet, background, "probability", axes[0], spans, first=start + 1)
    plot_logo(marginals, alphabet, background, "information", axes[1], spans, first=start + 1)
    ax = axes[2]
    ax.bar(np.arange(L), bits, color="0.35", width=0.85)
    ax.set_ylabel("importance\n(bits)")
    ax.set_ylim(0, float(np.log2(1 / np.min(background))))
    for a, b, text in motifs:
        ax.axvspan(a - 0.5, b - 0.5, color="#ffd27f", alpha=0.35, zorder=0)
        axes[0].text((a + b - 1) / 2, 1.02, text, ha="center", va="bottom", fontsize=7, color="#8a5a00")
    _positions_axis(ax, L, start + 1)
    bases = ax.secondary_xaxis("bottom")  # x0's bases under the position numbers
    bases.set_xticks(np.arange(L))
    bases.set_xticklabels(list(decode(x0[None], alphabet)[0]), fontsize=6, family="monospace")
    bases.tick_params(length=0, pad=16)
    ax.set_xlabel("position (1-based); x0's bases below", fontsize=8, labelpad=12)
    if title:
        axes[0].set_title(title, fontsize=10, loc="left", pad=14 if motifs else 6)
    fig.tight_layout()
    return fig


def pwm_figure(pwm: np.ndarray, ax=None, title: str = ""):
    """Information logo of a PWM (width, 4), columns A, C, G, T, positions 1..width; on `ax`, or a
    new small figure (returned)."""
    plt = _pyplot()
    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(2.5, 0.3 * len(pwm)), 1.5))
    plot_logo(pwm, "ACGT", None, "information", ax)
    if title:
        ax.set_title(title, fontsize=8, loc="left")
    if fig is not None:
        fig.tight_layout()
    return fig


def save(fig, stem: str | Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Write the figure as STEM.png and STEM.svg; returns the paths."""
    plt = _pyplot()
    paths = [Path(f"{stem}.{fmt}") for fmt in formats]
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return paths
