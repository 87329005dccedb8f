"""Paths and helpers shared by the experiments."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DATA = Path(os.environ.get("SEQMAXENT_DATA", ROOT.parent / "shared" / "data"))
MODELS = ROOT / "experiments" / "models"
DOCS = ROOT / "docs"


def need_data(sub: str) -> Path:
    path = DATA / sub
    if not path.exists():
        raise SystemExit(f"data not found: {path} (set SEQMAXENT_DATA to the shared data folder)")
    return path


def mean_sd(values) -> str:
    v = np.asarray(values, float)
    return f"{v.mean():.3f} ± {v.std(ddof=1):.3f}"
