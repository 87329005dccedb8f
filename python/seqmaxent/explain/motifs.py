"""Motifs from MaxEnt samples: contiguous high-importance segments as PWMs, their aggregation
across inputs, MEME/JASPAR output, and matches against JASPAR with Tomtom (memelite)."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

THRESHOLD = 0.5  # bits of importance a position needs to be part of a motif
MIN_LENGTH = 5  # positions
MAX_GAP = 1  # low-importance positions bridged inside a motif
MAX_FIXED = 0.5  # an input with more of its positions above the threshold is frozen: no motif calls


@dataclass
class Motif:
    name: str
    pwm: np.ndarray  # (width, 4) base probabilities, columns A, C, G, T
    sites: int = 1  # segments aggregated into it
    start: int | None = None  # where it starts in its input (0-based), for one input's motif

    @property
    def span(self) -> str:
        """Its positions in its input, 1-based: '44-62'."""
        return f"{self.start + 1}-{self.start + len(self.pwm)}"

    @property
    def consensus(self) -> str:
        return "".join("ACGT"[i] for i in self.pwm.argmax(axis=1))


def information(pwm: np.ndarray) -> np.ndarray:
    """Information (bits, against a uniform background) of each column of a PWM (width, 4)."""
    return 2 + (pwm * np.log2(np.clip(pwm, 1e-9, 1))).sum(axis=1)


def to_acgt(p: np.ndarray, alphabet: str) -> np.ndarray:
    """Reorder the last axis from `alphabet` order to A, C, G, T."""
    return p[..., [alphabet.index(b) for b in "ACGT"]]


def segments(importance: np.ndarray, threshold: float = THRESHOLD, min_length: int = MIN_LENGTH,
             max_gap: int = MAX_GAP) -> list[tuple[int, int]]:
    """(start, end) half-open runs of positions with importance >= threshold, bridging gaps of up
    to max_gap positions, at least min_length long."""
    runs: list[list[int]] = []
    for p in np.flatnonzero(importance >= threshold):
        if runs and p - runs[-1][1] <= max_gap:
            runs[-1][1] = p + 1
        else:
            runs.append([p, p + 1])
    return [(a, b) for a, b in runs if b - a >= min_length]


def frozen(importance: np.ndarray, threshold: float = THRESHOLD) -> bool:
    """Whether most of an input's positions are fixed: beta is too high for its segments to be motifs."""
    return float(np.mean(importance >= threshold)) > MAX_FIXED


def extract(name: str, marginals: np.ndarray, importance: np.ndarray, alphabet: str, **kw) -> list[Motif]:
    """The motifs of one input: one PWM per high-importance segment, named NAME:START-END (1-based);
    none from a frozen input (:func:`frozen`)."""
    if frozen(importance, kw.get("threshold", THRESHOLD)):
        return []
    p = to_acgt(marginals, alphabet)
    return [Motif(f"{name}:{a + 1}-{b}", p[a:b], start=a) for a, b in segments(importance, **kw)]


def reverse_complement(pwm: np.ndarray) -> np.ndarray:
    return pwm[::-1, ::-1]


def _best_alignment(seed: np.ndarray, pwm: np.ndarray, min_overlap: int) -> tuple[float, int, bool]:
    """(correlation, offset of pwm in seed coordinates, reverse-complemented) of the best overlap."""
    best = (-1.0, 0, False)
    for rc in (False, True):
        q = reverse_complement(pwm) if rc else pwm
        for offset in range(-(len(q) - min_overlap), len(seed) - min_overlap + 1):
            a, b = max(0, offset), min(len(seed), offset + len(q))
            x, y = seed[a:b].ravel(), q[a - offset : b - offset].ravel()
            if x.std() > 0 and y.std() > 0:
                r = float(np.corrcoef(x, y)[0, 1])
                if r > best[0]:
                    best = (r, offset, rc)
    return best


def aggregate(motifs: list[Motif], min_correlation: float = 0.6, min_overlap: int = MIN_LENGTH,
              min_sites: int = 2) -> list[Motif]:
    """Consensus motifs across inputs: greedily, the most informative remaining motif is a seed,
    every motif whose best overlap (either strand) correlates >= min_correlation with it is aligned
    to it, and the aligned PWMs are averaged over the seed's columns."""
    left = sorted(motifs, key=lambda m: float(information(m.pwm).sum()), reverse=True)
    out: list[Motif] = []
    while left:
        seed = left.pop(0)
        total, count, members, rest = seed.pwm.copy(), np.ones(len(seed.pwm)), 1, []
        for m in left:
            r, offset, rc = _best_alignment(seed.pwm, m.pwm, min(min_overlap, len(m.pwm), len(seed.pwm)))
            if r < min_correlation:
                rest.append(m)
                continue
            q = reverse_complement(m.pwm) if rc else m.pwm
            a, b = max(0, offset), min(len(seed.pwm), offset + len(q))
            total[a:b] += q[a - offset : b - offset]
            count[a:b] += 1
            members += 1
        left = rest
        if members >= min_sites:
            out.append(Motif(f"consensus_{len(out) + 1}", total / count[:, None], members))
    return out


