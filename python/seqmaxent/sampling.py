"""Sample the maximum-entropy distribution P(x) ~ exp(-beta d(x) + mu N_C(x)) around each input."""

from __future__ import annotations

import math
import numbers
import os
import threading
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import _core
from .model import Model, Units
from .result import Result
from .errors import SequenceError
from .sequences import encode, from_onehot

Progress = Callable[[int, int], None]


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def to_codes(model: Model, sequences, names: Sequence[str] | None = None, on_n: str = "fail",
             first: int = 0, source: str | None = None) -> np.ndarray:
    """Strings or a one-hot array (n, L, 4) / (L, 4) in alphabet order, as base codes (n, L).
    Errors count sequences from `first` and name the file `source` when given."""
    try:
        if isinstance(sequences, np.ndarray):
            return from_onehot(sequences, model.length, on_n)
        return encode(sequences, model.alphabet, model.length, names, on_n, first)
    except SequenceError as e:
        if source is None:
            raise
        raise SequenceError(f"{source}: {e}") from None


def constrained_mask(constrained: str, alphabet: str) -> list[bool]:
    """Which codes N_C counts, from a set of bases such as "GC"."""
    bases = set(str(constrained).upper())
    if not bases <= set("ACGT"):
        raise ValueError(f"constrained must be a set of bases from ACGT, not {constrained!r}")
    return [b in bases for b in alphabet]


def gc_mu(fraction: float) -> float:
    """mu = ln(f / (1 - f)): the mu whose beta = 0 distribution has constrained-base fraction f."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the constrained-base fraction must be strictly between 0 and 1, not {fraction}")
    return math.log(fraction / (1.0 - fraction))


def _run(sampler: _core.Sampler, progress: Progress | None, **kwargs) -> tuple:
    """Run the core in a worker thread so Ctrl-C cancels it and progress can be reported."""
    out: dict = {}

    def work() -> None:
        try:
            out["value"] = sampler.run(**kwargs)
        except BaseException as e:  # re-raised in the caller's thread
            out["error"] = e

    worker = threading.Thread(target=work, daemon=True)
    worker.start()
    try:
        while worker.is_alive():
            worker.join(timeout=0.1)
            if progress is not None:
                progress(sampler.done, sampler.total)
        if progress is not None and "value" in out:
            progress(sampler.total, sampler.total)
    except KeyboardInterrupt:
        sampler.cancel()
        worker.join()
        raise
    if "error" in out:
        raise out["error"]
    return out["value"]


def sample(
    model: Model | str | Path,
    sequences: Sequence[str] | str | np.ndarray,
    beta: float = 400.0,
    mu: float = 0.0,
    units: Units = None,
    constrained: str = "GC",
    chains: int = 50,
    steps: int = 10_000,
    period: int = 100,
    burn_in: int = 0,
    seed: int = 0,
    threads: int | None = None,
    provider: str = "cpu",
    incremental: bool = True,
    refresh: int = 1000,
    names: Sequence[str] | None = None,
    first_input: int = 0,
    on_n: str = "fail",
    source: str | None = None,
    progress: Progress | None = None,
) -> Result:
    """Metropolis sampling of P(x) ~ exp(-beta d(x) + mu N_C(x)) around each input sequence x0.

    d(x) = ||s * (Phi(x) - Phi(x0))||_2 with s = W[k] (``units=k``) or W[k1] - W[k2]
    (``units=(k1, k2)``; default (1, 0) for two outputs, 0 for one). Each of `chains` chains per
    input starts at x0, runs `burn_in` + `steps` single-base proposals, and keeps its state every
    `period` steps. `incremental` lets the core update the layers a mutation reaches (convs,
    pools, elementwise ops, dense) instead of running the whole network; `refresh` is the number of steps between
    exact recomputations of that cached state. Chain random streams are keyed by (seed, input
    index, chain); `first_input` is the index of the first sequence within a larger set, so a
    set sampled in batches gives the same samples as in one call. N in an input is an error, or with
    ``on_n="freeze"`` a position that stays N (an all-zero one-hot row) and is never proposed.
    `source` (a file name) prefixes error messages. `progress(done, total)` is called as it runs.
    """
    if not isinstance(model, Model):
        model = Model(model)
    if not (isinstance(beta, numbers.Real) and math.isfinite(beta) and beta >= 0):
        raise ValueError(f"beta must be a finite number >= 0, not {beta!r}")
    if not (isinstance(mu, numbers.Real) and math.isfinite(mu)):
        raise ValueError(f"mu must be finite, not {mu!r}")
    for name, value, least in (("chains", chains, 1), ("steps", steps, 1), ("period", period, 1),
                               ("burn_in", burn_in, 0), ("refresh", refresh, 0), ("first_input", first_input, 0)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, not {value!r}")
    if steps % period:
        raise ValueError(f"period ({period}) must divide steps ({steps})")
    if provider not in ("cpu", "cuda"):
        raise ValueError(f"provider must be 'cpu' or 'cuda', not {provider!r}")
    threads = default_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    codes = to_codes(model, sequences, names, on_n, first_input, source)
    scale = model.scale(units)
    mask = constrained_mask(constrained, model.alphabet)
    engine = model.engine(codes.shape[1], provider, threads, incremental)
    phi0 = np.empty((len(codes), model.phi_dim), np.float32)
    samples, distances, accepted = _run(
        _core.Sampler(engine), progress, x0=codes, beta=float(beta), mu=float(mu), constrained=mask, scale=scale,
        chains=int(chains), steps=int(steps), period=int(period), burn_in=int(burn_in), seed=int(seed),
        first_input=int(first_input), refresh=int(refresh), phi0=phi0,
    )
    n, L = codes.shape
    params = dict(beta=float(beta), mu=float(mu), units=model.units(units), constrained=str(constrained).upper(), chains=chains,
                  steps=steps, period=period, burn_in=burn_in, seed=seed, threads=threads, provider=provider, on_n=on_n,
                  evaluation=engine.path, model_sha256=model.sha256)
    return Result(
        samples=samples.reshape(n, -1, L),
        x0=codes,
        distances=distances.reshape(n, -1),
        acceptance=accepted / float(burn_in + steps),
        outputs=model.predict(codes).astype(np.float32),
        phi0=phi0,
        alphabet=model.alphabet,
        params=params,
        names=list(names) if names is not None else None,
    )
