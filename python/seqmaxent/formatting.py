"""How numbers and positions are written for people: positions 1-based, as runs."""

from __future__ import annotations

from collections.abc import Iterable


def position_runs(positions: Iterable[int] | None) -> str:
    """Positions (already 1-based) as sorted runs: '290-308, 412'; 'none' if there are none."""
    out: list[list[int]] = []
    for p in sorted(int(p) for p in (() if positions is None else positions)):
        if out and p == out[-1][-1] + 1:
            out[-1].append(p)
        else:
            out.append([p])
    return ", ".join(f"{r[0]}-{r[-1]}" if len(r) > 1 else str(r[0]) for r in out) or "none"
