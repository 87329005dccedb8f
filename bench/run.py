"""Proposals per second of seqmaxent against plain PyTorch and onnxruntime-Python samplers.

    python bench/run.py [--networks ctcf_random basset] [--threads 1 2] [--chains 500] [--out bench/results]

Each measurement runs in its own process (clean thread settings, its own peak memory) and is the
best of 3 (a shared machine only slows runs down); seqmaxent's are differences of two run lengths,
so starting the chains is left out, and the first call's set-up (reading the model, extracting
the plan, the load-time check against ONNX Runtime, building the engine) is reported on its own.
seqmaxent's own rows are measured at every kernel level this CPU runs (SEQMAXENT_KERNELS). The
`load` part measures seqmaxent and PyTorch beside 0, 1 and 2 busy neighbours (CPU-bound
processes started here) on the CTCF network with random weights. The `memory` part measures the
peak memory of `seqmaxent sample` on growing numbers of inputs (results are streamed to HDF5, so
it must stay flat). Writes results.json and results.md in --out (`--parts` reruns some parts and
keeps the others; `--networks`, `--methods` and `--threads` rerun those rows and keep the others).
Needs PyTorch (pip install 'seqmaxent[torch]').
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
from networks import NETWORKS  # noqa: E402

METHODS = ["seqmaxent", "seqmaxent-full", "seqmaxent-bench", "pytorch", "onnxruntime-python"]
KERNEL_METHODS = {"seqmaxent", "seqmaxent-bench"}  # the rows the core's kernel level changes
SPEED_NETWORKS = [n for n in NETWORKS if n != "ctcf"]  # ctcf_random is the same architecture, from its file
REPEATS = 3
LEVELS = ["generic", "avx2", "avx512"]  # kernel levels, lowest first
LOAD_NETWORK, LOAD_METHODS, LOAD_BUSY = "ctcf_random", ["seqmaxent", "seqmaxent-full", "pytorch"], [0, 1, 2]


def measure(method: str, network: str, threads: int, chains: int, beta: float, cache: Path) -> dict | None:
    """One measurement, in this process (None: the method does not apply to the network)."""
    import networks
    import reference

    import seqmaxent as sm
    from seqmaxent import _core
    from seqmaxent.network import runtime

    net, spec, onnx_path = networks.build(network, cache)
    if method == "pytorch" and not spec.sequential:
        return None
    chains = spec.chains or chains
    x0 = np.random.default_rng(1).integers(0, 4, spec.length).astype(np.uint8)
    fast = method in ("seqmaxent", "seqmaxent-bench")
    steps = spec.steps["fast" if fast else "full"]
    result = dict(method=method, network=network, threads=threads, chains=chains, steps=steps, beta=beta,
                  kernels=_core.kernel_level() if method in KERNEL_METHODS else "-")
    start = time.perf_counter()
    model = sm.Model(onnx_path, layout=spec.layout, head=spec.head)
    scale = model.scale(spec.units)
    if method in ("seqmaxent", "seqmaxent-full"):
        kw = dict(beta=beta, units=spec.units, chains=chains, burn_in=0, threads=threads, incremental=fast,
                  sampler="metropolis", max_rounds=1)
        sm.sample(model, sm.decode(x0[None]), steps=2, period=1, **kw)  # the first call builds the engine
        result["setup_s"] = time.perf_counter() - start
        rates = []
        for _ in range(REPEATS):
            seconds = []
            for n in (steps, 2 * steps):
                start = time.perf_counter()
                res = sm.sample(model, sm.decode(x0[None]), steps=n, period=n, **kw)
                seconds.append(time.perf_counter() - start)
            rates.append(chains * steps / (seconds[1] - seconds[0]))
        result["proposals_per_s"] = max(rates)
        result["acceptance"] = float(res.acceptance.mean())
        result["path"] = res.params["evaluation"]
    elif method == "seqmaxent-bench":
        plan = cache / f"{network}-plan"
        model.save_plan(plan, units=spec.units)
        binary = shutil.which("seqmaxent-bench") or str(Path(sys.executable).parent / "seqmaxent-bench")
        out = subprocess.run([binary, "--plan", str(plan), "--ort", runtime.library_path(), "--chains", str(chains),
                              "--steps", str(steps), "--threads", str(threads), "--beta", str(beta)],
                             check=True, capture_output=True, text=True)
        result.update(json.loads(out.stdout))
    elif method == "pytorch":
        result["proposals_per_s"] = max(reference.torch_sampler(networks.phi_net(net), x0, scale, beta, chains, steps,
                                                                threads) for _ in range(REPEATS))
    elif method == "onnxruntime-python":
        phi_model = model._phi_model(model.positions()).SerializeToString()
        result["proposals_per_s"] = max(reference.onnxruntime_sampler(phi_model, x0, scale, beta, chains, steps, threads,
                                                                      spec.layout) for _ in range(REPEATS))
    incremental, full = model.engine(spec.length, "cpu", 1, True).flops()
    result["flops_per_proposal"] = incremental if fast else full
    result["flops_full_pass"] = full
    result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    if method == "seqmaxent-bench":
        result["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    return result


def run_one(method: str, network: str, threads: int, beta: float, args, kernels: str | None = None,
            busy: int = 0) -> dict | None:
    """`measure` in a fresh process, at a kernel level (None: the best), beside `busy` CPU-bound processes."""
    env = {**os.environ, "OMP_NUM_THREADS": str(threads)}
    env.pop("SEQMAXENT_KERNELS", None)
    if kernels is not None:
        env["SEQMAXENT_KERNELS"] = kernels
    neighbours = [subprocess.Popen([sys.executable, "-c", "while True: pass"]) for _ in range(busy)]
    try:
        out = subprocess.run([sys.executable, __file__, "--one", method, network, str(threads), "--chains", str(args.chains),
                              "--beta", str(beta), "--out", str(args.out)], capture_output=True, text=True, env=env)
    finally:
        for p in neighbours:
            p.kill()
            p.wait()
    if out.returncode:
        print(out.stderr, file=sys.stderr)
        raise SystemExit(f"{method} on {network} failed")
    r = json.loads(out.stdout.strip().splitlines()[-1])
    if r is not None:
        r["busy"] = busy
        print(f"{network:12s} beta {beta:<5g} {method:19s} {r['kernels']:7s} {threads} threads, {busy} busy: "
              f"{r['proposals_per_s']:12,.0f} proposals/s", flush=True)
    return r


def machine() -> dict:
    """The CPU model, core count, kernel levels and OS kernel of this machine."""
    from seqmaxent import _core

    model = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                  if line.startswith("model name")), platform.processor()) if Path("/proc/cpuinfo").exists() else ""
    return dict(cpu=model, cores=os.cpu_count(), kernel_levels=_core.kernel_levels(), os=platform.platform())


GPU_CHAINS = {"cuda": [2048, 8192, 32768], "cpu": [256]}
GPU_STEPS = {"cuda": {"ctcf": 200, "basset": 50}, "cpu": {"ctcf": 200, "basset": 50}}


def gpu_measure(network: str, chains: int, cache: Path, provider: str) -> list[dict]:
    """On the GPU: seqmaxent's resident sampler (provider="cuda") with the incremental and the
    whole-network step, the plain PyTorch sampler with every tensor on the device, and ONNX
    Runtime's forward pass alone, for `chains` chains. With provider "cpu", the same on ONNX
    Runtime's CPU provider (a check of this script, and of the steps' relative cost, without a GPU)."""
    import networks
    import reference
    import torch

    import seqmaxent as sm

    net, spec, onnx_path = networks.build(network, cache)
    model = sm.Model(onnx_path, layout=spec.layout, head=spec.head)
    x0 = np.random.default_rng(1).integers(0, 4, spec.length).astype(np.uint8)
    steps = GPU_STEPS[provider][network]
    device = torch.cuda.get_device_name(0) if provider == "cuda" else f"CPU provider, {os.cpu_count()} cores"
    row = dict(network=network, chains=chains, steps=steps, device=device)
    out = []
    for incremental in (True, False):
        kw = dict(beta=400.0, units=spec.units, chains=chains, burn_in=0, sampler="metropolis", max_rounds=1, provider=provider,
                  resident=True, incremental=incremental)
        sm.sample(model, sm.decode(x0[None]), steps=2, period=1, **kw)  # build the engine
        seconds = []
        for n in (steps, 2 * steps):  # the difference leaves out starting the chains and reading results
            start = time.perf_counter()
            res = sm.sample(model, sm.decode(x0[None]), steps=n, period=n, **kw)
            seconds.append(time.perf_counter() - start)
        step = "incremental step" if incremental else "whole-network step"
        out.append(dict(row, method=f"seqmaxent {provider} resident, {step}", per_s=chains * steps / (seconds[1] - seconds[0]),
                        path=res.params["evaluation"]))
    if spec.sequential and provider == "cuda":
        out.append(dict(row, method="pytorch on the GPU", per_s=reference.torch_sampler(
            networks.phi_net(net), x0, model.scale(spec.units), 400.0, chains, steps, 1, "cuda")))
    shape = (4, spec.length) if spec.layout == "NCL" else (spec.length, 4)
    out.append(dict(row, method="onnxruntime forward alone (passes/s)", per_s=reference.onnxruntime_forward(
        model._phi_model(model.positions()).SerializeToString(), shape, chains, steps, provider)))
    return out


MEMORY_INPUTS = [100, 1000, 5000]


def sample_memory(inputs: int, cache: Path) -> dict:
    """Peak RSS of the command line sampling `inputs` random 101-bp sequences with the CTCF net."""
    import networks

    _, spec, onnx_path = networks.build("ctcf", cache)
    length = spec.length
    fasta = cache / f"random-{inputs}.fa"
    rng = np.random.default_rng(inputs)
    fasta.write_text("".join(f">s{i}\n{''.join(rng.choice(list('ACGT'), length))}\n" for i in range(inputs)))
    out = cache / f"random-{inputs}.h5"
    out.unlink(missing_ok=True)
    cli = shutil.which("seqmaxent") or str(Path(sys.executable).parent / "seqmaxent")
    start = time.perf_counter()
    subprocess.run([cli, "sample", str(onnx_path), str(fasta), "-o", str(out), "--beta", "50", "--chains", "20",
                    "--steps", "200", "--period", "20", "--sampler", "metropolis", "--max-rounds", "1", "--layout", "NCL",
                    "--quiet"], check=True)
    return dict(inputs=inputs, chains=20, steps=200, seconds=time.perf_counter() - start,
                peak_rss_mb=resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024,
                output_mb=out.stat().st_size / 2**20)


def table(rows: list[dict]) -> str:
    lines = ["| network | beta | method | kernels | threads | proposals/s | acceptance | vs PyTorch | vs full pass | "
             "FLOPs/proposal | GFLOP/s | set-up (s) | peak RSS (MB) |",
             "| --- | ---: | --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    key = lambda r: (r["network"], r.get("beta"), r["threads"], r.get("busy", 0))  # noqa: E731
    base = {key(r): r["proposals_per_s"] for r in rows if r["method"] == "pytorch"}
    full = {key(r): r["proposals_per_s"] for r in rows if r["method"] == "seqmaxent-full"}
    for r in rows:
        per_s = r["proposals_per_s"]
        ratio = f"{per_s / base[key(r)]:.1f}x" if key(r) in base else "-"
        vs_full = f"{per_s / full[key(r)]:.1f}x" if key(r) in full else "-"
        acceptance = f"{r['acceptance']:.2f}" if "acceptance" in r else "-"
        setup = f"{r['setup_s']:.2f}" if "setup_s" in r else "-"
        lines.append(f"| {r['network']} | {r.get('beta', '-'):g} | {r['method']} | {r.get('kernels', '-')} | {r['threads']} | "
                     f"{per_s:,.0f} | {acceptance} | {ratio} | {vs_full} | {r['flops_per_proposal'] / 1e6:,.2f} M | "
                     f"{per_s * r['flops_per_proposal'] / 1e9:.1f} | {setup} | {r['peak_rss_mb']:.0f} |")
    return "\n".join(lines)


def load_table(rows: list[dict]) -> str:
    """Speed beside busy neighbours: the share of the quiet speed kept, and the ratio to PyTorch."""
    lines = ["| busy neighbours | method | proposals/s | share of quiet speed | seqmaxent / this |",
             "| ---: | --- | ---: | ---: | ---: |"]
    quiet = {r["method"]: r["proposals_per_s"] for r in rows if r["busy"] == 0}
    ours = {r["busy"]: r["proposals_per_s"] for r in rows if r["method"] == "seqmaxent"}
    for r in rows:
        per_s = r["proposals_per_s"]
        lines.append(f"| {r['busy']} | {r['method']} | {per_s:,.0f} | {per_s / quiet[r['method']]:.2f} | "
                     f"{ours[r['busy']] / per_s:.1f}x |")
    return "\n".join(lines)


def memory_table(rows: list[dict]) -> str:
    lines = ["| inputs | chains x steps | time (s) | peak RSS (MB) | results file (MB) |", "| ---: | ---: | ---: | ---: | ---: |"]
    lines += [f"| {r['inputs']:,} | {r['chains']} x {r['steps']:,} | {r['seconds']:.1f} | {r['peak_rss_mb']:.0f} | "
              f"{r['output_mb']:.1f} |" for r in rows]
    return "\n".join(lines)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--networks", nargs="+", default=SPEED_NETWORKS, choices=list(NETWORKS))
    p.add_argument("--methods", nargs="+", default=METHODS, choices=METHODS)
    p.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    p.add_argument("--kernels", nargs="+", help="kernel levels for seqmaxent's rows (default: every level this CPU runs)")
    p.add_argument("--chains", type=int, default=500)
    p.add_argument("--beta", type=float, default=400.0, help="beta of the networks measured at one beta")
    p.add_argument("--out", type=Path, default=HERE / "results")
    p.add_argument("--parts", nargs="+", default=["speed", "load", "memory"], choices=["speed", "load", "memory"])
    p.add_argument("--gpu", nargs="?", const="cuda", choices=["cuda", "cpu"],
                   help="measure the resident sampler on the GPU instead (needs onnxruntime-gpu and a CUDA build of "
                        "PyTorch; writes gpu.json and gpu.md); '--gpu cpu' runs the same on the CPU provider "
                        "(gpu-cpu.json, gpu-cpu.md)")
    p.add_argument("--one", nargs=3, metavar=("METHOD", "NETWORK", "THREADS"), help=argparse.SUPPRESS)
    p.add_argument("--memory", type=int, help=argparse.SUPPRESS)
    args = p.parse_args()
    cache = args.out / "models"
    if args.gpu:
        from seqmaxent.network import runtime

        if args.gpu == "cuda" and "CUDAExecutionProvider" not in runtime.providers():
            raise SystemExit("no CUDA provider: install onnxruntime-gpu on a machine with a GPU")
        rows = [r for network in ("ctcf", "basset") for chains in GPU_CHAINS[args.gpu]
                for r in gpu_measure(network, chains, cache, args.gpu)]
        args.out.mkdir(parents=True, exist_ok=True)
        name = "gpu" if args.gpu == "cuda" else "gpu-cpu"
        (args.out / f"{name}.json").write_text(json.dumps(rows, indent=1))
        lines = [f"{rows[0]['device']}, fp32, random weights; proposals/s unless said.", "",
                 "| network | chains | method | per second |", "| --- | ---: | --- | ---: |"]
        lines += [f"| {r['network']} | {r['chains']:,} | {r['method']} | {r['per_s']:,.0f} |" for r in rows]
        (args.out / f"{name}.md").write_text("\n".join(lines) + "\n")
        print("\n".join(lines))
        return
    if args.memory:
        print(json.dumps(sample_memory(args.memory, cache)))
        return
    if args.one:
        method, network, threads = args.one
        os.environ["OMP_NUM_THREADS"] = threads
        print(json.dumps(measure(method, network, int(threads), args.chains, args.beta, cache)))
        return
    from seqmaxent import _core

    levels = args.kernels or _core.kernel_levels()
    rows: list[dict] = []
    for network in args.networks if "speed" in args.parts else []:
        for beta in NETWORKS[network].betas or [args.beta]:
            for threads in args.threads:
                for method in args.methods:
                    for level in levels if method in KERNEL_METHODS else [None]:
                        if (r := run_one(method, network, threads, beta, args, level)) is not None:
                            rows.append(r)
    load = [run_one(method, LOAD_NETWORK, 2, 4.0, args, busy=busy) for busy in LOAD_BUSY for method in LOAD_METHODS
            if "load" in args.parts]
    memory: list[dict] = []
    for inputs in MEMORY_INPUTS if "memory" in args.parts else []:
        out = subprocess.run([sys.executable, __file__, "--memory", str(inputs), "--out", str(args.out)],
                             capture_output=True, text=True, check=True)
        memory.append(json.loads(out.stdout.strip().splitlines()[-1]))
        print(f"seqmaxent sample, {inputs} inputs: peak RSS {memory[-1]['peak_rss_mb']:.0f} MB", flush=True)
    args.out.mkdir(parents=True, exist_ok=True)
    saved = args.out / "results.json"
    results = json.loads(saved.read_text()) if saved.exists() else {}  # parts not run this time are kept,
    if results.get("machine") != machine():  # measured on this machine only
        results = {}
    if "speed" in args.parts:  # rows not run this time are kept
        rows = [r for r in results.get("speed", [])
                if not (r["network"] in args.networks and r["method"] in args.methods and r["threads"] in args.threads)
                ] + rows
        rows.sort(key=lambda r: (list(NETWORKS).index(r["network"]), r.get("beta", 0), r["threads"],
                                 METHODS.index(r["method"]), LEVELS.index(r["kernels"]) if r.get("kernels") in LEVELS else -1))
    results.update({part: found for part, found in (("speed", rows), ("load", load), ("memory", memory))
                    if part in args.parts}, machine=machine())
    saved.write_text(json.dumps(results, indent=1))
    m = results["machine"]
    text = (f"{m['cpu']}, {m['cores']} cores, kernel levels {', '.join(m['kernel_levels'])}; {m['os']}. "
            "Proposals per second, one input, a difference of two run lengths; set-up is the first call's.\n\n"
            + table(results.get("speed", []))
            + f"\n\nBeside busy neighbours (CPU-bound processes), {LOAD_NETWORK}, beta 4, 2 threads, best kernels:\n\n"
            + load_table(results.get("load", []))
            + "\n\nPeak memory of `seqmaxent sample` (CTCF net, 2 threads) as inputs grow:\n\n"
            + memory_table(results.get("memory", [])))
    (args.out / "results.md").write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