def write_meme(motifs: list[Motif], path: str | Path) -> None:
    """MEME minimal format."""
    lines = ["MEME version 4", "", "ALPHABET= ACGT", "", "strands: + -", "",
             "Background letter frequencies", "A 0.25 C 0.25 G 0.25 T 0.25", ""]
    for m in motifs:
        lines += [f"MOTIF {m.name}", f"letter-probability matrix: alength= 4 w= {len(m.pwm)} nsites= {m.sites} E= 0"]
        lines += [" ".join(f"{v:.6f}" for v in row) for row in m.pwm] + [""]
    Path(path).write_text("\n".join(lines))


def write_jaspar(motifs: list[Motif], path: str | Path, scale: int = 100) -> None:
    """JASPAR format (counts per base, the PWM times `scale`)."""
    lines = []
    for m in motifs:
        lines.append(f">{m.name}\t{m.consensus}")
        counts = np.round(m.pwm * scale).astype(int)
        lines += [f"{b}  [ " + " ".join(f"{c:4d}" for c in counts[:, i]) + " ]" for i, b in enumerate("ACGT")]
    Path(path).write_text("\n".join(lines) + "\n")


@dataclass(frozen=True)
class Match:
    query: str
    target_id: str
    target_name: str
    p_value: float
    q_value: float
    offset: int
    strand: str
    pwm: np.ndarray  # the target's PWM (width, 4), on the strand that matches


def jaspar(collection: str = "CORE", tax_group: str = "vertebrates", release: str | None = None):
    """(matrix ids, names, PWMs (width, 4)) of a JASPAR collection from pyjaspar's databases (latest release by default)."""
    from pyjaspar import jaspardb

    db = jaspardb(release=release) if release else jaspardb()
    found = db.fetch_motifs(collection=collection, tax_group=[tax_group], all_versions=False)
    pwms = []
    for m in found:
        counts = np.array([m.counts[b] for b in "ACGT"], float).T
        pwms.append(counts / counts.sum(axis=1, keepdims=True))
    return [m.matrix_id for m in found], [m.name for m in found], pwms, db.release


def bh_qvalues(p: np.ndarray) -> np.ndarray:
    """Benjamini-Hochberg q-values of each row's p-values."""
    p = np.atleast_2d(p)
    order = np.argsort(p, axis=1)
    ranked = np.take_along_axis(p, order, axis=1) * p.shape[1] / np.arange(1, p.shape[1] + 1)
    q = np.minimum.accumulate(ranked[:, ::-1], axis=1)[:, ::-1].clip(max=1.0)
    out = np.empty_like(q)
    np.put_along_axis(out, order, q, axis=1)
    return out


_warming: subprocess.Popen | None = None


def compiled() -> bool:
    """Whether memelite's Tomtom is in numba's on-disk cache (it compiles on first use otherwise)."""
    import importlib.util
    import os

    spec = importlib.util.find_spec("memelite")
    places = [Path(next(iter(spec.submodule_search_locations))) / "__pycache__"] if spec else []
    if os.environ.get("NUMBA_CACHE_DIR"):
        places.append(Path(os.environ["NUMBA_CACHE_DIR"]))
    return any(next(p.rglob("tomtom._tomtom-*.nbi"), None) is not None for p in places if p.is_dir())


def warm_up() -> bool:
    """Start compiling memelite's Tomtom (numba, cached on disk; about 40 s of one core, once on a
    new install) in a background process, so that :func:`match` finds it compiled; returns
    whether it started (not when already compiled, or already started)."""
    global _warming
    if _warming is None and not compiled():
        _warming = subprocess.Popen([sys.executable, "-c", "from seqmaxent.explain.motifs import _compile; _compile()"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        return True
    return False


def _compile() -> None:
    """Run Tomtom once on small random motifs (what :func:`warm_up` runs)."""
    import warnings

    from memelite import tomtom

    rng = np.random.default_rng(0)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        tomtom([rng.dirichlet(np.ones(4), 8).T], [rng.dirichlet(np.ones(4), 10).T for _ in range(30)])


def match(motifs: list[Motif], targets=None, top: int = 5) -> list[list[Match]]:
    """The `top` Tomtom matches of each motif among the targets (default: JASPAR CORE vertebrates)."""
    from memelite import tomtom

    if _warming is not None:
        _warming.wait()  # compiled in the background: load it from the cache rather than compile twice
    ids, names, pwms, _ = targets if targets is not None else jaspar()
    if not motifs:
        return []
    p, _, offsets, _, strands = tomtom([m.pwm.T for m in motifs], [t.T for t in pwms])
    q = bh_qvalues(p)
    result = []
    for i, m in enumerate(motifs):
        best = np.argsort(p[i])[:top]
        result.append([Match(m.name, ids[j], names[j], float(p[i, j]), float(q[i, j]), int(offsets[i, j]),
                             "-" if strands[i, j] else "+", reverse_complement(pwms[j]) if strands[i, j] else pwms[j])
                       for j in best])
    return result
