"""The results file: one self-describing HDF5 file per run, written input batch by input batch so
an interrupted run keeps every finished input and can be resumed."""

from __future__ import annotations

import json
from pathlib import Path

import h5py
import numpy as np

FORMAT, VERSION = "seqmaxent-results", 1
# Run parameters that may differ between a run and its resumption.
NOT_COMPARED = {"threads", "batch_size"}
# ... and those that may differ between shards of one run
SHARD_KEYS = {"shard"}
TOP_PAIRS = 20  # position pairs with the highest mutual information kept per input

def _layout(L: int, S: int, chains: int, outputs: int, rungs: int) -> dict[str, tuple[tuple[int, ...], str]]:
    """Dataset name -> (shape of one input's entry, dtype); every dataset grows along axis 0."""
    return {
        "x0": ((L,), "u1"), "samples": ((S, L), "u1"), "distances": ((S,), "f4"),
        "acceptance": ((chains,), "f4"), "outputs": ((outputs,), "f4"), "marginals": ((L, 4), "f4"),
        "entropy": ((L,), "f4"), "importance": ((L,), "f4"), "retained": ((L,), "f4"),
        "gc": ((3,), "f4"), "prediction": ((), "f4"), "called": ((), "i1"), "kept_class": ((), "f4"), "rhat": ((), "f4"), "ess": ((), "f4"),
        "rhat_positions": ((), "f4"), "ess_positions": ((), "f4"), "top_pairs": ((TOP_PAIRS, 3), "f4"),
        "evaluations": ((), "i8"), "rounds": ((), "i4"), "converged": ((), "u1"),
        "swap_acceptance": ((max(rungs - 1, 1),), "f4"), "ladder": ((rungs,), "f8"), "index": ((), "i8"),
    }


DESCRIPTIONS = {
    "names": "input sequence names", "x0": "input base codes (index the 'alphabet' attribute; 4 = N)",
    "samples": "sampled base codes, chain by chain", "distances": "d of each sample",
    "acceptance": "accepted fraction of proposals per chain", "outputs": "network outputs for x0",
    "marginals": "base frequencies per position", "entropy": "bits per position (2 = free, 0 = fixed)",
    "importance": "KL divergence (bits) of each position's marginal from the mu-background",
    "retained": "fraction of samples keeping x0's base", "gc": "GC fraction: samples (mean), x0, background",
    "prediction": "the explained output of x0 (the 'verdict' attribute says what: a probability, a logit or a value)",
    "called": "1 if the network calls x0 the explained class, 0 if not, -1 for an output that is not a class",
    "kept_class": "fraction of a subsample of samples still predicted as x0's class",
    "rhat": "split R-hat of d across chains", "ess": "effective sample size of d",
    "rhat_positions": "largest split R-hat of the per-position retained indicator",
    "ess_positions": "smallest ESS of the per-position retained indicator (changing positions)",
    "top_pairs": "position pairs (i, j, 0-based) with the highest mutual information (bits) between samples",
    "evaluations": "network evaluations spent on the input (all rounds, all replicas)",
    "rounds": "sampling rounds (each as long as all before it; samples come from the last)",
    "converged": "1 if the last round passed the diagnostics (R-hat <= 1.05, ESS >= 100)",
    "swap_acceptance": "accepted fraction of replica-exchange swaps between rungs r and r + 1 (after tuning; "
                       "NaN with one rung)",
    "ladder": "the input's betas (replica exchange: its ladder, as tuned)",
    "index": "the input's position in the input file (0-based), which keys its random streams",
}


def sizes(values: dict[str, np.ndarray]) -> dict[str, int]:
    """The dataset sizes of a batch of results-file values, for :meth:`ResultsFile.create`."""
    return dict(length=values["x0"].shape[1], samples=values["samples"].shape[1], chains=values["acceptance"].shape[1],
                outputs=values["outputs"].shape[1], rungs=values["ladder"].shape[1])


class ResultsFile:
    """Open with :meth:`create` or :meth:`resume`; :meth:`append` one batch of inputs at a time."""

    def __init__(self, h5: h5py.File):
        self.h5 = h5

    @classmethod
    def create(cls, path: str | Path, params: dict, sizes: dict[str, int]) -> ResultsFile:
        try:
            h5 = h5py.File(path, "w")
        except OSError as e:
            raise OSError(f"cannot write the results file {path}: {e}") from None
        h5.attrs["format"], h5.attrs["version"] = FORMAT, VERSION
        h5.attrs["params"] = json.dumps(params)
        for key, value in params.items():
            h5.attrs[key] = json.dumps(value) if isinstance(value, (list, tuple, dict)) or value is None else value
        L, S = sizes["length"], sizes["samples"]
        h5.create_dataset("names", (0,), maxshape=(None,), dtype=h5py.string_dtype(), chunks=(1024,))
        for name, (shape, dtype) in _layout(L, S, sizes["chains"], sizes["outputs"], sizes["rungs"]).items():
            chunks = (1, *shape) if name == "samples" else (64, *shape)
            h5.create_dataset(name, (0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=chunks,
                              compression="gzip" if name == "samples" else None, shuffle=name == "samples")
        for name, text in DESCRIPTIONS.items():
            h5[name].attrs["description"] = text
        h5.flush()
        return cls(h5)

    @classmethod
    def resume(cls, path: str | Path, params: dict) -> ResultsFile:
        try:
            h5 = h5py.File(path, "a")
        except OSError as e:
            raise OSError(f"cannot resume {path}: {e}") from None
        if h5.attrs.get("format") != FORMAT:
            h5.close()
            raise ValueError(f"{path} is not a seqmaxent results file")
        old, new = json.loads(h5.attrs["params"]), json.loads(json.dumps(params))  # tuples as JSON lists
        changed = sorted(k for k in (set(old) | set(new)) - NOT_COMPARED if old.get(k) != new.get(k))
        if changed:
            h5.close()
            detail = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
            raise ValueError(f"{path} was written with other settings ({detail}); resume with the same ones or write a new file")
        return cls(h5)

    @property
    def names(self) -> list[str]:
        return _names(self.h5)

    def append(self, names: list[str], values: dict[str, np.ndarray]) -> None:
        """Add a batch of inputs; written to disk before returning."""
        n0, n = self.h5["names"].shape[0], len(names)
        for key in ["names", *values]:
            ds = self.h5[key]
            ds.resize(n0 + n, axis=0)
            ds[n0:] = names if key == "names" else values[key]
        self.h5.flush()

    def close(self) -> None:
        self.h5.close()

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _names(h5: h5py.File) -> list[str]:
    return [n.decode() if isinstance(n, bytes) else n for n in h5["names"][:]]


def load(path: str | Path) -> tuple[dict, list[str], h5py.File]:
    """Parameters, input names and the open HDF5 file (read-only) of a results file."""
    try:
        h5 = h5py.File(path, "r")
    except OSError as e:  # h5py names neither the file nor what it expected
        if not Path(path).exists():
            raise FileNotFoundError(f"{path}: no such results file") from None
        raise ValueError(f"{path} is not a seqmaxent results file (not HDF5: {e})") from None
    if h5.attrs.get("format") != FORMAT:
        h5.close()
        raise ValueError(f"{path} is not a seqmaxent results file")
    return json.loads(h5.attrs["params"]), _names(h5), h5
