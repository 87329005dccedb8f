"""Figures for docs/results.md, written to docs/figures/."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from .common import DOCS


def save(fig, name: str, caption: str) -> str:
    """Write docs/figures/NAME.png; returns the markdown that shows it."""
    folder = DOCS / "figures"
    folder.mkdir(parents=True, exist_ok=True)
    fig.tight_layout()
    fig.savefig(folder / f"{name}.png", dpi=110)
    plt.close(fig)
    return f"![{caption}](figures/{name}.png)\n\n*{caption}*"


def subplots(*args, **kwargs):
    return plt.subplots(*args, **kwargs)
