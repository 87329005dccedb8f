"""Joining the shard files of one run (``seqmaxent sample --shard I/N``) into one results file."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from .store import NOT_COMPARED, SHARD_KEYS, ResultsFile, load, sizes

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
            changed = sorted(k for k in set(first) | set(params) if k not in NOT_COMPARED | SHARD_KEYS
                             and first.get(k) != params.get(k))
            if changed:
                raise ValueError(f"{path} was sampled with other settings than {shards[0]} ({', '.join(changed)})")
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
        names = [opened[s][1][row] for _, s, row in where]
        params = {**first, "shard": None}
        with ResultsFile.create(output, params, sizes({k: h5s[0][k] for k in ("x0", "samples", "acceptance", "outputs",
                                                                            "ladder")})) as out:
            keys = [k for k in h5s[0] if k != "names"]
            for start in range(0, len(where), CHUNK):
                part = where[start : start + CHUNK]
                out.append(names[start : start + CHUNK],
                           {k: np.stack([h5s[s][k][row] for _, s, row in part]) for k in keys})
        return len(where)
    finally:
        for _, _, h5 in opened:
            h5.close()
