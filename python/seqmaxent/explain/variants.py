"""Variant effects against the network's own null: is a change bigger than what the network
tolerates around x0?

The MaxEnt samples of x0 are the sequences the network treats as equivalent to it at this beta,
and their distances d(x) = ||s * (Phi(x) - Phi(x0))|| are the null. A variant's own distance
d(x_alt) is compared with it: the tail probability P(d_sample >= d(x_alt)) is small when the
variant moves the network further than almost anything in the ensemble, and near 1 where the
network does not care. Its Monte Carlo uncertainty comes from the effective sample size of the
indicator d_sample >= d(x_alt) over the chains (:func:`seqmaxent.explain.diagnostics.ess`): a 95% Wilson
interval with that many draws. Scoring needs only a finished run (a :class:`Result` or a results
file), so one run can be scored for many variants later.
"""

from __future__ import annotations

import csv
import gzip
import math
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from .diagnostics import ess
from ..errors import SequenceError
from ..network.model import Model
from ..io.sequences import UNKNOWN
from .verdict import verdict

COLUMNS = ["input", "variant", "position", "ref", "alt", "d", "tail_probability", "tail_low", "tail_high",
           "tail_ess", "output_change", "importance_bits", "status"]
Z = 1.959964  # 95% two-sided
TIE = 1e-5  # relative: a sample as far as the variant (the variant itself) counts, whatever float32 rounding
CHUNK = 512  # variants evaluated together: ONNX Runtime holds a batch's activations
ON_MISMATCH = ("fail", "skip")  # a REF that is not the input's (or a position outside it): an error, or a flagged row


@dataclass(frozen=True)
class Variant:
    """A substitution run of equal length (SNV or MNV) at a 1-based position of an input."""

    input: str
    position: int
    ref: str
    alt: str
    id: str = "."
    origin: str = field(default="", compare=False)  # "FILE: line N" when read from a file

    def __str__(self) -> str:
        return f"{self.origin + ': ' if self.origin else ''}variant {self.id}"


def _open_text(path: Path):
    return gzip.open(path, "rt") if path.suffix == ".gz" else open(path)


def read_variants(path: str | Path, names: Sequence[str]) -> list[Variant]:
    """Variants from a TSV (input name, 1-based position in that input, ref, alt[, id]; '#' lines
    and a header starting with 'input' skipped) or a VCF (.vcf, .vcf.gz): a VCF record is placed in
    the input named chrom:start-end (BED coordinates, as ``read_bed`` names inputs) that holds it,
    one row per ALT allele."""
    path = Path(path)
    vcf = path.name.endswith((".vcf", ".vcf.gz"))
    spans: dict[str, list[tuple[int, int, str]]] = {}
    if vcf:
        for name in names:
            chrom, _, rest = name.rpartition(":")
            start, _, end = rest.partition("-")
            if chrom and start.isdigit() and end.isdigit():
                spans.setdefault(chrom, []).append((int(start), int(end), name))
    known, out = set(names), []
    with _open_text(path) as f:
        for line_no, line in enumerate(f, 1):
            if line.startswith("#") or not line.strip():
                continue
            cols = line.rstrip("\n").split("\t")
            where = f"{path}: line {line_no}"
            if vcf:
                if len(cols) < 5:
                    raise SequenceError(f"{where}: a VCF record needs CHROM, POS, ID, REF and ALT")
                chrom, pos, vid, ref, alts = cols[:5]
                inside = [(s, n) for s, e, n in spans.get(chrom, []) if s < int(pos) <= e]
                if not inside:
                    raise SequenceError(f"{where}: {chrom}:{pos} is in no input (inputs named chrom:start-end, BED "
                                        f"coordinates, are matched)")
                start, name = inside[0]
                out += [Variant(name, int(pos) - start, ref.upper(), alt.upper(), vid, where) for alt in alts.split(",")]
                continue
            if cols[0] == "input":
                continue
            if len(cols) < 4 or not cols[1].isdigit():
                raise SequenceError(f"{where}: expected input, 1-based position, ref, alt[, id] separated by tabs")
            if cols[0] not in known:
                raise SequenceError(f"{where}: no input named {cols[0]!r} in the results")
            out.append(Variant(cols[0], int(cols[1]), cols[2].upper(), cols[3].upper(), cols[4] if len(cols) > 4 else ".",
                               where))
    return out


def place(v: Variant, seq: str) -> slice | None:
    """Where `v` sits in its input `seq` (bases as text), or None for a variant that is not a
    substitution of equal length; a position outside the input, or a REF that is not the input's,
    is an error naming the variant."""
    if len(v.ref) != len(v.alt) or not v.ref or set(v.ref + v.alt) - set("ACGT"):
        return None
    first = v.position - 1
    if not 0 <= first <= len(seq) - len(v.ref):
        raise SequenceError(f"{v}: position {v.position} (+{len(v.ref)} bases) is outside "
                            f"{v.input} (1-{len(seq)})")
    span = slice(first, first + len(v.ref))
    if seq[span].upper() != v.ref:
        raise SequenceError(f"{v}: {v.input} has {seq[span].upper()} at {v.position}, not the REF {v.ref}")
    return span


def wilson(p: float, n: float) -> tuple[float, float]:
    """95% Wilson score interval of a proportion p seen in n (effective) draws."""
    centre = (p + Z * Z / (2 * n)) / (1 + Z * Z / n)
    half = Z * math.sqrt(p * (1 - p) / n + Z * Z / (4 * n * n)) / (1 + Z * Z / n)
    return max(0.0, centre - half), min(1.0, centre + half)


