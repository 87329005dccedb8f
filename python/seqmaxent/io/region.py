"""A region of interest: the input positions the chains may change; every other keeps x0's base.

Written as 1-based inclusive ranges, ``"4900-5100"`` or ``"4900-5000,5050-5100"`` (a single
position is ``"5000"``); in Python also a ``range`` of 1-based positions or a list of
``(first, last)`` pairs. Results record the canonical text (:func:`describe`).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

Region = str | range | Sequence[tuple[int, int]] | None


def _ranges(region: Region) -> list[tuple[int, int]]:
    """The region as 1-based inclusive (first, last) pairs, as given."""
    if isinstance(region, str):
        pairs = []
        for part in region.replace(" ", "").split(","):
            first, _, last = part.partition("-")
            if not (first.isdigit() and (last.isdigit() or not _)):
                raise ValueError(f"region {region!r}: {part!r} is not a 1-based position or range such as 4900-5100")
            pairs.append((int(first), int(last or first)))
        return pairs
    if isinstance(region, range):
        if region.step != 1 or not len(region):
            raise ValueError(f"region {region!r}: a range of 1-based positions needs step 1 and at least one position")
        return [(region.start, region.stop - 1)]
    try:
        return [(int(a), int(b)) for a, b in region]
    except (TypeError, ValueError):
        raise ValueError(f"region must be text such as '4900-5100,5200-5300', a range or (first, last) pairs; "
                         f"not {region!r}") from None


def mask(region: Region, length: int) -> np.ndarray | None:
    """Boolean (length,) of the positions in the region; None for the whole input."""
    if region is None:
        return None
    inside = np.zeros(length, bool)
    for first, last in _ranges(region):
        if first > last:
            raise ValueError(f"region {first}-{last}: the first position comes after the last (1-based, inclusive "
                             f"ranges such as 4900-5100)")
        if first < 1 or last > length:
            raise ValueError(f"region {describe_ranges([(first, last)])} is outside the input's positions 1-{length} "
                             f"(1-based, inclusive)")
        inside[first - 1:last] = True
    return inside


def describe_ranges(pairs: list[tuple[int, int]]) -> str:
    """1-based inclusive pairs as text: 3-5,9."""
    return ",".join(f"{a}-{b}" if a != b else f"{a}" for a, b in pairs)


def describe(inside: np.ndarray | None) -> str | None:
    """The canonical text of a region mask (sorted, merged, 1-based); None for none given."""
    if inside is None:
        return None
    edges = np.flatnonzero(np.diff(np.concatenate([[0], inside.astype(np.int8), [0]])))
    return describe_ranges([(int(a) + 1, int(b)) for a, b in zip(edges[::2], edges[1::2])])


def canonical(region: Region) -> str | None:
    """The canonical text of a region, before the input's length is known."""
    return None if region is None else describe(mask(region, max(last for _, last in _ranges(region))))


def recorded(params: dict, length: int) -> np.ndarray:
    """The region a results file or Result records, as a mask (every position when none)."""
    inside = mask(params.get("region"), length)
    return np.ones(length, bool) if inside is None else inside


def reads_text(span: tuple[int, int] | None, length: int | None) -> str | None:
    """The canonical text of the input positions Phi reads (``Model.reads``), as results record
    it; None for the whole input, or where it is not known."""
    if span is None or length is None or span == (1, length):
        return None
    return describe_ranges([span])


def drawn(params: dict, length: int) -> np.ndarray:
    """The positions a logo focuses on: the sampled region, within the input positions Phi reads
    (no other position can matter to the explained outputs)."""
    inside = recorded(params, length)
    reads = mask(params.get("reads"), length)
    return inside if reads is None else inside & reads
