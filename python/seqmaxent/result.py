"""What a sampling run returns, with per-position summaries."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from . import summary
from .sequences import decode


@dataclass(frozen=True)
class Result:
    """Samples of the MaxEnt distribution for each input sequence.

    Base codes index `alphabet`. Samples are ordered chain by chain: sample ``c * per_chain + k``
    is the k-th kept state of chain c, so ``samples.reshape(inputs, chains, -1, L)`` separates the
    chains. With replica exchange a chain is a ladder, and its samples are those of the ladder's
    rung at this result's beta.
    """

    samples: np.ndarray  # uint8 (inputs, chains * steps // period, L)
    x0: np.ndarray  # uint8 (inputs, L)
    distances: np.ndarray  # float32 (inputs, samples): d of each sample
    acceptance: np.ndarray  # float64 (inputs, chains): accepted fraction of site updates at this beta
    outputs: np.ndarray  # float32 (inputs, n_outputs): the network's outputs for x0
    phi0: np.ndarray  # float32 (inputs, phi_dim)
    alphabet: str
    params: dict = field(default_factory=dict)
    names: list[str] | None = None
    evaluations: np.ndarray | None = None  # int64 (inputs,): network evaluations spent on each input
    rounds: np.ndarray | None = None  # int32 (inputs,): sampling rounds each input took
    converged: np.ndarray | None = None  # bool (inputs,): passed diagnostics.check in its last round
    swap_acceptance: np.ndarray | None = None  # (inputs, rungs - 1): accepted swaps of rungs r, r + 1
    ladders: np.ndarray | None = None  # (inputs, rungs): each input's betas (replica exchange: as tuned)

    @property
    def n_inputs(self) -> int:
        return self.samples.shape[0]

    @property
    def length(self) -> int:
        return self.samples.shape[2]

    def marginals(self) -> np.ndarray:
        """Base frequencies (inputs, L, 4) at each position over the samples."""
        return summary.marginals(self.samples)

    def entropy(self) -> np.ndarray:
        """Shannon entropy (inputs, L) in bits of each position's marginal: 2 = free, 0 = fixed."""
        return summary.entropy(self.marginals())

    def sequences(self, i: int = 0) -> list[str]:
        """The samples of input i as strings."""
        return decode(self.samples[i], self.alphabet)

    def __repr__(self) -> str:
        n, s, L = self.samples.shape
        return (
            f"<seqmaxent.Result: {n} input(s) x {s} samples x {L} bp, "
            f"beta={self.params.get('beta')}, mu={self.params.get('mu')}, "
            f"mean acceptance {self.acceptance.mean():.3f}"
            + (f", {int(self.converged.sum())}/{n} converged" if self.converged is not None else "") + ">"
        )
