"""One run of the core's chains over a set of inputs: the chains' state, ladder tuning, rounds and
thinning, and the Results they give."""

from __future__ import annotations

import numbers
import threading
import time
from collections.abc import Callable, Sequence

import numpy as np

from .. import _core
from ..errors import ModelError, SequenceError
from ..explain.diagnostics import check
from ..explain.result import Result
from ..explain.verdict import kept_fraction, verdict
from ..interrupts import deferred
from ..io.region import describe as describe_region
from ..io.region import mask as region_mask
from ..io.region import reads_text
from ..io.sequences import constrained_mask, encode, from_onehot
from ..network.model import Model
from .ladder import TUNING_STREAM, adapt_segments, swap_attempts, tune
from .settings import Settings, replica_steps

Progress = Callable[[int, int], None]


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


class Increments:
    """Turns the sampler's (done, total) reports into increments for a progress bar."""

    def __init__(self, report: Callable[[int], None] | None):
        self.report, self.last = report, 0

    def __call__(self, done: int, total: int) -> None:
        if self.report is not None and done > self.last:
            self.report(done - self.last)
            self.last = done


def run_core(sampler: _core.Sampler, progress: Progress | None, **kwargs) -> tuple:
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


def run(model: Model, codes: np.ndarray, settings: Settings, names: Sequence[str] | None = None,
        first_input: int = 0, source: str | None = None, progress: Progress | None = None,
        recorded: dict | None = None) -> Result | list[Result]:
    """Sample every input of `codes` at `settings` (numeric betas): a Result for one beta, a list
    in the order given for several, every rung's with keep_ladder. `recorded`: more parameters
    for the Results (the inputs' on_n, how beta was chosen)."""
    state = Run(model, codes, settings.sized(codes.shape[1]), names, first_input, source, progress)
    state.tune_ladders()
    for r in range(settings.max_rounds):
        if not state.next_round(r):
            break
    return state.results(recorded or {})


