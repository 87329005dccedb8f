"""Sample the maximum-entropy distribution P(x) ~ exp(-beta d(x) + mu N_C(x)) around each input."""

from __future__ import annotations

import inspect
import math
import numbers
import os
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from . import _core
from .interrupts import deferred
from .ladder import TUNING_STREAM, adapt_segments, run_ladder, swap_attempts, tune
from .model import Model, Positions, Units
from .result import Result
from .region import Region
from .region import describe as describe_region
from .region import mask as region_mask
from .errors import ModelError, SequenceError
from .sequences import encode, from_onehot
from .verdict import kept_fraction, verdict

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
    """Run the core in a worker thread so Ctrl-C cancels it and progress can be reported. After a
    stop the core is waited for (further signals deferred), so no thread is left in it."""
    out: dict = {}
    finished = threading.Lock()  # held until the worker ends; a plain lock's wait is cleanly interruptible
    finished.acquire()

    def work() -> None:
        try:
            out["value"] = sampler.run(**kwargs)
        except BaseException as e:  # re-raised in the caller's thread
            out["error"] = e
        finally:
            out["done"] = True
            finished.release()

    threading.Thread(target=work, daemon=True).start()
    try:
        while not finished.acquire(timeout=0.1):
            if progress is not None:
                with deferred():  # a progress bar's locks must not be cut by a signal
                    progress(sampler.done, sampler.total)
    except BaseException as stop:
        while "done" not in out:  # a second Ctrl-C meanwhile changes nothing
            try:
                with deferred():
                    sampler.cancel()
                    while "done" not in out:
                        time.sleep(0.005)
            except KeyboardInterrupt:
                continue
        raise stop
    if progress is not None and "value" in out:
        progress(sampler.total, sampler.total)
    if "error" in out:
        raise out["error"]
    return out["value"]


SAMPLERS = ("tempering", "metropolis")
MOVES = ("metropolis", "heat-bath")


class Increments:
    """Turns the sampler's (done, total) reports into increments for a progress bar."""

    def __init__(self, report: Callable[[int], None] | None):
        self.report, self.last = report, 0

    def __call__(self, done: int, total: int) -> None:
        if self.report is not None and done > self.last:
            self.report(done - self.last)
            self.last = done


def replica_steps(chains: int, rungs: int, burn_in: int, steps: int, max_rounds: int) -> int:
    """Steps of all replicas of one input at the round cap."""
    return chains * rungs * (burn_in + steps * 2 ** (max_rounds - 1))


def steps_at_cap(betas: list[float], options: dict) -> int:
    """Steps of all replicas of one input at the round cap, with :func:`sample` `options`."""
    o = {**{k: v.default for k, v in inspect.signature(sample).parameters.items()}, **options}
    burn_in, _ = resolve_lengths(o["steps"], o["burn_in"], o["period"])
    rungs = len(run_ladder(betas, o["sampler"], o["rungs"], o["ladder"]))
    return replica_steps(o["chains"], rungs, burn_in, o["steps"], o["max_rounds"])


def _betas(beta) -> list[float]:
    betas = [beta] if isinstance(beta, numbers.Real) else list(beta)
    if not betas or not all(isinstance(b, numbers.Real) and math.isfinite(b) and b >= 0 for b in betas):
        raise ValueError(f"beta must be a finite number >= 0 (or a list of them), not {beta!r}")
    return [float(b) for b in betas]


