"""How one-hot DNA is laid out in a model's input tensor.

``NLC``: (N, L, 4) as in most PyTorch/Keras-channels-last code; ``NCL``: (N, 4, L) as Conv1d
expects; ``N1LC``: (N, 1, L, 4), the Keras/Theano image style used by the paper's networks.
"""

from __future__ import annotations

import numpy as np

from ..errors import ModelError

LAYOUTS = {"NLC": "(N, L, 4)", "NCL": "(N, 4, L)", "N1LC": "(N, 1, L, 4)"}


def item_shape(layout: str, length: int) -> tuple[int, ...]:
    """Shape of one sequence in the model's input (no batch axis)."""
    return {"NLC": (length, 4), "NCL": (4, length), "N1LC": (1, length, 4)}[layout]


def strides(layout: str, length: int) -> tuple[int, int]:
    """Elements between consecutive positions and between consecutive bases of one sequence."""
    return (1, length) if layout == "NCL" else (4, 1)


def to_model(onehot: np.ndarray, layout: str) -> np.ndarray:
    """(n, L, 4) one-hot to the model's layout (float32)."""
    x = np.asarray(onehot, dtype=np.float32)
    if layout == "NCL":
        x = x.transpose(0, 2, 1)
    elif layout == "N1LC":
        x = x[:, None]
    return np.ascontiguousarray(x)


MAX_LENGTH = 1_048_576  # positions of an input: 1 Mb, twice today's longest-context models


def detect(dims: list[int | str | None], layout: str | None, path: str) -> tuple[str, int | None]:
    """The layout and sequence length (None if symbolic) from the model input's dimensions."""
    if layout is not None and layout not in LAYOUTS:
        raise ModelError(f"unknown layout {layout!r}; choose one of {', '.join(LAYOUTS)}")
    fixed = [d if isinstance(d, int) and d > 0 else None for d in dims]
    if any(d is not None and d > MAX_LENGTH for d in fixed):
        raise ModelError(f"{path}: input shape ({', '.join(str(d) for d in dims)}) declares more positions than "
                         f"seqmaxent handles ({MAX_LENGTH:,})")
    candidates = []
    if len(dims) == 3:
        if fixed[2] == 4:
            candidates.append(("NLC", fixed[1]))
        if fixed[1] == 4:
            candidates.append(("NCL", fixed[2]))
    elif len(dims) == 4 and fixed[1] == 1 and fixed[3] == 4:
        candidates.append(("N1LC", fixed[2]))
    shape = "(" + ", ".join(str(d) for d in dims) + ")"
    if layout is not None:
        for name, length in candidates:
            if name == layout:
                return name, length
        raise ModelError(f"{path}: input shape {shape} does not fit layout {layout} {LAYOUTS[layout]}")
    if not candidates:
        raise ModelError(
            f"{path}: input shape {shape} is not one-hot DNA in a known layout "
            f"({', '.join(f'{k} {v}' for k, v in LAYOUTS.items())})"
        )
    if len(candidates) > 1:
        raise ModelError(f"{path}: input shape {shape} is ambiguous; pass layout='NLC' or layout='NCL'")
    return candidates[0]
