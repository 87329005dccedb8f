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
from collections.abc import Iterable, Sequence
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


def _run(result) -> tuple[dict, list[str], np.ndarray, np.ndarray, np.ndarray, int]:
    """params, names, x0 (n, L), distances (n, samples), importance (n, L), chains of a Result or a results file."""
    if isinstance(result, (str, Path)):
        from ..io.store import load

        params, names, h5 = load(result)
        with h5:
            return (params, names, h5["x0"][:], h5["distances"][:], h5["importance"][:], h5["acceptance"].shape[1])
    names = result.names or [f"input_{i + 1}" for i in range(result.n_inputs)]
    return result.params, names, result.x0, result.distances, result.importance(), result.acceptance.shape[1]


def score_variants(result, variants: Iterable[Variant], model: Model | None = None) -> list[dict]:
    """One row (:data:`COLUMNS`) per variant, against the samples of its input in `result` (a
    :class:`Result` or a results file): d of the variant, its tail probability with a 95%
    interval and the effective draws behind it, the change of the explained output (alt minus
    ref, in the verdict's units), and the importance of its positions (bits, summed). An indel
    of unequal length is a row saying it is not supported. `model` defaults to the run's."""
    params, names, x0, distances, importance, chains = _run(result)
    if model is None:
        model = Model(params["model"], layout=params.get("layout"), alphabet=params["alphabet"], phi=params.get("phi"),
                      head=params.get("head"), class_names=params.get("class_names"))
    units, positions = params.get("units"), params.get("positions")
    scale = model.scale(units, positions)
    index = {name: i for i, name in enumerate(names)}
    rows, where, texts = [], [], {}
    for v in variants:
        row = dict.fromkeys(COLUMNS, "")
        row.update(input=v.input, variant=v.id, position=v.position, ref=v.ref, alt=v.alt)
        rows.append(row)
        if v.input not in index:
            raise SequenceError(f"{v} at {v.input}:{v.position}: no input named {v.input!r} in the results")
        i = index[v.input]
        if i not in texts:
            texts[i] = "".join("N" if c == UNKNOWN else model.alphabet[c] for c in x0[i])
        span = place(v, texts[i])
        if span is None:
            row["status"] = "not supported: only substitutions of equal length (SNV, MNV) of bases ACGT"
            continue
        where.append((len(rows) - 1, i, span, [model.alphabet.index(b) for b in v.alt]))
    if not where:
        return rows
    d, change = np.empty(len(where)), np.empty(len(where))
    for start in range(0, len(where), CHUNK):  # in chunks, so that memory stays flat however many variants
        part = slice(start, start + CHUNK)
        ref = x0[[i for _, i, _, _ in where[part]]]
        alt = ref.copy()
        for j, (_, _, span, bases) in enumerate(where[part]):
            alt[j, span] = bases
        codes = np.concatenate([alt, ref])
        phi, k = model.phi(codes, positions), len(ref)
        d[part] = np.linalg.norm(scale * (phi[:k] - phi[k:]), axis=1)
        found = verdict(model, model.predict_at(codes, positions).reshape(len(codes), -1), units, positions).values
        change[part] = found[:k] - found[k:]
    for k, (r, i, span, _) in enumerate(where):
        tail = (distances[i] >= d[k] - TIE * (1 + d[k])).reshape(chains, -1).astype(float)
        p, n = float(tail.mean()), float(ess(tail))
        low, high = wilson(p, n)
        rows[r].update(d=float(d[k]), tail_probability=p, tail_low=low, tail_high=high, tail_ess=n,
                       output_change=float(change[k]),
                       importance_bits=float(importance[i, span].sum()), status="ok")
    return rows


def write_tsv(rows: list[dict], out) -> None:
    """The rows as tab-separated text with a header (numbers to 4 significant digits)."""
    writer = csv.writer(out, delimiter="\t", lineterminator="\n")
    writer.writerow(COLUMNS)
    for row in rows:
        writer.writerow([f"{row[c]:.4g}" if isinstance(row[c], float) else row[c] for c in COLUMNS])
