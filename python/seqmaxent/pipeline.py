"""Sample every sequence of an input file into a results file, a batch of inputs at a time."""

from __future__ import annotations

import inspect
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import diagnostics, summary
from .calibrate import kept_fraction
from .errors import SequenceError
from .inputs import batches, read_inputs
from .model import Model
from .result import Result
from .ladder import run_ladder
from .sampling import constrained_mask, resolve_lengths, sample
from .sequences import UNKNOWN
from .store import TOP_PAIRS, ResultsFile


def batch_values(model: Model, res: Result) -> dict[str, np.ndarray]:
    """Everything the results file keeps for a batch of inputs."""
    mask = constrained_mask(res.params["constrained"], model.alphabet)
    bg = summary.background(res.params["mu"], mask)
    p = res.marginals()
    chains = res.acceptance.shape[1]
    per_chain = res.samples.reshape(res.n_inputs, chains, -1, res.length)
    diag = diagnostics.measure(per_chain, res.x0, res.distances.reshape(res.n_inputs, chains, -1))
    return {
        "x0": res.x0, "samples": res.samples, "distances": res.distances, "acceptance": res.acceptance,
        "outputs": res.outputs, "marginals": p, "entropy": summary.entropy(p),
        "importance": np.where(res.x0 == UNKNOWN, 0.0, summary.importance(p, bg)),
        "retained": summary.retained(res.samples, res.x0),
        "gc": np.stack([summary.gc_content(res.samples, mask).mean(axis=1), summary.gc_content(res.x0, mask),
                        np.full(res.n_inputs, bg[np.asarray(mask)].sum())], axis=1),
        "kept_class": np.array([kept_fraction(model, res.samples[i], res.outputs[i]) for i in range(res.n_inputs)]),
        **diag, "evaluations": res.evaluations, "rounds": res.rounds, "converged": res.converged,
        "swap_acceptance": res.swap_acceptance if res.swap_acceptance is not None else np.zeros((res.n_inputs, 0)),
        "ladder": res.ladders if res.ladders is not None else np.zeros((res.n_inputs, 0)),
        "top_pairs": np.array([summary.top_pairs(summary.mutual_information(s), TOP_PAIRS) for s in res.samples]),
    }


class _Increments:
    """Turns the sampler's (done, total) reports into increments for a progress bar."""

    def __init__(self, report: Callable[[int], None] | None):
        self.report, self.last = report, 0

    def __call__(self, done: int, total: int) -> None:
        if self.report is not None and done > self.last:
            self.report(done - self.last)
            self.last = done


def _runs(items: list[tuple[int, str, str]]) -> list[tuple[int, list[tuple[str, str]]]]:
    """Split (index, name, sequence) items into runs of consecutive indices: (first index, [(name, seq)])."""
    runs: list[tuple[int, list[tuple[str, str]]]] = []
    for i, name, seq in items:
        if runs and runs[-1][0] + len(runs[-1][1]) == i:
            runs[-1][1].append((name, seq))
        else:
            runs.append((i, [(name, seq)]))
    return runs


# sample() settings recorded in the results file (with sample()'s defaults where not given)
RECORDED = ("beta", "mu", "units", "constrained", "sampler", "moves", "rungs", "ladder", "swap_every", "adapt",
            "chains", "steps", "period", "burn_in", "max_rounds", "min_ess", "seed", "threads", "provider")


def sweep_path(output: Path, beta: float) -> Path:
    """OUTPUT.h5 -> OUTPUT.beta50.h5 for one beta of a sweep."""
    return output.with_name(f"{output.stem}.beta{beta:g}{output.suffix or '.h5'}")


def output_paths(output: str | Path, beta) -> dict[float, Path]:
    """The results file of each beta: `output` itself for one beta, OUTPUT.betaB.h5 for a sweep."""
    betas = [float(beta)] if isinstance(beta, (int, float)) else [float(b) for b in beta]
    return {betas[0]: Path(output)} if len(betas) == 1 else {b: sweep_path(Path(output), b) for b in betas}


