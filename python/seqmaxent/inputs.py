"""Input sequences from FASTA (plain or gzip), one-hot .npy, or BED regions of a genome FASTA,
streamed as (name, sequence) records."""

from __future__ import annotations

import gzip
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from .errors import SequenceError
from .fasta import read_fasta
from .sequences import decode, from_onehot

FASTA_SUFFIXES = {".fa", ".fasta", ".fna", ".fas"}
_COMPLEMENT = str.maketrans("ACGTNacgtn", "TGCANtgcan")


def _is_bed_record(line: str) -> bool:
    return bool(line.strip()) and not line.startswith(("#", "track", "browser"))


def reverse_complement(seq: str) -> str:
    return seq.translate(_COMPLEMENT)[::-1]


def _kind(path: Path) -> str:
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] == ".gz":
        suffixes = suffixes[:-1]
    last = suffixes[-1] if suffixes else ""
    if last in FASTA_SUFFIXES:
        return "fasta"
    if last == ".npy":
        return "npy"
    if last == ".bed":
        return "bed"
    raise SequenceError(f"{path}: unknown input type; use FASTA (.fa/.fasta[.gz]), one-hot .npy, or .bed with a genome")


def read_npy(path: Path, alphabet: str, on_n: str = "fail") -> Iterator[tuple[str, str]]:
    """Rows of a one-hot array (n, L, 4), channels in alphabet order, named STEM:1, STEM:2, ..."""
    x = np.load(path, mmap_mode="r")
    if x.ndim != 3 or x.shape[2] != 4:
        raise SequenceError(f"{path}: one-hot array must have shape (n, L, 4), not {x.shape}")
    for i in range(x.shape[0]):
        try:
            codes = from_onehot(np.asarray(x[i]), on_n=on_n)
        except SequenceError as e:
            raise SequenceError(f"{path}: row {i + 1}: {e}".replace("sequence #1 ", "")) from None
        yield f"{path.stem}:{i + 1}", decode(codes, alphabet)[0]


def read_bed(path: Path, genome: str | Path) -> Iterator[tuple[str, str]]:
    """Regions of a BED file cut from a genome FASTA (uncompressed or bgzip), reverse-complemented on '-'."""
    from pyfaidx import Fasta, FetchError

    if not Path(genome).is_file():
        raise FileNotFoundError(f"genome FASTA not found: {genome}")
    fasta = Fasta(str(genome), as_raw=True, sequence_always_upper=False)
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        for number, line in enumerate(f, start=1):
            if not _is_bed_record(line):
                continue
            where = f"{path}: line {number}"
            cols = line.rstrip("\n").split("\t")
            if len(cols) < 3:
                raise SequenceError(f"{where}: expected at least 3 tab-separated columns (chrom, start, end)")
            chrom = cols[0]
            try:
                start, end = int(cols[1]), int(cols[2])
            except ValueError:
                raise SequenceError(f"{where}: start and end must be integers, not {cols[1]!r}, {cols[2]!r}") from None
            strand = cols[5] if len(cols) > 5 else "+"
            if chrom not in fasta:
                raise SequenceError(f"{where}: chromosome {chrom!r} is not in {genome}")
            size = len(fasta[chrom])
            if not 0 <= start < end <= size:
                raise SequenceError(f"{where}: region {chrom}:{start}-{end} is outside 0..{size} or empty")
            if strand not in "+-.":
                raise SequenceError(f"{where}: strand must be +, - or ., not {strand!r}")
            try:
                seq = str(fasta[chrom][start:end])
            except FetchError as e:
                raise SequenceError(f"{where}: {e}") from None
            name = cols[3] if len(cols) > 3 and cols[3] not in ("", ".") else f"{chrom}:{start}-{end}"
            yield (f"{name}({strand})" if strand == "-" else name), (reverse_complement(seq) if strand == "-" else seq)


def read_inputs(path: str | Path, alphabet: str = "ACGT", genome: str | Path | None = None,
                on_n: str = "fail") -> Iterator[tuple[str, str]]:
    """(name, sequence) records of an input file of any supported kind."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    kind = _kind(path)
    if kind == "fasta":
        return read_fasta(path)
    if kind == "npy":
        return read_npy(path, alphabet, on_n)
    if genome is None:
        raise SequenceError(f"{path}: BED input needs the genome FASTA (--genome)")
    return read_bed(path, genome)


def count_records(path: str | Path) -> int:
    """Number of records in an input file, by a quick pass over it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    kind = _kind(path)
    if kind == "npy":
        return int(np.load(path, mmap_mode="r").shape[0])
    opener = gzip.open if path.suffix == ".gz" else open
    with opener(path, "rt") as f:
        if kind == "bed":
            return sum(1 for line in f if _is_bed_record(line))
        return sum(1 for line in f if line.startswith(">"))


def batches(records: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    """Consecutive lists of at most `size` records."""
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch
