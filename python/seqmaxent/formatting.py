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


def si(value: float) -> str:
    """A count with an SI prefix and 3 significant digits: '1.29 M', '168 k', '12'."""
    for factor, prefix in ((1e12, " T"), (1e9, " G"), (1e6, " M"), (1e3, " k")):
        if abs(value) >= factor:
            return f"{value / factor:.3g}{prefix}"
    return f"{value:.3g}"
