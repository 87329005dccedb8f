"""Sequence logos of MaxEnt samples (logomaker): probability and information logos with the
importance track and x0 underneath."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .sequences import decode


def figure(marginals: np.ndarray, importance: np.ndarray, x0: np.ndarray, alphabet: str, background: np.ndarray,
           title: str = ""):
    """A matplotlib figure: probability logo, information logo (bits above the background), and
    importance (bits) per position with x0's bases as labels."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    L = len(importance)
    probs = pd.DataFrame(marginals, columns=list(alphabet))
    with np.errstate(divide="ignore", invalid="ignore"):
        info = np.where(marginals > 0, marginals * np.log2(marginals / background), 0.0).sum(axis=1)
    heights = pd.DataFrame(marginals * np.clip(info, 0, None)[:, None], columns=list(alphabet))
    fig, axes = plt.subplots(3, 1, figsize=(max(6.0, L * 0.14), 5.2), sharex=True,
                             gridspec_kw={"height_ratios": [1, 1, 0.7]})
    logomaker.Logo(probs, ax=axes[0], color_scheme="classic")
    axes[0].set_ylabel("probability")
    axes[0].set_ylim(0, 1)
    logomaker.Logo(heights, ax=axes[1], color_scheme="classic")
    axes[1].set_ylabel("bits")
    axes[2].bar(np.arange(L), importance, color="0.35", width=0.85)
    axes[2].set_ylabel("importance")
    axes[2].set_xticks(np.arange(L))
    axes[2].set_xticklabels(list(decode(x0[None], alphabet)[0]), fontsize=6, family="monospace")
    axes[2].set_xlim(-0.5, L - 0.5)
    if title:
        axes[0].set_title(title, fontsize=10, loc="left")
    fig.tight_layout()
    return fig


def pwm_figure(pwm: np.ndarray, ax=None):
    """Information logo of a PWM (width, 4), columns A, C, G, T; on `ax`, or a new small figure."""
    import logomaker
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import pandas as pd

    from .motifs import information

    fig = None
    if ax is None:
        fig, ax = plt.subplots(figsize=(max(2.5, 0.3 * len(pwm)), 1.4))
    logomaker.Logo(pd.DataFrame(pwm * information(pwm)[:, None], columns=list("ACGT")), ax=ax, color_scheme="classic")
    ax.set_ylim(0, 2)
    ax.set_ylabel("bits")
    if fig is not None:
        fig.tight_layout()
    return fig


def save(fig, stem: str | Path, formats: tuple[str, ...] = ("png", "svg")) -> list[Path]:
    """Write the figure as STEM.png and STEM.svg; returns the paths."""
    import matplotlib.pyplot as plt

    paths = [Path(f"{stem}.{fmt}") for fmt in formats]
    for p in paths:
        fig.savefig(p, dpi=120)
    plt.close(fig)
    return paths
