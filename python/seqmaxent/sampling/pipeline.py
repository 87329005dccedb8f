"""Sample every sequence of an input file into a results file, a batch of inputs at a time."""

from __future__ import annotations

import os
from collections.abc import Callable
from contextlib import ExitStack
from pathlib import Path

import numpy as np

from .. import __version__
from ..errors import SequenceError
from ..explain.verdict import label
from ..io.inputs import batches, content_sha256, count_records, first_length, read_inputs
from ..io.region import canonical, reads_text
from ..io.store import ResultsFile
from ..network.model import Model
from .cluster import map_ordered
from .sampler import sample_values
from .settings import Settings


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
RECORDED = ("beta", "mu", "units", "positions", "region", "constrained", "sampler", "moves", "rungs", "ladder", "swap_every", "adapt",
            "chains", "steps", "period", "burn_in", "max_rounds", "min_ess", "seed", "threads", "provider")


def sweep_path(output: Path, beta: float) -> Path:
    """OUTPUT.h5 -> OUTPUT.beta50.h5 for one beta of a sweep."""
    return output.with_name(f"{output.stem}.beta{beta:g}{output.suffix or '.h5'}")


def output_paths(output: str | Path, beta) -> dict[float, Path]:
    """The results file of each beta: `output` itself for one beta, OUTPUT.betaB.h5 for a sweep."""
    betas = [float(beta)] if isinstance(beta, (int, float)) else [float(b) for b in beta]
    return {betas[0]: Path(output)} if len(betas) == 1 else {b: sweep_path(Path(output), b) for b in betas}


def shard_path(output: Path, shard: tuple[int, int]) -> Path:
    """OUTPUT.h5 -> OUTPUT.shard3of10.h5 for shard 3 (0-based) of 10."""
    return output.with_name(f"{output.stem}.shard{shard[0]}of{shard[1]}{output.suffix or '.h5'}")


