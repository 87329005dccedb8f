"""Input sequences from FASTA (plain or gzip), one-hot .npy, or BED regions of a genome FASTA,
streamed as (name, sequence) records; :func:`read_fasta` and :func:`read_bed` read them into lists."""

from __future__ import annotations

import gzip
import hashlib
import os
import shutil
import sys
from collections.abc import Iterable, Iterator
from itertools import islice
from pathlib import Path

import numpy as np

from ..errors import SequenceError
from .fasta import GZIP_ERRORS, corrupt_gzip, fasta_records, text_lines
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


def npy_records(path: Path, alphabet: str, on_n: str = "fail") -> Iterator[tuple[str, str]]:
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


def _cache() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "seqmaxent"


def indexable_genome(genome: str | Path) -> Path:
    """A genome FASTA that pyfaidx can index: the file itself if plain or bgzip-compressed; for a
    plain gzip file (which has no random access), a decompressed copy in the user's cache, made once."""
    genome = Path(genome)
    if not genome.is_file():
        raise FileNotFoundError(f"genome FASTA not found: {genome}")
    with open(genome, "rb") as f:
        head = f.read(16)
    if head[:2] != b"\x1f\x8b":
        _check_index(genome)
        return genome
    if head[3] & 4 and head[12:14] == b"BC":  # bgzip (BGZF extra field)
        return genome
    stat = genome.stat()
    key = hashlib.sha256(f"{genome.resolve()}:{stat.st_size}:{stat.st_mtime_ns}".encode()).hexdigest()[:16]
    copy = _cache() / "genomes" / f"{genome.name.removesuffix('.gz')}.{key}.fa"
    if not copy.exists():
        copy.parent.mkdir(parents=True, exist_ok=True)
        print(f"seqmaxent: {genome} is plain gzip (no random access); decompressing it once into {copy}",
              file=sys.stderr)
        part = copy.with_suffix(".part")
        try:
            with gzip.open(genome, "rb") as src, open(part, "wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 24)
        except GZIP_ERRORS as e:
            part.unlink(missing_ok=True)
            raise corrupt_gzip(genome, e) from None
        part.rename(copy)
    return copy


def _check_index(genome: Path) -> None:
    """Remove a plain genome's .fai index if it does not describe the file (the genome was rewritten
    since), so that it is rebuilt: each record must start after a '>NAME' line and end in the file."""
    fai = genome.with_name(genome.name + ".fai")
    if not fai.is_file():
        return
    size = genome.stat().st_size
    try:
        with open(genome, "rb") as f:
            for line in fai.read_text().splitlines():
                name, length, offset, bases, width = line.split("\t")[:5]
                length, offset, bases, width = int(length), int(offset), int(bases), int(width)
                end = offset + (length // bases) * width + length % bases if bases else offset
                f.seek(max(0, offset - 1024))
                before = f.read(offset - max(0, offset - 1024))
                header = before[before.rfind(b"\n", 0, len(before) - 1) + 1 : -1]  # the line before the record
                f.seek(offset + bases)
                line_end = f.read(width - bases) if length > bases else b"\n"
                if end > size or header[:1] != b">" or header[1:].split()[0].decode() != name or \
                        line_end.strip(b"\r") != b"\n":
                    raise ValueError(name)
    except (ValueError, IndexError, UnicodeDecodeError):
        print(f"seqmaxent: {fai} does not match {genome} (rewritten since?); rebuilding it", file=sys.stderr)
        try:
            fai.unlink()
        except OSError as e:
            raise SequenceError(f"{fai} does not match {genome} and cannot be removed ({e.strerror}); remove it or "
                                f"index the genome again (samtools faidx)") from None


def bed_records(path: Path, genome: str | Path) -> Iterator[tuple[str, str]]:
    """Regions of a BED file cut from a genome FASTA (plain, bgzip, or gzip: see
    :func:`indexable_genome`), reverse-complemented on '-'."""
    from pyfaidx import Fasta, FetchError

    fasta = Fasta(str(indexable_genome(genome)), as_raw=True, sequence_always_upper=False)
    for number, line in enumerate(text_lines(path), start=1):
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
    """(name, sequence) records of an input file of any supported kind; a one-hot .npy has its
    channels in `alphabet` order."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    kind = _kind(path)
    if kind == "fasta":
        return fasta_records(path)
    if kind == "npy":
        return npy_records(path, alphabet, on_n)
    if genome is None:
        raise SequenceError(f"{path}: BED input needs the genome FASTA (--genome)")
    return bed_records(path, genome)


def read_fasta(path: str | Path) -> tuple[list[str], list[str]]:
    """Names and sequences of a FASTA file (plain or gzip)."""
    if not Path(path).is_file():
        raise FileNotFoundError(f"FASTA file not found: {path}")
    records = list(fasta_records(path))
    return [n for n, _ in records], [s for _, s in records]


def read_bed(path: str | Path, genome: str | Path) -> tuple[list[str], list[str]]:
    """Names and sequences of the regions of a BED file in a genome FASTA, reverse-complemented on '-'."""
    records = list(bed_records(Path(path), genome))
    return [n for n, _ in records], [s for _, s in records]


def first_length(path: str | Path, alphabet: str = "ACGT", genome: str | Path | None = None,
                 on_n: str = "fail") -> int | None:
    """The length of the first input sequence in `path` (None when it holds none)."""
    records = read_inputs(path, alphabet, genome, on_n)
    try:
        first = next(iter(records), None)
    finally:
        getattr(records, "close", lambda: None)()
    return None if first is None else len(first[1])


def count_records(path: str | Path) -> int:
    """Number of records in an input file, by a quick pass over it."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"input not found: {path}")
    kind = _kind(path)
    if kind == "npy":
        return int(np.load(path, mmap_mode="r").shape[0])
    if kind == "bed":
        return sum(1 for line in text_lines(path) if _is_bed_record(line))
    return sum(1 for line in text_lines(path) if line.startswith(">"))


def content_sha256(path: str | Path) -> str:
    """SHA-256 of a file's bytes: what a run read, whatever its path is later."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while block := f.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()


def batches(records: Iterable[tuple[str, str]], size: int) -> Iterator[list[tuple[str, str]]]:
    """Consecutive lists of at most `size` records."""
    it = iter(records)
    while batch := list(islice(it, size)):
        yield batch
