"""DNA sequences to base codes and back. A code indexes the model's alphabet (its one-hot channels)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from ..errors import SequenceError

DEFAULT_ALPHABET = "ACGT"
UNKNOWN = 4  # code of N; the model sees an all-zero one-hot row, and the sampler never mutates it
ON_N = ("fail", "freeze")


def check_alphabet(alphabet: str) -> str:
    """The alphabet in upper case; it must be a permutation of ACGT."""
    a = str(alphabet).upper()
    if sorted(a) != sorted("ACGT"):
        raise ValueError(f"alphabet must order the four bases A, C, G, T (e.g. 'ACGT' or 'GCAT'), not {alphabet!r}")
    return a


def constrained_mask(constrained: str, alphabet: str) -> list[bool]:
    """Which codes N_C counts, from a set of bases such as "GC"."""
    bases = set(str(constrained).upper())
    if not bases <= set("ACGT"):
        raise ValueError(f"constrained must be a set of bases from ACGT, not {constrained!r}")
    return [b in bases for b in alphabet]


def _lookup(alphabet: str, on_n: str) -> np.ndarray:
    if on_n not in ON_N:
        raise ValueError(f"on_n must be 'fail' or 'freeze', not {on_n!r}")
    table = np.full(256, 255, dtype=np.uint8)
    for code, base in enumerate(alphabet + ("N" if on_n == "freeze" else "")):
        table[ord(base)] = table[ord(base.lower())] = code
    return table


def _name(names: Sequence[str] | None, i: int, first: int = 0) -> str:
    number = f"#{first + i + 1}"
    return f"sequence {names[i]!r} ({number})" if names is not None else f"sequence {number}"


def encode(
    sequences: Sequence[str],
    alphabet: str = DEFAULT_ALPHABET,
    length: int | None = None,
    names: Sequence[str] | None = None,
    on_n: str = "fail",
    first: int = 0,
) -> np.ndarray:
    """Sequences (upper or lower case) to codes, shape (n, L); messages number them from `first` + 1. All must have one length, `length` if given.
    N is an error unless ``on_n="freeze"``, which codes it as UNKNOWN (kept fixed when sampling)."""
    if isinstance(sequences, str):
        sequences = [sequences]
    if len(sequences) == 0:
        raise SequenceError("no input sequences")
    table = _lookup(check_alphabet(alphabet), on_n)
    expected = length if length is not None else len(sequences[0])
    codes = np.empty((len(sequences), expected), dtype=np.uint8)
    for i, seq in enumerate(sequences):
        if not isinstance(seq, str):
            raise SequenceError(f"{_name(names, i, first)} is a {type(seq).__name__}, not a string")
        if len(seq) != expected:
            why = "the model's input length" if length is not None else "the length of the first sequence"
            raise SequenceError(f"{_name(names, i, first)} has length {len(seq)}, expected {expected} ({why})")
        raw = np.frombuffer(seq.encode("latin-1", errors="replace"), dtype=np.uint8)
        row = table[raw]
        bad = np.flatnonzero(row == 255)
        if bad.size:
            p = int(bad[0])
            hint = "; to keep N positions fixed, use on_n='freeze' (command line: --on-n freeze)" if seq[p] in "Nn" else ""
            raise SequenceError(
                f"{_name(names, i, first)} has {seq[p]!r} at position {p + 1} (1-based); only A, C, G, T are allowed{hint}"
            )
        codes[i] = row
    return codes


def from_onehot(onehot: np.ndarray, length: int | None = None, on_n: str = "fail") -> np.ndarray:
    """One-hot array (n, L, 4) or (L, 4), channels in alphabet order, to codes (n, L).
    All-zero rows are N: an error unless ``on_n="freeze"``."""
    x = np.asarray(onehot)
    if x.ndim not in (2, 3) or x.shape[-1] != 4:
        hint = "; codes (n, L), as in Result.samples, become sequences with sm.decode(codes, model.alphabet)" \
            if x.ndim == 2 and np.issubdtype(x.dtype, np.integer) else ""
        raise SequenceError(f"one-hot input must have shape (n, L, 4) or (L, 4), not {x.shape}{hint}")
    x = x[None] if x.ndim == 2 else x
    if x.shape[0] == 0:
        raise SequenceError("no input sequences")
    if length is not None and x.shape[1] != length:
        raise SequenceError(f"one-hot sequences have length {x.shape[1]}, expected {length} (the model's input length)")
    if on_n not in ON_N:
        raise ValueError(f"on_n must be 'fail' or 'freeze', not {on_n!r}")
    total = x.sum(axis=2)
    valid = np.all((x == 0) | (x == 1), axis=2) & ((total == 1) | ((total == 0) & (on_n == "freeze")))
    if not valid.all():
        i, p = (int(v[0]) for v in np.nonzero(~valid))
        raise SequenceError(
            f"sequence #{i + 1} is not one-hot at position {p + 1} (1-based): {x[i, p].tolist()}"
        )
    return np.where(total == 0, UNKNOWN, x.argmax(axis=2)).astype(np.uint8)


def decode(codes: np.ndarray, alphabet: str = DEFAULT_ALPHABET) -> list[str]:
    """Codes (n, L) to sequences (code 4 is N)."""
    letters = np.frombuffer((check_alphabet(alphabet) + "N").encode(), dtype=np.uint8)
    return [letters[row].tobytes().decode() for row in np.atleast_2d(codes)]


def onehot(codes: np.ndarray) -> np.ndarray:
    """Codes (n, L) to one-hot (n, L, 4) float32, channels in alphabet order; N is all zero."""
    return np.eye(5, 4, dtype=np.float32)[codes]
