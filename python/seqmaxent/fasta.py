"""Reading FASTA files (plain or gzip)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path


def fasta_records(path: str | Path) -> Iterator[tuple[str, str]]:
    """(name, sequence) records of a FASTA file, streamed; the name is the header's first word."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    name, chunks = None, []
    with opener(path, "rt") as f:
        for number, line in enumerate(f, start=1):
            line = line.strip()
            if line.startswith(">"):
                if name is not None:
                    yield name, "".join(chunks)
                name, chunks = (line[1:].split() or [""])[0], []
            elif line:
                if name is None:
                    raise ValueError(f"{path}: line {number} has sequence before any '>' header; not FASTA")
                chunks.append(line)
    if name is not None:
        yield name, "".join(chunks)
