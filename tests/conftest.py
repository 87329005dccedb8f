from __future__ import annotations

import itertools
import signal
from pathlib import Path

import numpy as np
import pytest

import seqmaxent as sm

MODELS = Path(__file__).parent / "models"
SHARED = Path(__file__).resolve().parents[2] / "shared" / "data"


@pytest.fixture(autouse=True)
def _signal_handlers():
    """Tests run the command line's entry point in this process; its last act on a stop (ignoring
    further signals while the process exits) must not reach the next test or its subprocesses."""
    handlers = {s: signal.getsignal(s) for s in (signal.SIGINT, signal.SIGTERM)}
    yield
    for s, handler in handlers.items():
        signal.signal(s, handler)


def model_path(name: str) -> Path:
    return MODELS / f"{name}.onnx"


@pytest.fixture(scope="session")
def tiny() -> sm.Model:
    return sm.Model(model_path("tiny"), layout="NCL")


def all_sequences(length: int) -> np.ndarray:
    """Codes of all 4^length sequences, in lexicographic order (index = base-4 number)."""
    return np.array(list(itertools.product(range(4), repeat=length)), dtype=np.uint8)


def state_index(codes: np.ndarray) -> np.ndarray:
    """Index of each sequence (..., L) in all_sequences order."""
    weights = 4 ** np.arange(codes.shape[-1] - 1, -1, -1)
    return (codes.astype(np.int64) * weights).sum(axis=-1)
