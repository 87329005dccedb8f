"""Write the bundled example sequences: CTCF sites drawn from JASPAR MA0139 planted into random
101-bp background (GC 42%), on either strand. Needs pyjaspar.

    python examples/make_ctcf_examples.py [--out python/seqmaxent/data/ctcf_examples.fa]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from pyjaspar import jaspardb

ROOT = Path(__file__).resolve().parents[1]
LENGTH, GC = 101, 0.42
# (offset of the site's first base, strand) of each example
SITES = [(43, "+"), (20, "-"), (70, "+"), (60, "+"), (55, "-"), (35, "+")]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=ROOT / "python" / "seqmaxent" / "data" / "ctcf_examples.fa")
    args = p.parse_args()
    db = jaspardb()
    motif = db.fetch_motif_by_id("MA0139")
    counts = np.array([motif.counts[b] for b in "ACGT"], dtype=float).T  # (width, 4)
    probs = counts / counts.sum(axis=1, keepdims=True)
    rng = np.random.default_rng(2017)
    background = np.array([(1 - GC) / 2, GC / 2, GC / 2, (1 - GC) / 2])
    lines = []
    for i, (offset, strand) in enumerate(SITES, start=1):
        seq = rng.choice(4, LENGTH, p=background)
        site = np.array([rng.choice(4, p=row) for row in probs])
        seq[offset : offset + len(site)] = site if strand == "+" else 3 - site[::-1]
        text = "".join("ACGT"[b] for b in seq)
        lines += [f">ctcf_example_{i} {motif.matrix_id} site {offset + 1}-{offset + len(site)} ({strand}) {db.release}", text]
    args.out.write_text("\n".join(lines) + "\n")
    print(f"wrote {len(SITES)} sequences to {args.out}")


if __name__ == "__main__":
    main()