def sample_file(
    model: Model,
    input_path: str | Path,
    output: str | Path,
    *,
    genome: str | Path | None = None,
    on_n: str = "fail",
    input_alphabet: str | None = None,
    batch_size: int = 64,
    resume: bool = False,
    overwrite: bool = False,
    shard: tuple[int, int] | None = None,
    client=None,
    progress: Callable[[int], None] | None = None,
    on_batch: Callable[[list[str]], None] | None = None,
    **options,
) -> int:
    """Sample each input sequence into `output` with :func:`seqmaxent.sample` `options` (beta, mu,
    units, chains...); returns the number of inputs sampled now. Several betas (a sweep) are one
    replica-exchange run written to one file per beta (:func:`output_paths`).

    A one-hot .npy input has its channels in `input_alphabet` order (default: the model's).
    With `resume`, inputs already in the file(s) (by name) are skipped, and the settings must match;
    with `overwrite`, existing files are replaced; without either, an existing file is an error.
    Each batch is committed to disk as it finishes, so a run stopped in any way keeps every
    finished batch (:mod:`seqmaxent.io.store`).
    `shard=(i, n)` samples only batches i, i + n, i + 2n, ... into OUTPUT.shardIofN.h5 (join the
    shards with :func:`seqmaxent.io.merge.merge`). With a `dask.distributed` `client`, batches are
    sampled as tasks on its workers and written here in input order (:mod:`seqmaxent.sampling.cluster`).
    Random streams follow each input's position in the file, so none of these change the samples.
    `progress(n)` is called with each increment of proposals done; `on_batch(names)` after each write.
    """
    length = model.length or first_length(input_path, input_alphabet or model.alphabet, genome, on_n)
    checked = Settings.of(options).sized(length)
    options = {**options, "steps": checked.steps, "burn_in": checked.burn_in, "period": checked.period}
    settings = {k: options.get(k, getattr(Settings, k, None)) for k in RECORDED}
    paths = output_paths(output, settings["beta"])
    if shard is not None:
        if not (len(shard) == 2 and 0 <= shard[0] < shard[1]):
            raise ValueError(f"shard must be (i, n) with 0 <= i < n, not {shard!r}")
        paths = {b: shard_path(p, shard) for b, p in paths.items()}
    for path in paths.values():  # before any sampling, not after the first batch
        if not path.parent.is_dir() or not os.access(path.parent, os.W_OK):
            raise OSError(f"cannot write the results file {path}: {path.parent} is not a writable folder")
    input_count = count_records(input_path)  # a missing input is named here
    common = dict(model=str(model.path), model_sha256=model.sha256, layout=model.layout, alphabet=model.alphabet,
                  phi=model.phi_name, input=str(input_path),
                  input_sha256=content_sha256(input_path), genome=str(genome) if genome else None, on_n=on_n,
                  input_alphabet=input_alphabet,
                  version=__version__, batch_size=batch_size, **settings)
    where = model.positions(settings["positions"])
    common.update(mu=float(settings["mu"]), units=model.units(settings["units"]), head=model.head_name,
                  verdict=label(model, settings["units"], settings["positions"]), class_names=model.class_names,
                  positions=None if where is None else [p + 1 for p in where], region=canonical(settings["region"]),
                  reads=reads_text(model.reads(settings["positions"]), model.length),
                  constrained=str(settings["constrained"]).upper(), input_count=input_count,
                  shard=list(shard) if shard is not None else None,
                  ladder=checked.at(beta=list(paths)).betas_run)
    params = {b: {**common, "beta": b} for b in paths}
    mode = "resume" if resume else "overwrite" if overwrite else "new"
    sampled = 0
    with ExitStack() as stack:  # every file is locked before any sampling, and joined however the run ends
        stores = {b: stack.enter_context(ResultsFile.open(p, params[b], mode)) for b, p in paths.items()}
        kept = {b: set(store.names) for b, store in stores.items()}
        work = _work(read_inputs(input_path, input_alphabet or model.alphabet, genome, on_n), str(input_path),
                     model.length, batch_size, set.intersection(*kept.values()), shard)
        betas, source = list(paths), str(input_path)
        if client is None:
            results = ((names, sample_values(model, first, names, seqs, betas, on_n, source, progress, **options))
                       for first, names, seqs in work)
        else:
            results = map_ordered(client, model, work, betas, on_n, source, progress, options)
        for names, per_beta in results:
            for b, values in zip(paths, per_beta):
                new = np.array([n not in kept[b] for n in names])  # a sweep interrupted between its files
                if new.any():
                    stores[b].append([n for n, keep in zip(names, new) if keep], {k: v[new] for k, v in values.items()})
            sampled += len(names)
            if on_batch is not None:
                on_batch(names)
    return sampled


def _work(records, source: str, length: int | None, batch_size: int, done: set[str],
          shard: tuple[int, int] | None):
    """(file position of the first, names, sequences) of each run of consecutive inputs still to
    sample, batch by batch (only the shard's batches), after checking names and lengths."""
    index = 0  # file position of the next record: chain streams follow it, whatever the batching
    seen: set[str] = set()
    why = "the model's input length" if length else "the length of the first sequence"
    for number, batch in enumerate(batches(records, batch_size)):
        for k, (name, seq) in enumerate(batch):
            if name in seen:
                raise SequenceError(f"{source}: sequence name {name!r} occurs twice; names must be unique")
            seen.add(name)
            length = length or len(seq)
            if len(seq) != length:  # one results file holds one length
                raise SequenceError(f"{source}: sequence {name!r} (#{index + k + 1}) has length {len(seq)}, "
                                    f"expected {length} ({why})")
        if shard is None or number % shard[1] == shard[0]:
            for first, run in _runs([(index + k, n, s) for k, (n, s) in enumerate(batch) if n not in done]):
                yield first, [n for n, _ in run], [s for _, s in run]
        index += len(batch)
    if index == 0:
        raise SequenceError(f"{source} holds no sequences")
