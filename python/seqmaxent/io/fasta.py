"""Reading text inputs (plain or gzip) and FASTA files."""

from __future__ import annotations

import gzip
import zlib
from collections.abc import Iterator
from pathlib import Path

from ..errors import SequenceError


GZIP_ERRORS = (EOFError, gzip.BadGzipFile, zlib.error)  # what reading a truncated or corrupt gzip file raises


def corrupt_gzip(path: str | Path, error: Exception) -> SequenceError:
    return SequenceError(f"{path}: truncated or corrupt gzip file ({error})")


def text_lines(path: str | Path) -> Iterator[str]:
    """The lines of a text file, gunzipped if it ends in .gz; a truncated or corrupt gzip file is
    an error naming it."""
    path = Path(path)
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rt", encoding="utf-8-sig") as f:  # a byte-order mark is dropped
            yield from f
    except GZIP_ERRORS as e:
        raise corrupt_gzip(path, e) from None
    except UnicodeDecodeError:
        with opener(path, "rb") as f:
            for number, line in enumerate(f, start=1):
                try:
                    line.decode("utf-8")
                except UnicodeDecodeError as e:
                    raise SequenceError(f"{path}: not a text file (byte 0x{line[e.start]:02x} on line {number} is not "
                                        f"UTF-8); expected FASTA or BED text, or gzip with a .gz name") from None
        raise


def fasta_records(path: str | Path) -> Iterator[tuple[str, str]]:
    """(name, sequence) records of a FASTA file, streamed; the name is the header's first word."""
    name, chunks = None, []
    for number, line in enumerate(text_lines(path), start=1):
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
