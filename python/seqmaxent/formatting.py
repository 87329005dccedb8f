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


def short(name: str, width: int = 60) -> str:
    """A name for titles, tables and motif names: at most `width` characters, its middle elided."""
    if len(name) <= width:
        return name
    half = (width - 1) // 2
    return f"{name[:half]}…{name[-(width - 1 - half):]}"


def file_stems(names: Iterable[str], width: int = 80) -> list[str]:
    """One distinct file-name stem per name: characters other than letters, digits, '.', '_' and
    '-' as '_', long names shortened, and stems that would clash numbered (NAME.2, NAME.3...)."""
    stems: list[str] = []
    used: set[str] = set()
    for name in names:
        stem = short("".join(c if c.isalnum() or c in "._-" else "_" for c in name), width).replace("…", "_")
        stem = stem.lstrip(".") or "_"
        candidate, k = stem, 1
        while candidate in used:
            k += 1
            candidate = f"{stem}.{k}"
        used.add(candidate)
        stems.append(candidate)
    return stems