class Run:
    """The state of one run: every input's replicas (codes and rungs), their ladders, and the
    samples, distances and counts kept so far. Inputs whose samples pass the convergence check
    leave the run; the others go on in rounds, each as long as all before it."""

    def __init__(self, model: Model, codes: np.ndarray, settings: Settings, names: Sequence[str] | None,
                 first_input: int, source: str | None, progress: Progress | None):
        if not isinstance(first_input, (int, np.integer)) or first_input < 0:
            raise ValueError(f"first_input must be an integer >= 0, not {first_input!r}")
        self.model, self.codes, self.s, self.progress = model, codes, settings, progress
        self.names = list(names) if names is not None else None
        self.first_input = first_input
        s = settings
        self.inside = region_mask(s.region, codes.shape[1])
        self.engine = model.engine(codes.shape[1], s.provider, s.threads, s.incremental, s.positions, s.resident)
        self.outputs = model.predict_at(codes, s.positions).reshape(len(codes), -1).astype(np.float32)
        self._check_finite(model.phi(codes, s.positions), f"Phi ({model.phi_name})", source)
        self._check_finite(self.outputs, "output", source)
        self.core = _core.Sampler(self.engine)
        self.betas_run = s.betas_run
        self.rung_of = {b: min(range(len(self.betas_run)), key=lambda r: abs(self.betas_run[r] - b)) for b in s.betas}
        self.keep = list(range(len(self.betas_run))) if s.keep_ladder else sorted(set(self.rung_of.values()))

        n, L = codes.shape
        R, K, kept = len(self.betas_run), len(self.keep), s.steps // s.period
        self.ladders = np.tile(np.asarray(self.betas_run, float), (n, 1))
        self.state_codes = np.broadcast_to(codes[:, None, None, :], (n, s.chains, R, L)).copy()  # never a view
        self.state_rungs = np.broadcast_to(np.arange(R, dtype=np.int32), (n, s.chains, R)).copy()
        self.samples = np.empty((n, K, s.chains, kept, L), np.uint8)
        self.distances = np.empty((n, K, s.chains, kept), np.float32)
        self.accepted = np.zeros((n, s.chains, R))
        self.swaps = np.zeros((n, s.chains, max(R - 1, 0)))
        self.tries = np.zeros((n, 1, max(R - 1, 0)))
        self.evaluations = np.zeros(n, np.int64)
        self.rounds = np.zeros(n, np.int32)
        self.converged = np.zeros(n, bool)
        self.steps_done = np.zeros(n, np.int64)
        self.phi0 = np.zeros((n, model.phi_size(s.positions)), np.float32)
        self.ids = np.arange(first_input, first_input + n, dtype=np.int64)
        self.cap = n * replica_steps(s.chains, R, s.burn_in, s.steps, s.max_rounds)
        self.progressed = 0
        self.active = np.arange(n)
        tempering = s.sampler == "tempering"
        self.tuning = adapt_segments(s.burn_in) if tempering and s.adapt and not s.keep_ladder and R > 2 else []

    def _check_finite(self, values: np.ndarray, what: str, source: str | None) -> None:
        if np.isfinite(values).all():
            return
        i = int(np.flatnonzero(~np.isfinite(values).all(axis=1))[0])
        number = self.first_input + i + 1
        name = f"sequence {self.names[i]!r} (#{number})" if self.names is not None else f"input #{number}"
        raise ModelError(f"{(source + ': ') if source else ''}the network's {what} is not finite (NaN or inf) for "
                         f"{name}; there is nothing to sample around (check {self.model.path})")

    def _advance(self, active: np.ndarray, length: int, warm: int, every: int, stream: int) -> tuple:
        """Run the `active` inputs' replicas on from their state; returns the core's outputs."""
        s, R = self.s, len(self.betas_run)
        sc, sr = self.state_codes[active], self.state_rungs[active]
        phi = np.empty((len(active), self.phi0.shape[1]), np.float32)
        report = None if self.progress is None else (
            lambda d, t, base=self.progressed: self.progress(base + d, self.cap))
        out = run_core(self.core, report, x0=self.codes[active], ids=self.ids[active], betas=self.ladders[active],
                       keep=self.keep, swap_every=int(s.swap_every) if s.sampler == "tempering" else 0,
                       moves=s.moves, mu=float(s.mu), constrained=constrained_mask(s.constrained, self.model.alphabet),
                       scale=self.model.scale(s.units, s.positions), chains=int(s.chains), steps=int(length),
                       period=int(every), burn_in=int(warm), seed=int(s.seed), round=stream,
                       refresh=int(s.refresh), phi0=phi, state_codes=sc, state_rungs=sr,
                       region=None if self.inside is None else self.inside.astype(np.uint8))
        self.phi0[active] = phi
        self.progressed += len(active) * s.chains * R * (warm + length)
        self.state_codes[active], self.state_rungs[active] = sc, sr
        self.evaluations[active] += out[4]
        return out

    def tune_ladders(self) -> None:
        """With adaptation, the first half of the burn-in respaces each input's ladder, segment by
        segment (:func:`seqmaxent.sampling.ladder.tune`), before any sample is kept."""
        s, R = self.s, len(self.betas_run)
        pinned = sorted({0, *self.keep})
        everyone = np.arange(len(self.codes))
        for k, length in enumerate(self.tuning):
            out = self._advance(everyone, length, 0, length, TUNING_STREAM + k)
            rejection = 1.0 - out[3].sum(axis=1) / (s.chains * np.maximum(swap_attempts(length, s.swap_every, R), 1))
            self.ladders[:] = [tune(ladder, rej, pinned) for ladder, rej in zip(self.ladders, rejection)]

    def next_round(self, r: int) -> bool:
        """Round `r` for the inputs not yet converged; False once none is left. Round r > 0 runs as
        many steps as the rounds before it, keeping a sample every 2^r periods, and the earlier
        samples are thinned to match, so the kept samples span the whole run evenly."""
        s, active = self.s, self.active
        length, warm, every = ((s.steps, s.burn_in - sum(self.tuning), s.period) if r == 0
                               else (s.steps * 2 ** (r - 1), 0, s.period * 2 ** r))
        new = self._advance(active, length, warm, every, r)
        if r == 0:
            self.samples[:], self.distances[:] = new[0], new[1]
        else:
            self.samples[active] = np.concatenate([self.samples[active][:, :, :, 1::2], new[0]], axis=3)
            self.distances[active] = np.concatenate([self.distances[active][:, :, :, 1::2], new[1]], axis=3)
        self.accepted[active] += new[2]
        self.swaps[active] += new[3]
        if s.sampler == "tempering":
            self.tries[active] += swap_attempts(warm + length, s.swap_every, len(self.betas_run))
        self.steps_done[active] += warm + length
        self.rounds[active] = r + 1
        ok = np.ones(len(active), bool)
        for k in range(len(self.keep)):
            ok &= check(self.samples[active][:, k], self.codes[active], self.distances[active][:, k], s.min_ess)
        self.converged[active] = ok
        self.active = active[~ok]
        return len(self.active) > 0

    def results(self, recorded: dict) -> Result | list[Result]:
        """The Results as asked (:func:`run`), with `recorded` among their parameters."""
        if self.progress is not None:
            self.progress(self.cap, self.cap)
        s, model, codes = self.s, self.model, self.codes
        n, L = codes.shape
        accepted = self.accepted / self.steps_done[:, None, None]
        swaps = self.swaps / np.maximum(self.tries, 1)
        found = verdict(model, self.outputs, s.units, s.positions)
        where = model.positions(s.positions)
        tempering = s.sampler == "tempering"
        common = dict(mu=float(s.mu), units=model.units(s.units), head=model.head_name,
                      positions=None if where is None else [p + 1 for p in where],
                      region=describe_region(self.inside), reads=reads_text(model.reads(s.positions, L), L),
                      constrained=str(s.constrained).upper(), sampler=s.sampler,
                      moves=s.moves, ladder=self.betas_run if tempering else None,
                      swap_every=s.swap_every if tempering else None, chains=s.chains, steps=s.steps,
                      period=s.period, burn_in=s.burn_in, max_rounds=s.max_rounds, seed=s.seed, threads=s.threads,
                      provider=s.provider, resident=s.resident, rungs=s.rungs, adapt=s.adapt,
                      min_ess=s.min_ess, first_input=self.first_input, evaluation=self.engine.path,
                      model=str(model.path), model_sha256=model.sha256, layout=model.layout,
                      alphabet=model.alphabet, phi=model.phi_name, verdict=found.label,
                      class_names=model.class_names, **recorded)
        results = [
            Result(
                samples=self.samples[:, k].reshape(n, -1, L),
                x0=codes,
                distances=self.distances[:, k].reshape(n, -1),
                acceptance=accepted[:, :, rung],
                outputs=self.outputs,
                phi0=self.phi0,
                alphabet=model.alphabet,
                params=dict(beta=self.betas_run[rung], **common),
                names=self.names,
                evaluations=self.evaluations,
                rounds=self.rounds,
                converged=self.converged,
                swap_acceptance=swaps.mean(axis=1) if tempering and len(self.betas_run) > 1 else None,
                ladders=self.ladders,
                prediction=found.values,
                called=found.called,
                kept_class=np.array([kept_fraction(model, self.samples[i, k].reshape(-1, L), self.outputs[i],
                                                   s.tolerance, s.positions) for i in range(n)]),
            )
            for k, rung in enumerate(self.keep)
        ]
        if s.keep_ladder:
            return results
        if isinstance(s.beta, numbers.Real):
            return results[0]
        return [results[self.keep.index(self.rung_of[b])] for b in s.betas]
