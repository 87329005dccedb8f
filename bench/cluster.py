"""Dask overhead: seqmaxent on 2 worker processes x 1 thread against 1 process x 2 threads on the
same machine, and the client's peak memory as inputs grow.

    python bench/cluster.py [--inputs 200] [--out bench/results]

Bundled CTCF network, random 101-bp inputs, the paper's sampler with 50 chains x 2,000 steps per
input (one round) for throughput; 4 chains x 200 steps per input for memory. Each measurement runs
in its own process. Writes cluster.json and cluster.md in --out. Needs seqmaxent[dask].
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
THROUGHPUT = dict(beta=50.0, sampler="metropolis", chains=50, steps=2000, period=100, burn_in=0, max_rounds=1)
MEMORY = dict(beta=50.0, sampler="metropolis", chains=4, steps=200, period=100, burn_in=0, max_rounds=1)


def measure(mode: str, inputs: int, settings: dict) -> dict:
    """One run in this process: 'local' (2 threads) or 'dask' (2 workers x 1 thread)."""
    import seqmaxent as sm
    from seqmaxent.io import bundled
    from seqmaxent.sampling.pipeline import sample_file

    folder = Path(tempfile.mkdtemp())
    rng = np.random.default_rng(0)
    (folder / "in.fa").write_text("".join(f">r{i}\n{''.join(rng.choice(list('ACGT'), 101))}\n" for i in range(inputs)))
    model = sm.Model(bundled.ctcf_model_path())
    client = None
    if mode == "dask":
        from seqmaxent.sampling.cluster import connect

        client = connect(workers=2)
    start = time.perf_counter()
    sample_file(model, folder / "in.fa", folder / "out.h5", client=client, threads=None if client else 2,
                batch_size=8, **settings)
    seconds = time.perf_counter() - start
    if client is not None:
        client.close()
    proposals = inputs * settings["chains"] * settings["steps"]
    return dict(mode=mode, inputs=inputs, seconds=seconds, proposals_per_s=proposals / seconds,
                client_peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)


def run(mode: str, inputs: int, settings: str) -> dict:
    out = subprocess.run([sys.executable, __file__, "--one", mode, str(inputs), settings], capture_output=True,
                         text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=200)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    parser.add_argument("--one", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        mode, inputs, settings = args.one
        print(json.dumps(measure(mode, int(inputs), THROUGHPUT if settings == "throughput" else MEMORY)))
        return
    rows = [run(mode, args.inputs, "throughput") for mode in ("local", "dask")]
    memory = [run("dask", n, "memory") for n in (200, 2000)]
    overhead = 1 - rows[1]["proposals_per_s"] / rows[0]["proposals_per_s"]
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "cluster.json").write_text(json.dumps(dict(throughput=rows, memory=memory, overhead=overhead), indent=1))
    md = ["| run | inputs | time (s) | proposals per second | client peak RSS (MB) |", "| --- | ---: | ---: | ---: | ---: |"]
    for r, label in zip(rows + memory, ["1 process x 2 threads", "Dask, 2 workers x 1 thread",
                                        "Dask, memory", "Dask, memory"]):
        md.append(f"| {label} | {r['inputs']:,} | {r['seconds']:.1f} | {r['proposals_per_s']:,.0f} | "
                  f"{r['client_peak_rss_mb']:.0f} |")
    text = "\n".join(md) + f"\n\nDask overhead: {overhead:.1%} of the single-process throughput.\n"
    (args.out / "cluster.md").write_text(text)
    print(text)


if __name__ == "__main__":
    main()
