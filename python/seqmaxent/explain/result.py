"""What a sampling run returns, with per-position summaries."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from . import diagnostics, summary
from ..io import store
from ..io.region import recorded
from ..io.sequences import UNKNOWN, decode


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
    prediction: np.ndarray | None = None  # (inputs,): the explained output of x0 (params["verdict"] says what)
    called: np.ndarray | None = None  # bool (inputs,): the network calls x0 the explained class (None: a value)
    kept_class: np.ndarray | None = None  # (inputs,): fraction of samples the network still calls x0's class

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

    def background(self) -> np.ndarray:
        """Base frequencies (4,) the samples drift to where the network lets them (beta = 0)."""
        return Result.background_of(self.params, self.alphabet)

    @staticmethod
    def background_of(params: dict, alphabet: str) -> np.ndarray:
        """The beta = 0 base frequencies (4,) of a run's parameters (mu, constrained) in `alphabet`."""
        constrained = str(params.get("constrained", "GC"))
        return summary.background(params.get("mu", 0.0), [b in constrained for b in alphabet])

    @property
    def region(self) -> np.ndarray:
        """Boolean (L,): the positions the chains could change (:mod:`seqmaxent.io.region`; all by default)."""
        return recorded(self.params, self.length)

    def importance(self) -> np.ndarray:
        """Importance (inputs, L) in bits: the KL divergence of each position's marginal from the
        background; 0 at N positions and outside the region (held fixed, not sampled)."""
        held = (self.x0 == UNKNOWN) | ~self.region
        return np.where(held, 0.0, summary.importance(self.marginals(), self.background()))

    def sequences(self, i: int = 0) -> list[str]:
        """The samples of input i as strings."""
        return decode(self.samples[i], self.alphabet)

    def values(self) -> dict[str, np.ndarray]:
        """Everything the results file keeps for these inputs (:mod:`seqmaxent.io.store`)."""
        mask = [b in str(self.params.get("constrained", "GC")) for b in self.alphabet]
        bg = self.background()
        p = self.marginals()
        chains = self.acceptance.shape[1]
        per_chain = self.samples.reshape(self.n_inputs, chains, -1, self.length)
        diag = diagnostics.measure(per_chain, self.x0, self.distances.reshape(self.n_inputs, chains, -1))
        nan = np.full(self.n_inputs, np.nan)
        return {
            "x0": self.x0, "samples": self.samples, "distances": self.distances, "acceptance": self.acceptance,
            "outputs": self.outputs, "marginals": p, "entropy": summary.entropy(p), "importance": self.importance(),
            "retained": summary.retained(self.samples, self.x0),
            "gc": np.stack([summary.gc_content(self.samples, mask).mean(axis=1), summary.gc_content(self.x0, mask),
                            np.full(self.n_inputs, bg[np.asarray(mask)].sum())], axis=1),
            "prediction": self.prediction if self.prediction is not None else nan,
            "called": np.full(self.n_inputs, -1) if self.called is None else self.called.astype(int),
            "kept_class": self.kept_class if self.kept_class is not None else nan,
            **diag, "evaluations": self.evaluations, "rounds": self.rounds, "converged": self.converged,
            "swap_acceptance": (self.swap_acceptance if self.swap_acceptance is not None
                                else np.full((self.n_inputs, 1), np.nan)),
            "ladder": self.ladders,
            "top_pairs": np.array([summary.strongest_pairs(s, store.TOP_PAIRS) for s in self.samples]),
            "index": np.arange(self.n_inputs) + int(self.params.get("first_input", 0)),
        }

    def save(self, path: str | Path) -> Path:
        """Write the results file the command line writes (``seqmaxent report`` reads it)."""
        from .. import __version__

        names = self.names or [f"input_{i + 1}" for i in range(self.n_inputs)]
        params = {"input": "(Python)", "version": __version__, "input_count": self.n_inputs, **self.params}
        values = self.values()
        with store.writing(path, params, store.sizes(values), sum(v.nbytes for v in values.values())) as out:
            out.append(list(names), values)
        return Path(path)

    def __repr__(self) -> str:
        n, s, L = self.samples.shape
        text = (f"<seqmaxent.Result: {n} input(s) x {s} samples x {L} bp, beta={self.params.get('beta'):.4g}, "
                f"mu={self.params.get('mu', 0.0):.3g}, mean acceptance {self.acceptance.mean():.3f}")
        if self.converged is not None:
            text += f", {int(self.converged.sum())}/{n} converged"
        if self.prediction is not None:
            v = self.prediction
            text += f"; {self.params.get('verdict', 'prediction')} {v.min():.3g}" + (
                f" to {v.max():.3g} (median {np.median(v):.3g})" if n > 1 else "")
            if self.called is not None and not self.called.all():
                text += f", {int((~self.called).sum())} not called the explained class"
        return text + ">"
