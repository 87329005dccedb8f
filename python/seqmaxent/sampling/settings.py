"""A run's sampler settings, checked once: beta, mu, the ladder, chain lengths, rounds, threads."""

from __future__ import annotations

import math
import numbers
import os
from collections.abc import Sequence
from dataclasses import asdict, dataclass, fields, replace

import numpy as np

from ..io.region import Region, mask
from ..network.model import Positions, Units
from .ladder import run_ladder

SAMPLERS = ("tempering", "metropolis")
MOVES = ("metropolis", "heat-bath")


def default_threads() -> int:
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:
        return os.cpu_count() or 1


def gc_mu(fraction: float) -> float:
    """mu = ln(f / (1 - f)): the mu whose beta = 0 distribution has constrained-base fraction f."""
    if not 0.0 < fraction < 1.0:
        raise ValueError(f"the constrained-base fraction must be strictly between 0 and 1, not {fraction}")
    return math.log(fraction / (1.0 - fraction))


def default_steps(sites: int) -> int:
    """A first round's steps for `sites` proposed positions: 4,400 per 101 positions (the 101-bp
    CTCF inputs the defaults were measured on; bench/convergence.py), rounded up to a multiple of
    400 and at least 4,400, so a chain proposes each position about as often whatever the length."""
    return max(4400, 400 * math.ceil(11 * sites / 101))


def proposed_sites(region: Region, length: int) -> int:
    """The number of positions the chains propose: the region's, or the whole input's."""
    inside = mask(region, length)
    return length if inside is None else int(inside.sum())


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


def replica_steps(chains: int, rungs: int, burn_in: int, steps: int, max_rounds: int) -> int:
    """Steps of all replicas of one input at the round cap."""
    return chains * rungs * (burn_in + steps * 2 ** (max_rounds - 1))


def _check_integer(name: str, value, least: int) -> None:
    if not isinstance(value, (int, np.integer)) or value < least:
        raise ValueError(f"{name} must be an integer >= {least}, not {value!r}")


def check_betas(beta) -> list[float]:
    """A beta or a list of them as floats, each finite and >= 0."""
    betas = [beta] if isinstance(beta, numbers.Real) else list(beta)
    if not betas or not all(isinstance(b, numbers.Real) and math.isfinite(b) and b >= 0 for b in betas):
        raise ValueError(f"beta must be a finite number >= 0 (or a list of them), not {beta!r}")
    return [float(b) for b in betas]


@dataclass(frozen=True)
class Settings:
    """Every option of :func:`seqmaxent.sample` that is not about the inputs, checked on creation;
    `burn_in`, `period` and `threads` given as None are filled in."""

    beta: float | Sequence[float] | str
    mu: float = 0.0
    units: Units = None
    positions: Positions = None
    region: Region = None
    constrained: str = "GC"
    sampler: str = "tempering"
    moves: str = "metropolis"
    rungs: int = 8
    ladder: Sequence[float] | None = None
    swap_every: int = 1
    keep_ladder: bool = False
    chains: int = 8
    steps: int | None = None
    period: int | None = None
    burn_in: int | None = None
    adapt: bool = True
    max_rounds: int = 4
    min_ess: float = 100.0
    seed: int = 0
    threads: int | None = None
    provider: str = "cpu"
    incremental: bool = True
    resident: bool | None = None
    refresh: int = 1000
    target: float = 0.95
    tolerance: float | None = None
    length: int | None = None  # the inputs' length, which sizes the default steps

    def __post_init__(self) -> None:
        if isinstance(self.beta, str):
            if self.beta != "auto":
                raise ValueError(f"beta must be a number, a list of numbers or 'auto', not {self.beta!r}")
        else:
            check_betas(self.beta)
        if self.ladder is not None:
            check_betas(self.ladder)
        if not (isinstance(self.mu, numbers.Real) and math.isfinite(self.mu)):
            raise ValueError(f"mu must be finite, not {self.mu!r}")
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {', '.join(SAMPLERS)}; not {self.sampler!r}")
        if self.moves not in MOVES:
            raise ValueError(f"moves must be one of {', '.join(MOVES)}; not {self.moves!r}")
        for name, least in (("chains", 1), ("refresh", 0), ("rungs", 1), ("swap_every", 1), ("max_rounds", 1)):
            _check_integer(name, getattr(self, name), least)
        if self.provider not in ("cpu", "cuda"):
            raise ValueError(f"provider must be 'cpu' or 'cuda', not {self.provider!r}")
        threads = default_threads() if self.threads is None else int(self.threads)
        if threads < 1:
            raise ValueError(f"threads must be at least 1, not {threads}")
        object.__setattr__(self, "threads", threads)
        if self.resident is None:
            object.__setattr__(self, "resident", self.provider == "cuda")
        if self.steps is None and self.length is not None:
            object.__setattr__(self, "steps", default_steps(proposed_sites(self.region, self.length)))
        if self.steps is not None:
            self._fill_lengths()

    def _fill_lengths(self) -> None:
        """burn_in and period from steps where not given, and the three checked together."""
        _check_integer("steps", self.steps, 1)
        burn_in, period = resolve_lengths(self.steps, self.burn_in, self.period)
        object.__setattr__(self, "burn_in", burn_in)
        object.__setattr__(self, "period", period)
        _check_integer("period", period, 1)
        _check_integer("burn_in", burn_in, 0)
        if self.steps % self.period:
            raise ValueError(f"period ({self.period}) must divide steps ({self.steps})")
        if self.max_rounds > 1 and (self.steps // self.period) % 2:
            raise ValueError(f"with max_rounds > 1, steps / period must be even (rounds thin the samples by 2), "
                             f"not {self.steps} / {self.period}")

    def sized(self, length: int) -> Settings:
        """These settings for inputs of `length` positions: steps, when not given, from the number
        of positions proposed (:func:`default_steps`)."""
        return self if self.length == length else replace(self, length=length)

    @classmethod
    def of(cls, options: dict) -> Settings:
        """The settings among `options` (others, such as the inputs' names, are left out)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in options.items() if k in names})

    def at(self, **changes) -> Settings:
        return replace(self, **changes)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def betas(self) -> list[float]:
        """The betas asked for (beta='auto' is resolved before a run)."""
        return check_betas(self.beta)

    @property
    def betas_run(self) -> list[float]:
        """Every beta the chains run at: the ladder containing the asked ones, or the asked ones."""
        return run_ladder(self.betas, self.sampler, self.rungs, self.ladder)

    def steps_at_cap(self) -> int:
        """Steps of all replicas of one input at the round cap (the settings sized first)."""
        return replica_steps(self.chains, len(self.betas_run), self.burn_in, self.steps, self.max_rounds)


def steps_at_cap(betas: list[float], options: dict, length: int) -> int:
    """Steps of all replicas of one input of `length` positions at the round cap, with
    :func:`seqmaxent.sample` `options`."""
    return Settings.of({**options, "beta": betas}).sized(length).steps_at_cap()
