"""sample(): the maximum-entropy distribution P(x) ~ exp(-beta d(x) + mu N_C(x)) around each input."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from ..explain.result import Result
from ..io.region import Region
from ..network.model import Model, Positions, Units
from .calibrate import PILOT_OPTIONS, calibrate_beta, pilot_size
from .run import Increments, Progress, run, to_codes
from .settings import Settings


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
    steps: int | None = None,
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
    last) pairs; :mod:`seqmaxent.io.region`) restricts the changes to those positions: every other
    position keeps x0's base as context, and its importance is 0. Default: the whole input.

    Sampler: ``"tempering"`` (default) runs each of `chains` chains as a replica-exchange ladder of
    `rungs` betas (:func:`seqmaxent.sampling.ladder.make_ladder`, or `ladder`), every replica making
    single-site `moves` (``"metropolis"``: one random base change, accepted or not;
    ``"heat-bath"``: a random site redrawn from its exact conditional, 3 to 4 evaluations) and
    neighbouring rungs swapping betas every `swap_every` steps with the exact Metropolis
    probability; only the target rung's samples are kept. ``"metropolis"`` is the paper's
    sampler: independent single-beta chains.

    Every chain starts at x0 and runs `burn_in` (default steps // 4) + `steps` steps, keeping its
    state every `period` steps (default: about 200 samples per chain). Default steps: 4,400 per 101
    positions proposed (the region's, or the input's), at least 4,400
    (:func:`seqmaxent.sampling.settings.default_steps`), so long inputs and regions get as many
    proposals per position as the 101-bp inputs the defaults were measured on. Inputs whose samples fail
    the convergence check (:func:`seqmaxent.explain.diagnostics.check`: R-hat <= 1.05, ESS >= `min_ess`)
    go on in rounds, for at most `max_rounds` rounds (``max_rounds=1``: one fixed-length run). A
    round runs as many steps as all rounds before it (after burn-in) and keeps a sample every 2^r
    periods, while the earlier samples are thinned by 2, so an input has the same number of samples
    whatever its rounds, spread evenly over its run. Results record per input the rounds, network
    evaluations and whether it converged.

    With `adapt`, the first half of the burn-in tunes each input's ladder (:func:`seqmaxent.sampling.ladder.respace`: rungs
    moved so that every neighbour pair swaps about as often; the bottom rung and the kept ones stay
    put); the ladders used are in ``Result.ladders``. Several betas (a sweep) are one ladder
    containing them all and give one Result per beta, as does ``keep_ladder=True`` for every rung
    (which keeps the ladder as given). `incremental` lets the core update only what a
    mutation reaches; `refresh` is the number of steps between exact recomputations of that state.
    `resident` (default: on the CUDA provider) keeps the chains' state where ONNX Runtime runs the
    network, each step one run of a step graph (:mod:`seqmaxent.network.resident`); with `incremental`
    that graph evaluates only the windows a mutation reaches where it can (:mod:`seqmaxent.network.windows`).
    On the CPU provider it tests that path. Both `moves` run there, each chain the same chain as on
    the core (heat-bath evaluates the 3 other bases at once).
    Random streams are keyed by (seed, input index, chain); `first_input` is the index of the first
    sequence within a larger set, so a set sampled in batches gives the same samples as in one call.
    N in an input is an error, or with ``on_n="freeze"`` a position that stays N (an all-zero
    one-hot row) and is never proposed. `source` (a file name) prefixes error messages.
    `progress(done, total)` is called as it runs, in steps of all replicas (total: at the round cap).
    """
    model = model if isinstance(model, Model) else Model(model)
    inputs = ("model", "sequences", "names", "first_input", "on_n", "source", "progress")
    settings = Settings.of({k: v for k, v in locals().items() if k not in inputs})
    codes = to_codes(model, sequences, names, on_n, first_input, source)
    settings = settings.sized(codes.shape[1])
    calibration = None
    if settings.beta == "auto":
        calibration = calibrate_beta(model, sequences, target=target, tolerance=tolerance, **pilot_size(chains, steps),
                                     **{k: v for k, v in settings.as_dict().items() if k in PILOT_OPTIONS},
                                     on_n=on_n, names=None if names is None else list(names)[:8])
        settings = settings.at(beta=calibration.beta)
    return run(model, codes, settings, names, first_input, source, progress,
               recorded=dict(on_n=on_n, beta_auto=None if calibration is None else str(calibration)))


def sample_values(model: Model, first: int, names: list[str], seqs: list[str], betas: list[float], on_n: str,
                  source: str, progress: Callable[[int], None] | None = None, **options) -> list[dict]:
    """Sample one run of consecutive inputs of a file (the first at file position `first`); the
    results-file values of each beta."""
    results = sample(model, seqs, names=names, first_input=first, on_n=on_n, progress=Increments(progress),
                     source=source, **{**options, "beta": betas})
    return [res.values() for res in results]
