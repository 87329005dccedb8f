"""Long inputs through a region of interest: wall time per input to a converged result.

    python bench/long_inputs.py [--cases bpnet spliceai] [--threads 2] [--out bench/results]

bpnet: bpnet-lite's `BPNet` at its published size (64 filters, 8 dilated residual layers, 2,114 bp
in, 1,000 profile positions out), random weights (torch seed 0), control tracks held at zero
(`seqmaxent.network.export.without_controls`); d from its profile logits (strand 1) at the 11
central output positions (495-505), sampling the input's central 300 bp (908-1207); a random
input with 42% GC.
spliceai: SpliceAI-10k's published weights (PyPI `spliceai`, `spliceai1.h5`, exported with
`seqmaxent.export_keras`); d from the donor-vs-neither log-odds at the centre; sampling the 200 bp
around the donor of `examples/spliceai_donor.py`'s designed exon (4901-5100 of 10,001).

Each case runs `seqmaxent.sample` in rounds until converged (at most 4 rounds; 5 for spliceai, as in
`examples/spliceai_donor.py`) with the default steps for its region, as 8 independent Metropolis
chains and (bpnet) as 8 tempering ladders of 4 rungs (the default 8 rungs cost 8 times the proposals
of one chain per round), and records the wall time, the network evaluations, proposals per second,
whether the input converged (R-hat <= 1.05 and ESS >= 100 for d and every changing position of the
region) and the core's FLOPs per proposal (the changed rows of every layer that Phi reads, averaged
over the region's positions) against a full pass. Writes long_inputs.json and long_inputs.md in
--out (`--cases` reruns some cases and keeps the others).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass, field
from importlib.util import find_spec
from pathlib import Path

import numpy as np

import seqmaxent as sm
from seqmaxent.explain import diagnostics
from seqmaxent.io import region

HERE = Path(__file__).resolve().parent
MODELS = HERE / "results" / "models"
sys.path.insert(0, str(HERE.parent / "examples"))
sys.path.insert(0, str(HERE))
from run import machine  # noqa: E402


@dataclass(frozen=True)
class Case:
    length: int
    region: str
    beta: float
    units: object
    positions: object
    head: str | None = None
    class_names: list[str] | None = None
    target_minutes: float = 2.0
    runs: dict = field(default_factory=dict)  # name -> sample() settings


def bpnet_model() -> Path:
    import bpnetlite
    import torch

    from seqmaxent.network.export import without_controls

    path = MODELS / "bpnet_lite_2114.onnx"
    if not path.exists():
        torch.manual_seed(0)
        net = bpnetlite.BPNet(n_filters=64, n_layers=8, n_control_tracks=0, verbose=False).eval()
        sm.export_torch(without_controls(net), 2114, path, output_names=["profile", "counts"])
    return path


def spliceai_model() -> Path:
    path = MODELS / "spliceai1.onnx"
    if not path.exists():
        import keras

        spec = find_spec("spliceai")  # the package's own import needs pkg_resources; the weights do not
        if spec is None:
            raise SystemExit("the spliceai case needs SpliceAI's weights: pip install spliceai")
        weights = Path(spec.origin).parent / "models" / "spliceai1.h5"
        sm.export_keras(keras.models.load_model(str(weights), compile=False), 10_001, path)
    return path


def bpnet_input() -> str:
    rng = np.random.default_rng(0)
    return "".join(rng.choice(list("ACGT"), 2114, p=[0.29, 0.21, 0.21, 0.29]))


def spliceai_input() -> str:
    from spliceai_donor import designed_exon

    return designed_exon()


METROPOLIS = dict(sampler="metropolis", chains=8)
TEMPERING = dict(sampler="tempering", chains=8, rungs=4)
CASES = {
    "bpnet": (bpnet_model, bpnet_input, Case(2114, "908-1207", 50.0, 0, range(495, 506), head="profile",
                                             runs={"metropolis, 8 chains": METROPOLIS, "tempering, 8 chains x 4 rungs": TEMPERING})),
    "spliceai": (spliceai_model, spliceai_input, Case(10_001, "4901-5100", 8.0, (2, 0), 1, target_minutes=20.0,
                                                      class_names=["neither", "acceptor", "donor"],
                                                      runs={"metropolis, 8 chains": dict(METROPOLIS, max_rounds=5)})),
}


def measure(model: sm.Model, seq: str, case: Case, settings: dict, threads: int) -> dict:
    start = time.perf_counter()
    res = sm.sample(model, [seq], beta=case.beta, units=case.units, positions=case.positions, region=case.region,
                    threads=threads, seed=0, **settings)
    seconds = time.perf_counter() - start
    chains = res.acceptance.shape[1]
    per_chain = res.samples.reshape(1, chains, -1, res.length), res.x0, res.distances.reshape(1, chains, -1)
    m = diagnostics.measure(*per_chain)
    return dict(seconds=seconds, evaluations=int(res.evaluations[0]), proposals_per_s=res.evaluations[0] / seconds,
                converged=bool(res.converged[0]), rounds=int(res.rounds[0]), steps=res.params["steps"],
                rhat=float(max(m["rhat"][0], m["rhat_positions"][0])), ess=float(min(m["ess"][0], m["ess_positions"][0])),
                acceptance=float(res.acceptance.mean()), kept_class=float(res.kept_class[0]),
                prediction=float(np.ravel(res.prediction)[0]))


def table(results: dict) -> str:
    lines = ["| case | sampler | steps (first round) | rounds | evaluations | wall time | target | proposals/s | converged | "
             "R-hat (worst) | ESS (least) | FLOPs/proposal (full pass) |", "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | ---: | ---: | ---: |"]
    for name, case in results.items():
        for run, r in case["runs"].items():
            lines.append(f"| {name} | {run} | {r['steps']:,} | {r['rounds']} | {r['evaluations'] / 1e6:.2f} M | "
                         f"{r['seconds'] / 60:.1f} min | {case['target_minutes']:g} min | {r['proposals_per_s']:,.0f} | "
                         f"{'yes' if r['converged'] else 'no'} | {r['rhat']:.3f} | {r['ess']:.0f} | "
                         f"{case['flops'][0] / 1e6:,.1f} M ({case['flops'][1] / 1e6:,.0f} M) |")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--cases", nargs="+", choices=list(CASES), default=list(CASES))
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--out", type=Path, default=HERE / "results")
    args = parser.parse_args()
    MODELS.mkdir(parents=True, exist_ok=True)
    saved = args.out / "long_inputs.json"
    results = json.loads(saved.read_text())["results"] if saved.exists() else {}
    for name in args.cases:
        make_model, make_input, case = CASES[name]
        model = sm.Model(make_model(), head=case.head, class_names=case.class_names)
        seq = make_input()
        proposed = np.flatnonzero(region.mask(case.region, case.length)).tolist()
        flops = model.engine(case.length, "cpu", 1, True, case.positions).flops(proposed)
        out = results[name] = dict(region=case.region, beta=case.beta, target_minutes=case.target_minutes,
                                   flops=list(flops), runs={})
        for run, settings in case.runs.items():
            print(f"{name}, {run}...", flush=True)
            out["runs"][run] = r = measure(model, seq, case, settings, args.threads)
            print(f"  {r['seconds'] / 60:.1f} min, converged {r['converged']} (R-hat {r['rhat']:.3f}, "
                  f"ESS {r['ess']:.0f}), {r['proposals_per_s']:,.0f} proposals/s", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    host = machine()
    saved.write_text(json.dumps(dict(threads=args.threads, machine=host, results=results), indent=1))
    md = (f"{host['cpu']}, {host['cores']} cores, kernel levels {', '.join(host['kernel_levels'])}; {host['os']}; "
          f"{args.threads} threads; one input per case; converged: R-hat <= "
          f"{diagnostics.RHAT_LIMIT} and ESS >= {diagnostics.MIN_ESS} for d and every changing position of the region. "
          f"FLOPs/proposal: the core's incremental update (mean over the region's positions), against a full pass.\n\n"
          + table(results) + "\n")
    (args.out / "long_inputs.md").write_text(md)
    print(md)


if __name__ == "__main__":
    main()
