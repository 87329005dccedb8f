"""Joining the shard files of one run (``seqmaxent sample --shard I/N``) into one results file."""

from __future__ import annotations

from itertools import groupby
from pathlib import Path

from .store import SHARD_NOT_COMPARED, load, sizes, writing

CHUNK = 256  # inputs copied at a time


def merge(shards: list[str | Path], output: str | Path) -> int:
    """Write the inputs of all `shards` to `output` in input-file order; returns their number.
    Refuses shards of different runs (settings) and sets with missing or repeated inputs."""
    if not shards:
        raise ValueError("no shard files given")
    opened = [load(p) for p in shards]
    try:
        first = opened[0][0]
        for path, (params, _, _) in zip(shards[1:], opened[1:]):
            changed = sorted(k for k in set(first) | set(params) if k not in SHARD_NOT_COMPARED
                             and first.get(k) != params.get(k))
            if changed:
                raise ValueError(f"{path} was sampled with other settings than {shards[0]} ("
                                 f"{', '.join(k.replace('input_sha256', 'input file contents') for k in changed)})")
        where = [(int(i), s, row) for s, (_, _, h5) in enumerate(opened) for row, i in enumerate(h5["index"][:])]
        where.sort()
        indices = [i for i, _, _ in where]
        total = first.get("input_count")
        if len(set(indices)) < len(indices):
            raise ValueError("an input occurs in more than one shard")
        if total is not None and indices != list(range(total)):
            missing = sorted(set(range(total)) - set(indices))
            raise ValueError(f"{len(missing)} of {total} inputs are in no shard (first missing: input "
                             f"{missing[0] + 1}); sample the missing shards first")
        h5s = [h5 for _, _, h5 in opened]
        space = sum(Path(p).stat().st_size for p in shards)
        with writing(output, {**first, "shard": None}, sizes(h5s[0]), space) as out:
            for start in range(0, len(where), CHUNK):  # runs of rows from one shard, in input order
                for s, rows in groupby(where[start : start + CHUNK], key=lambda w: w[1]):
                    out.extend(h5s[s], [row for _, _, row in rows])
        return len(where)
    finally:
        for _, _, h5 in opened:
            h5.close()