def sample_file(
    model: Model,
    input_path: str | Path,
    output: str | Path,
    *,
    genome: str | Path | None = None,
    on_n: str = "fail",
    batch_size: int = 64,
    resume: bool = False,
    progress: Callable[[int], None] | None = None,
    on_batch: Callable[[list[str]], None] | None = None,
    **options,
) -> int:
    """Sample each input sequence into `output` with :func:`seqmaxent.sample` `options` (beta, mu,
    units, chains...); returns the number of inputs sampled now. Several betas (a sweep) are one
    replica-exchange run written to one file per beta (:func:`output_paths`).

    With `resume`, inputs already in the file(s) (by name) are skipped, and the settings must match.
    `progress(n)` is called with each increment of proposals done; `on_batch(names)` after each write.
    """
    from . import __version__

    defaults = {k: v.default for k, v in inspect.signature(sample).parameters.items()}
    settings = {k: options.get(k, defaults[k]) for k in RECORDED}
    paths = output_paths(output, settings["beta"])
    burn_in, period = resolve_lengths(settings["steps"], settings["burn_in"], settings["period"])
    common = dict(model=str(model.path), model_sha256=model.sha256, layout=model.layout, alphabet=model.alphabet,
                  phi=model.phi_name, input=str(input_path), genome=str(genome) if genome else None, on_n=on_n,
                  version=__version__, batch_size=batch_size, **settings)
    common.update(mu=float(settings["mu"]), units=model.units(settings["units"]), burn_in=burn_in, period=period,
                  constrained=str(settings["constrained"]).upper(),
                  ladder=run_ladder(list(paths), settings["sampler"], settings["rungs"], settings["ladder"]))
    params = {b: {**common, "beta": b} for b in paths}
    stores = {b: ResultsFile.resume(p, params[b]) for b, p in paths.items() if resume and p.exists()}
    kept = {b: set(store.names) for b, store in stores.items()}
    done = set.intersection(*kept.values()) if len(kept) == len(paths) else set()
    index = 0  # file position of the next record: chain streams follow it, whatever the batching
    seen: set[str] = set()
    sampled = 0
    length = model.length
    try:
        for batch in batches(read_inputs(input_path, model.alphabet, genome, on_n), batch_size):
            for k, (name, seq) in enumerate(batch):
                if name in seen:
                    raise SequenceError(f"{input_path}: sequence name {name!r} occurs twice; names must be unique")
                seen.add(name)
                length = length or len(seq)
                if len(seq) != length:  # one results file holds one length
                    why = "the model's input length" if model.length else "the length of the first sequence"
                    raise SequenceError(f"{input_path}: sequence {name!r} (#{index + k + 1}) has length {len(seq)}, "
                                        f"expected {length} ({why})")
            for first, run in _runs([(index + k, n, s) for k, (n, s) in enumerate(batch) if n not in done]):
                names = [n for n, _ in run]
                results = sample(model, [s for _, s in run], names=names, first_input=first, on_n=on_n,
                                 progress=_Increments(progress), source=str(input_path),
                                 **{**options, "beta": list(paths)})
                for b, res in zip(paths, results):
                    values = batch_values(model, res)
                    if b not in stores:
                        sizes = dict(length=res.length, samples=res.samples.shape[1], chains=res.acceptance.shape[1],
                                     outputs=res.outputs.shape[1], rungs=values["ladder"].shape[1])
                        stores[b], kept[b] = ResultsFile.create(paths[b], params[b], sizes), set()
                    new = np.array([n not in kept[b] for n in names])  # a sweep interrupted between its files
                    if new.any():
                        stores[b].append([n for n, keep in zip(names, new) if keep],
                                         {k: v[new] for k, v in values.items()})
                sampled += len(names)
                if on_batch is not None:
                    on_batch(names)
            index += len(batch)
    finally:
        for store in stores.values():
            store.close()
    return sampled