class _Runs:
    """x0, distances and importance of a Result's or a results file's inputs, read a few inputs at
    a time (a file stays open until :meth:`close`)."""

    def __init__(self, result):
        if isinstance(result, (str, Path)):
            from ..io.store import load

            self.params, self.names, self._h5 = load(result)
            self._arrays = self._h5
        else:
            self.params, self._h5 = result.params, None
            self.names = result.names or [f"input_{i + 1}" for i in range(result.n_inputs)]
            self._arrays = dict(x0=result.x0, distances=result.distances, importance=result.importance())
        self.chains = (self._h5["acceptance"] if self._h5 is not None else result.acceptance).shape[1]

    def take(self, inputs: Iterable[int]) -> dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """{input: (x0, distances, importance)} of the `inputs` (indices)."""
        unique = sorted(set(inputs))
        x0, d, imp = (self._arrays[k][unique] for k in ("x0", "distances", "importance"))
        return {i: (x0[j], d[j], imp[j]) for j, i in enumerate(unique)}

    def close(self) -> None:
        if self._h5 is not None:
            self._h5.close()


def iter_scores(result, variants: Iterable[Variant], model: Model | None = None,
                on_mismatch: str = "fail") -> Iterator[dict]:
    """The rows of :func:`score_variants`, in the variants' order, scored :data:`CHUNK` at a time
    (only those variants' inputs read), so memory stays flat however many there are."""
    if on_mismatch not in ON_MISMATCH:
        raise ValueError(f"on_mismatch must be one of {', '.join(ON_MISMATCH)}, not {on_mismatch!r}")
    runs = _Runs(result)
    try:
        params = runs.params
        if model is None:
            model = Model(params["model"], layout=params.get("layout"), alphabet=params["alphabet"],
                          phi=params.get("phi"), head=params.get("head"), class_names=params.get("class_names"))
        index = {name: i for i, name in enumerate(runs.names)}
        chunk: list[Variant] = []
        for v in variants:
            if v.input not in index:
                raise SequenceError(f"{v} at {v.input}:{v.position}: no input named {v.input!r} in the results")
            chunk.append(v)
            if len(chunk) == CHUNK:
                yield from _score(chunk, runs, index, model, on_mismatch)
                chunk = []
        if chunk:
            yield from _score(chunk, runs, index, model, on_mismatch)
    finally:
        runs.close()


def _score(chunk: list[Variant], runs: _Runs, index: dict[str, int], model: Model, on_mismatch: str) -> list[dict]:
    """The rows of a chunk of variants, their alt and ref evaluated as one batch."""
    units, positions = runs.params.get("units"), runs.params.get("positions")
    data = runs.take(index[v.input] for v in chunk)
    texts = {i: "".join("N" if c == UNKNOWN else model.alphabet[c] for c in x0) for i, (x0, _, _) in data.items()}
    rows, where = [], []
    for v in chunk:
        row = dict.fromkeys(COLUMNS, "")
        row.update(input=v.input, variant=v.id, position=v.position, ref=v.ref, alt=v.alt)
        rows.append(row)
        i = index[v.input]
        try:
            span = place(v, texts[i])
        except SequenceError as e:
            if on_mismatch == "fail":
                raise
            row["status"] = f"skipped: {e}"
            continue
        if span is None:
            row["status"] = "not supported: only substitutions of equal length (SNV, MNV) of bases ACGT"
            continue
        where.append((row, i, span, [model.alphabet.index(b) for b in v.alt]))
    if not where:
        return rows
    ref = np.stack([data[i][0] for _, i, _, _ in where])
    alt = ref.copy()
    for j, (_, _, span, bases) in enumerate(where):
        alt[j, span] = bases
    codes, k = np.concatenate([alt, ref]), len(ref)
    phi = model.phi(codes, positions)
    d = np.linalg.norm(model.scale(units, positions) * (phi[:k] - phi[k:]), axis=1)
    found = verdict(model, model.predict_at(codes, positions).reshape(len(codes), -1), units, positions).values
    for j, (row, i, span, _) in enumerate(where):
        _, distances, importance = data[i]
        tail = (distances >= d[j] - TIE * (1 + d[j])).reshape(runs.chains, -1).astype(float)
        p, n = float(tail.mean()), float(ess(tail))
        low, high = wilson(p, n)
        row.update(d=float(d[j]), tail_probability=p, tail_low=low, tail_high=high, tail_ess=n,
                   output_change=float(found[j] - found[k + j]), importance_bits=float(importance[span].sum()),
                   status="ok")
    return rows


def score_variants(result, variants: Iterable[Variant], model: Model | None = None,
                   on_mismatch: str = "fail") -> list[dict]:
    """One row (:data:`COLUMNS`) per variant, against the samples of its input in `result` (a
    :class:`Result` or a results file): d of the variant, its tail probability with a 95%
    interval and the effective draws behind it, the change of the explained output (alt minus
    ref, in the verdict's units), and the importance of its positions (bits, summed). An indel
    of unequal length is a row saying it is not supported. A REF that is not the input's, or a
    position outside it, is an error naming the variant, or with ``on_mismatch="skip"`` a row
    saying so. `model` defaults to the run's. :func:`iter_scores` gives the same rows as they are
    scored."""
    return list(iter_scores(result, variants, model, on_mismatch))


def write_tsv(rows: Iterable[dict], out) -> int:
    """The rows as tab-separated text with a header (numbers to 4 significant digits), each
    written as it comes; returns their number."""
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(COLUMNS)
    n = 0
    for n, row in enumerate(rows, 1):
        writer.writerow([f"{row[c]:.4g}" if isinstance(row[c], float) else row[c] for c in COLUMNS])
    return n