def resolve_lengths(steps, burn_in: int | None, period: int | None) -> tuple:
    """(burn_in, period) with the defaults filled in: steps // 4, and the period giving the even
    number of samples per chain nearest to 200 (at most steps)."""
    if not isinstance(steps, (int, np.integer)) or steps < 1:
        return burn_in, period
    if burn_in is None:
        burn_in = steps // 4
    if period is None:
        divisors = [p for p in range(1, steps + 1) if steps % p == 0 and (steps // p) % 2 == 0] or [steps]
        period = min(divisors, key=lambda p: abs(steps // p - 200))
    return burn_in, period


def sample(
    model: Model | str | Path,
    sequences: Sequence[str] | str | np.ndarray,
    beta: float | Sequence[float] | str,
    mu: float = 0.0,
    units: Units = None,
    positions: Positions = None,
    region: Region = None,
    constrained: str = "GC",
    sampler: str = "tempering",
    moves: str = "metropolis",
    rungs: int = 8,
    ladder: Sequence[float] | None = None,
    swap_every: int = 1,
    keep_ladder: bool = False,
    chains: int = 8,
    steps: int = 4400,
    period: int | None = None,
    burn_in: int | None = None,
    adapt: bool = True,
    max_rounds: int = 4,
    min_ess: float = 100.0,
    seed: int = 0,
    threads: int | None = None,
    provider: str = "cpu",
    incremental: bool = True,
    resident: bool | None = None,
    refresh: int = 1000,
    names: Sequence[str] | None = None,
    first_input: int = 0,
    on_n: str = "fail",
    source: str | None = None,
    progress: Progress | None = None,
    target: float = 0.95,
    tolerance: float | None = None,
) -> Result | list[Result]:
    """Sample P(x) ~ exp(-beta d(x) + mu N_C(x)) around each input sequence x0.

    ``beta="auto"`` first picks the smallest beta whose pilot samples keep x0's predicted class in
    `target` of them (or stay within `tolerance` of a regression output; :func:`calibrate_beta`);
    each pilot runs min(`chains`, 4) chains for min(`steps`, 2000) steps, so fewer steps give
    cheaper pilots on a slow network.

    d(x) = ||s * (Phi(x) - Phi(x0))||_2 with s = W[k] (``units=k``) or W[k1] - W[k2]
    (``units=(k1, k2)``; default (1, 0) for two outputs, 0 for one). For a head applied at every
    position, `positions` (1-based output positions: an int, a list or a range) choose where: Phi
    stacks, per chosen position, the rows the head reads there (:class:`seqmaxent.Model`).

    `region` (1-based, inclusive: ``"4900-5100"``, ``"4900-5000,5050-5100"``, a range or (first,
    last) pairs; :mod:`seqmaxent.region`) restricts the changes to those positions: every other
    position keeps x0's base as context, and its importance is 0. Default: the whole input.

    Sampler: ``"tempering"`` (default) runs each of `chains` chains as a replica-exchange ladder of
    `rungs` betas (:func:`seqmaxent.ladder.make_ladder`, or `ladder`), every replica making
    single-site `moves` (``"metropolis"``: one random base change, accepted or not;
    ``"heat-bath"``: a random site redrawn from its exact conditional, 3 to 4 evaluations) and
    neighbouring rungs swapping betas every `swap_every` steps with the exact Metropolis
    probability; only the target rung's samples are kept. ``"metropolis"`` is the paper's
    sampler: independent single-beta chains.

    Every chain starts at x0 and runs `burn_in` (default steps // 4) + `steps` steps, keeping its
    state every `period` steps (default: about 200 samples per chain). Inputs whose samples fail
    the convergence check (:func:`seqmaxent.diagnostics.check`: R-hat <= 1.05, ESS >= `min_ess`)
    go on in rounds, for at most `max_rounds` rounds (``max_rounds=1``: one fixed-length run). A
    round runs as many steps as all rounds before it (after burn-in) and keeps a sample every 2^r
    periods, while the earlier samples are thinned by 2, so an input has the same number of samples
    whatever its rounds, spread evenly over its run. Results record per input the rounds, network
    evaluations and whether it converged.

    With `adapt`, the first half of the burn-in tunes each input's ladder (:func:`seqmaxent.ladder.respace`: rungs
    moved so that every neighbour pair swaps about as often; the bottom rung and the kept ones stay
    put); the ladders used are in ``Result.ladders``. Several betas (a sweep) are one ladder
    containing them all and give one Result per beta, as does ``keep_ladder=True`` for every rung
    (which keeps the ladder as given). `incremental` lets the core update only what a
    mutation reaches; `refresh` is the number of steps between exact recomputations of that state.
    `resident` (default: on the CUDA provider) keeps the chains' state where ONNX Runtime runs the
    network, each step one run of a step graph (:mod:`seqmaxent.resident`); with `incremental`
    that graph evaluates only the windows a mutation reaches where it can (:mod:`seqmaxent.windows`).
    On the CPU provider it tests that path. Both `moves` run there, each chain the same chain as on
    the core (heat-bath evaluates the 3 other bases at once).
    Random streams are keyed by (seed, input index, chain); `first_input` is the index of the first
    sequence within a larger set, so a set sampled in batches gives the same samples as in one call.
    N in an input is an error, or with ``on_n="freeze"`` a position that stays N (an all-zero
    one-hot row) and is never proposed. `source` (a file name) prefixes error messages.
    `progress(done, total)` is called as it runs, in steps of all replicas (total: at the round cap).
    """
    from .diagnostics import check

    if not isinstance(model, Model):
        model = Model(model)
    calibration = None
    if isinstance(beta, str):
        if beta != "auto":
            raise ValueError(f"beta must be a number, a list of numbers or 'auto', not {beta!r}")
        from .calibrate import calibrate_beta

        from .calibrate import pilot_size

        calibration = calibrate_beta(model, sequences, target=target, tolerance=tolerance, **pilot_size(chains, steps),
                                     mu=mu, units=units,
                                  positions=positions, region=region, constrained=constrained, sampler=sampler,
                                  moves=moves,
                                  rungs=rungs, threads=threads, provider=provider, incremental=incremental,
                                  on_n=on_n, names=None if names is None else list(names)[:8])
        beta = calibration.beta
    betas = _betas(beta)
    if ladder is not None:
        _betas(ladder)
    if not (isinstance(mu, numbers.Real) and math.isfinite(mu)):
        raise ValueError(f"mu must be finite, not {mu!r}")
    if sampler not in SAMPLERS:
        raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; not {sampler!r}")
    if moves not in MOVES:
        raise ValueError(f"moves must be one of {', '.join(MOVES)}; not {moves!r}")
    burn_in, period = resolve_lengths(steps, burn_in, period)
    for name, value, least in (("chains", chains, 1), ("steps", steps, 1), ("period", period, 1),
                               ("burn_in", burn_in, 0), ("refresh", refresh, 0), ("first_input", first_input, 0),
                               ("rungs", rungs, 1), ("swap_every", swap_every, 1), ("max_rounds", max_rounds, 1)):
        if not isinstance(value, (int, np.integer)) or value < least:
            raise ValueError(f"{name} must be an integer >= {least}, not {value!r}")
    if steps % period:
        raise ValueError(f"period ({period}) must divide steps ({steps})")
    if max_rounds > 1 and (steps // period) % 2:
        raise ValueError(f"with max_rounds > 1, steps / period must be even (rounds thin the samples by 2), "
                         f"not {steps} / {period}")
    if provider not in ("cpu", "cuda"):
        raise ValueError(f"provider must be 'cpu' or 'cuda', not {provider!r}")
    betas_run = run_ladder(betas, sampler, rungs, ladder)
    rung_of = {b: min(range(len(betas_run)), key=lambda r: abs(betas_run[r] - b)) for b in betas}
    keep = list(range(len(betas_run))) if keep_ladder else sorted(set(rung_of.values()))
    threads = default_threads() if threads is None else int(threads)
    if threads < 1:
        raise ValueError(f"threads must be at least 1, not {threads}")
    codes = to_codes(model, sequences, names, on_n, first_input, source)
    inside = region_mask(region, codes.shape[1])
    scale = model.scale(units, positions)
    where = model.positions(positions)
    mask = constrained_mask(constrained, model.alphabet)
    resident = provider == "cuda" if resident is None else bool(resident)
    engine = model.engine(codes.shape[1], provider, threads, incremental, positions, resident)
    outputs = model.predict_at(codes, positions).reshape(len(codes), -1).astype(np.float32)
    for what, values in ((f"Phi ({model.phi_name})", model.phi(codes, positions)), ("output", outputs)):
        if not np.isfinite(values).all():
            i = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
            name = f"sequence {names[i]!r} (#{first_input + i + 1})" if names is not None else f"input #{first_input + i + 1}"
            raise ModelError(f"{(source + ': ') if source else ''}the network's {what} is not finite (NaN or inf) for "
                             f"{name}; there is nothing to sample around (check {model.path})")
    core = _core.Sampler(engine)

    n, L = codes.shape
    R, K, kept = len(betas_run), len(keep), steps // period
    ladders = np.tile(np.asarray(betas_run, float), (n, 1))
    state_codes = np.broadcast_to(codes[:, None, None, :], (n, chains, R, L)).copy()  # a copy: never a read-only view
    state_rungs = np.broadcast_to(np.arange(R, dtype=np.int32), (n, chains, R)).copy()
    samples = np.empty((n, K, chains, kept, L), np.uint8)
    distances = np.empty((n, K, chains, kept), np.float32)
    accepted = np.zeros((n, chains, R))
    swaps = np.zeros((n, chains, max(R - 1, 0)))
    tries = np.zeros((n, 1, max(R - 1, 0)))
    evaluations = np.zeros(n, np.int64)
    rounds = np.zeros(n, np.int32)
    converged = np.zeros(n, bool)
    phi_dim = model.phi_size(positions)
    phi0 = np.zeros((n, phi_dim), np.float32)
    ids = np.arange(first_input, first_input + n, dtype=np.int64)
    cap = n * replica_steps(chains, R, burn_in, steps, max_rounds)
    steps_done = np.zeros(n, np.int64)
    progressed = 0

    def advance(active: np.ndarray, length: int, warm: int, every: int, stream: int) -> tuple:
        """Run the active inputs' replicas on from their state; returns the core's outputs."""
        nonlocal progressed
        sc, sr, phi = state_codes[active], state_rungs[active], np.empty((len(active), phi_dim), np.float32)
        report = None if progress is None else (lambda d, t, base=progressed: progress(base + d, cap))
        out = _run(core, report, x0=codes[active], ids=ids[active], betas=ladders[active], keep=keep,
                   swap_every=int(swap_every) if sampler == "tempering" else 0, moves=moves, mu=float(mu),
                   constrained=mask, scale=scale, chains=int(chains), steps=int(length), period=int(every),
                   burn_in=int(warm), seed=int(seed), round=stream, refresh=int(refresh), phi0=phi,
                   state_codes=sc, state_rungs=sr, region=None if inside is None else inside.astype(np.uint8))
        phi0[active] = phi
        progressed += len(active) * chains * R * (warm + length)
        state_codes[active], state_rungs[active] = sc, sr
        evaluations[active] += out[4]
        return out

    everyone = np.arange(n)
    tuning = adapt_segments(burn_in) if sampler == "tempering" and adapt and not keep_ladder and R > 2 else []
    pinned = sorted({0, *keep})
    for k, length in enumerate(tuning):  # adapting the ladders: all of it before any kept sample
        out = advance(everyone, length, 0, length, TUNING_STREAM + k)
        rejection = 1.0 - out[3].sum(axis=1) / (chains * np.maximum(swap_attempts(length, swap_every, R), 1))
        ladders[:] = [tune(ladder, rej, pinned) for ladder, rej in zip(ladders, rejection)]
    active = everyone
    for r in range(max_rounds):
        # Round r > 0 runs as many steps as the rounds before it, keeping a sample every 2^r periods;
        # the earlier samples are thinned to match, so the kept samples span the run evenly.
        length, warm, every = ((steps, burn_in - sum(tuning), period) if r == 0
                               else (steps * 2 ** (r - 1), 0, period * 2 ** r))
        new = advance(active, length, warm, every, r)
        if r == 0:
            samples[:], distances[:] = new[0], new[1]
        else:
            samples[active] = np.concatenate([samples[active][:, :, :, 1::2], new[0]], axis=3)
            distances[active] = np.concatenate([distances[active][:, :, :, 1::2], new[1]], axis=3)
        accepted[active] += new[2]
        swaps[active] += new[3]
        if sampler == "tempering":
            tries[active] += swap_attempts(warm + length, swap_every, R)
        steps_done[active] += warm + length
        rounds[active] = r + 1
        ok = np.ones(len(active), bool)
        for k in range(K):
            ok &= check(samples[active][:, k], codes[active], distances[active][:, k], min_ess)
        converged[active] = ok
        active = active[~ok]
        if not len(active):
            break
    if progress is not None:
        progress(cap, cap)
    accepted /= steps_done[:, None, None]
    swaps /= np.maximum(tries, 1)

    found = verdict(model, outputs, units, positions)
    common = dict(mu=float(mu), units=model.units(units), head=model.head_name,
                  positions=None if where is None else [p + 1 for p in where], region=describe_region(inside),
                  constrained=str(constrained).upper(),
                  sampler=sampler,
                  moves=moves, ladder=betas_run if sampler == "tempering" else None,
                  swap_every=swap_every if sampler == "tempering" else None, chains=chains, steps=steps,
                  period=period, burn_in=burn_in, max_rounds=max_rounds, seed=seed, threads=threads,
                  provider=provider, resident=resident, on_n=on_n, rungs=rungs, adapt=adapt, min_ess=min_ess, first_input=first_input,
                  evaluation=engine.path, model=str(model.path), model_sha256=model.sha256,
                  layout=model.layout, alphabet=model.alphabet, phi=model.phi_name, verdict=found.label,
                  class_names=model.class_names, beta_auto=None if calibration is None else str(calibration))
    results = [
        Result(
            samples=samples[:, k].reshape(n, -1, L),
            x0=codes,
            distances=distances[:, k].reshape(n, -1),
            acceptance=accepted[:, :, rung],
            outputs=outputs,
            phi0=phi0,
            alphabet=model.alphabet,
            params=dict(beta=betas_run[rung], **common),
            names=list(names) if names is not None else None,
            evaluations=evaluations,
            rounds=rounds,
            converged=converged,
            swap_acceptance=swaps.mean(axis=1) if sampler == "tempering" and R > 1 else None,
            ladders=ladders,
            prediction=found.values,
            called=found.called,
            kept_class=np.array([kept_fraction(model, samples[i, k].reshape(-1, L), outputs[i], tolerance, positions)
                                 for i in range(n)]),
        )
        for k, rung in enumerate(keep)
    ]
    if keep_ladder:
        return results
    return results[0] if isinstance(beta, numbers.Real) else [results[keep.index(rung_of[b])] for b in betas]
