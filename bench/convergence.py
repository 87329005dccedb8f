"""Convergence per network evaluation of each sampler on real CTCF peaks.

    python bench/convergence.py [--inputs 40] [--betas 50 100] [--threads 2] [--out bench/results]

The bundled CTCF network, bound sequences of the held-out `valid.fa` of Zeng et al. 2016 (in
../shared/data), mu for 42% GC. For each sampler setting at about the same budget (network
evaluations per input), the convergence check of `seqmaxent.explain.diagnostics.check` per input: split
R-hat of d and of every changing position's "x0's base retained" indicator <= 1.05 and effective
sample sizes >= 100. Writes convergence.json and convergence.md in --out.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np

import seqmaxent as sm
from seqmaxent.io import bundled
from seqmaxent.explain import diagnostics
from seqmaxent.io.fasta import fasta_records

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "ctcf_zeng2016" / "valid.fa"

# name -> sample() settings; budgets in network evaluations per input (burn-in included)
SETTINGS = {
    "metropolis, 50 x 10,000 (the paper's sampler, old default)":
        dict(sampler="metropolis", chains=50, steps=10_000, period=100, burn_in=0, max_rounds=1),
    "metropolis, 8 x 300,000":
        dict(sampler="metropolis", chains=8, steps=240_000, period=1200, burn_in=60_000, max_rounds=1),
    "heat-bath, 8 x 75,000":
        dict(sampler="metropolis", moves="heat-bath", chains=8, steps=60_000, period=300, burn_in=15_000, max_rounds=1),
    "tempering, 8 ladders x 8 rungs x 37,500":
        dict(sampler="tempering", chains=8, steps=30_000, period=150, burn_in=7_500, max_rounds=1),
    "tempering + heat-bath, 8 x 8 x 9,375":
        dict(sampler="tempering", moves="heat-bath", chains=8, steps=7_500, period=75, burn_in=1_875, max_rounds=1),
    "tempering in rounds, ladder not tuned": dict(adapt=False),
    "tempering in rounds until converged (the default)": dict(),
}
# the settings also measured at betas other than the first
AT_EVERY_BETA = ("metropolis, 8 x 300,000", "tempering in rounds, ladder not tuned",
                 "tempering in rounds until converged (the default)")


def bound_peaks(n: int) -> tuple[list[str], list[str]]:
    records = [(name, seq) for name, seq in fasta_records(DATA) if not name.endswith("_shuf")][:n]
    return [name for name, _ in records], [seq for _, seq in records]


def run(setting: dict, seqs: list[str], beta: float, threads: int) -> dict:
    model = sm.Model(bundled.ctcf_model_path())
    start = time.perf_counter()
    res = sm.sample(model, seqs, beta=beta, mu=sm.gc_mu(0.42), seed=0, threads=threads, **setting)
    seconds = time.perf_counter() - start
    chains = res.acceptance.shape[1]
    m = diagnostics.measure(res.samples.reshape(len(seqs), chains, -1, res.length), res.x0,
                            res.distances.reshape(len(seqs), chains, -1))
    rhat = np.maximum(m["rhat"], m["rhat_positions"])
    ess = np.minimum(m["ess"], m["ess_positions"])
    return dict(seconds=seconds, evaluations=res.evaluations.tolist(), rhat=rhat.tolist(), ess=ess.tolist(),
                converged=diagnostics.check(res.samples.reshape(len(seqs), chains, -1, res.length), res.x0,
                                            res.distances.reshape(len(seqs), chains, -1)).tolist(),
                acceptance=float(res.acceptance.mean()),
                swap_acceptance=None if res.swap_acceptance is None else res.swap_acceptance.mean(axis=0).tolist())


def table(results: dict[float, dict]) -> str:
    lines = ["| beta | sampler | evaluations per input (M, median) | inputs converged | worst R-hat (median / max) | "
             "min ESS per 1,000 evaluations (median) | same, on the inputs 8 x 300,000 Metropolis leaves unconverged | "
             "min ESS per second (median) |",
             "| ---: | --- | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for beta, by_name in results.items():
        reference = by_name["metropolis, 8 x 300,000"]
        hard = [i for i, ok in enumerate(reference["converged"]) if not ok]
        for name, r in by_name.items():
            ev, ess, n = np.array(r["evaluations"]), np.array(r["ess"]), len(r["ess"])
            per_k = ess / ev * 1000
            per_s = ess / (r["seconds"] / n)
            lines.append(f"| {beta:g} | {name} | {np.median(ev) / 1e6:.2f} | {sum(r['converged'])}/{n} | "
                         f"{np.median(r['rhat']):.3f} / {np.max(r['rhat']):.3f} | {np.median(per_k):.3f} | "
                         f"{np.median(per_k[hard]) if hard else float('nan'):.3f} ({len(hard)}) | {np.median(per_s):.1f} |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--inputs", type=int, default=40)
    parser.add_argument("--betas", type=float, nargs="+", default=[50.0, 100.0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    if not DATA.exists():
        raise SystemExit(f"{DATA} not found: this benchmark needs the shared CTCF data")
    names, seqs = bound_peaks(args.inputs)
    results: dict[float, dict] = {}
    for k, beta in enumerate(args.betas):
        results[beta] = {}
        for name, setting in SETTINGS.items():
            if k > 0 and name not in AT_EVERY_BETA:
                continue
            r = results[beta][name] = run(setting, seqs, beta, args.threads)
            print(f"beta {beta:g}, {name}: {sum(r['converged'])}/{len(seqs)} converged, {r['seconds']:.0f} s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "convergence.json").write_text(json.dumps(dict(
        inputs=names, threads=args.threads, settings=SETTINGS,
        results={f"{beta:g}": by_name for beta, by_name in results.items()}), indent=1))
    md = (f"Bundled CTCF network, the first {len(seqs)} bound peaks of valid.fa, mu for 42% GC, {args.threads} threads; "
          f"converged: R-hat <= {diagnostics.RHAT_LIMIT} and ESS >= {diagnostics.MIN_ESS} for d and every changing "
          f"position.\n\n" + table(results) + "\n")
    (args.out / "convergence.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
