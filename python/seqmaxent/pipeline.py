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
from .sampling import constrained_mask, sample
from .sequences import UNKNOWN
from .store import TOP_PAIRS, ResultsFile


def batch_values(model: Model, res: Result) -> dict[str, np.ndarray]:
    """Everything the results file keeps for a batch of inputs."""
    mask = constrained_mask(res.params["constrained"], model.alphabet)
    bg = summary.background(res.params["mu"], mask)
    p = res.marginals()
    chains = res.acceptance.shape[1]
    draws = res.samples.reshape(res.n_inputs, chains, -1, res.length)
    indicator = (draws == res.x0[:, None, None, :]).transpose(0, 3, 1, 2)  # (inputs, L, chains, draws)
    rhat_pos = diagnostics.split_rhat(indicator)
    ess_pos = diagnostics.ess(indicator)
    changing = indicator.reshape(*indicator.shape[:2], -1).std(axis=-1) > 0
    return {
        "x0": res.x0, "samples": res.samples, "distances": res.distances, "acceptance": res.acceptance,
        "outputs": res.outputs, "marginals": p, "entropy": summary.entropy(p),
        "importance": np.where(res.x0 == UNKNOWN, 0.0, summary.importance(p, bg)), "retained": summary.retained(res.samples, res.x0),
        "gc": np.stack([summary.gc_content(res.samples, mask).mean(axis=1), summary.gc_content(res.x0, mask),
                        np.full(res.n_inputs, bg[np.asarray(mask)].sum())], axis=1),
        "kept_class": np.array([kept_fraction(model, res.samples[i], res.outputs[i]) for i in range(res.n_inputs)]),
        "rhat": diagnostics.split_rhat(res.distances.reshape(res.n_inputs, chains, -1)),
        "ess": diagnostics.ess(res.distances.reshape(res.n_inputs, chains, -1)),
        "rhat_positions": np.max(rhat_pos, axis=1, initial=1.0, where=changing),
        "ess_positions": np.min(ess_pos, axis=1, initial=float(res.samples.shape[1]), where=changing),
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
RECORDED = ("beta", "mu", "units", "constrained", "chains", "steps", "period", "burn_in", "seed", "threads", "provider")


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
    units, chains...); returns the number of inputs sampled now.

    With `resume`, inputs already in `output` (by name) are skipped, and the settings must match.
    `progress(n)` is called with each increment of proposals done; `on_batch(names)` after each write.
    """
    from . import __version__

    defaults = {k: v.default for k, v in inspect.signature(sample).parameters.items()}
    settings = {k: options.get(k, defaults[k]) for k in RECORDED}
    params = dict(model=str(model.path), model_sha256=model.sha256, layout=model.layout, alphabet=model.alphabet,
                  phi=model.phi_name, input=str(input_path), genome=str(genome) if genome else None, on_n=on_n,
                  version=__version__, batch_size=batch_size, **settings)
    params.update(beta=float(settings["beta"]), mu=float(settings["mu"]), units=model.units(settings["units"]),
                  constrained=str(settings["constrained"]).upper())
    chains = settings["chains"]
    store = ResultsFile.resume(output, params) if resume and Path(output).exists() else None
    done = set(store.names) if store else set()
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
                res = sample(model, [s for _, s in run], names=names, first_input=first, on_n=on_n,
                             progress=_Increments(progress), source=str(input_path), **options)
                values = batch_values(model, res)
                if store is None:
                    sizes = dict(length=res.length, samples=res.samples.shape[1], chains=chains,
                                 outputs=res.outputs.shape[1])
                    store = ResultsFile.create(output, params, sizes)
                store.append(names, values)
                sampled += len(names)
                if on_batch is not None:
                    on_batch(names)
            index += len(batch)
    finally:
        if store is not None:
            store.close()
    return sampled
