"""The results file: one self-describing HDF5 file per run, crash-safe by construction.

No run writes ``OUTPUT.h5`` in place. A run commits each batch of inputs to a journal folder
beside it, ``OUTPUT.h5.journal/``: the batch is built as an HDF5 file in memory, written under a
temporary name, synced and renamed, so a batch is on disk whole or not at all. Closing the run
joins the old file and the batches into a new file, syncs it and renames it over ``OUTPUT.h5``;
only then are the batches deleted. So at every instant, whatever stops the process (SIGKILL, a
full disk, power loss), ``OUTPUT.h5`` is a complete earlier version and the journal holds exactly
the batches committed since. Opening the file again (to read it or resume the run) finishes a
join that was cut short; batches already in the file (by input name) are skipped. A lock on the
journal folder lets one run at a time write it: a second refuses before touching anything.
"""

from __future__ import annotations

import ctypes
import errno
import fcntl
import io
import json
import os
import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import h5py
import numpy as np

from ..interrupts import deferred

FORMAT, VERSION = "seqmaxent-results", 1
# Run parameters that may differ between a run and its resumption (which may read an input file
# fixed after an error; "reads" follows from the model and positions, which are compared) ...
NOT_COMPARED = {"threads", "batch_size", "input_sha256", "reads"}
# ... and between the shards of one run, which must have read the same input file
SHARD_NOT_COMPARED = {"threads", "batch_size", "shard"}
TOP_PAIRS = 20  # position pairs with the highest mutual information kept per input
# Parameters every reader needs, with their types
REQUIRED = {"beta": (int, float), "mu": (int, float), "alphabet": str, "constrained": str}
SIZES = {"length": ("x0", 1), "samples": ("samples", 1), "chains": ("acceptance", 1), "outputs": ("outputs", 1),
         "rungs": ("ladder", 1)}  # each size: the dataset and axis that hold it


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


class ResultsFileError(ValueError):
    """A file that is not a readable seqmaxent results file, or one another run is writing."""


def sizes(values: dict[str, np.ndarray]) -> dict[str, int]:
    """The dataset sizes of a batch of results-file values (or of an open results file)."""
    return {size: int(values[name].shape[axis]) for size, (name, axis) in SIZES.items()}


def _create(h5: h5py.File, params: dict, sizes: dict[str, int]) -> None:
    """Lay out an empty results file in `h5`."""
    h5.attrs["format"], h5.attrs["format_version"] = FORMAT, VERSION  # 'version' is seqmaxent's
    h5.attrs["params"] = json.dumps(params)
    for key, value in params.items():
        h5.attrs[key] = json.dumps(value) if isinstance(value, (list, tuple, dict)) or value is None else value
    h5.create_dataset("names", (0,), maxshape=(None,), dtype=h5py.string_dtype(), chunks=(1024,))
    for name, (shape, dtype) in _layout(*(sizes[k] for k in SIZES)).items():
        chunks = (1, *shape) if name == "samples" else (64, *shape)
        h5.create_dataset(name, (0, *shape), maxshape=(None, *shape), dtype=dtype, chunks=chunks,
                          compression="gzip" if name == "samples" else None, shuffle=name == "samples")
    for name, text in DESCRIPTIONS.items():
        h5[name].attrs["description"] = text


def _append(h5: h5py.File, names: list[str], values: dict[str, np.ndarray]) -> None:
    n0, n = h5["names"].shape[0], len(names)
    for key in ["names", *values]:
        ds = h5[key]
        ds.resize(n0 + n, axis=0)
        ds[n0:] = names if key == "names" else values[key]


def _extend(h5: h5py.File, source: h5py.File, rows: list[int]) -> None:
    """Append `rows` of another results file of the same layout; samples as stored (no recompression)."""
    if not rows:
        return
    n0 = h5["names"].shape[0]
    _append(h5, [_text(source["names"][r]) for r in rows],
            {k: source[k][np.array(rows)] for k in source if k not in ("names", "samples")})
    samples, out = source["samples"], h5["samples"]
    out.resize(n0 + len(rows), axis=0)
    for k, r in enumerate(rows):  # one chunk per input
        mask, chunk = samples.id.read_direct_chunk((r, 0, 0))
        out.id.write_direct_chunk((n0 + k, 0, 0), chunk, mask)


def _text(name) -> str:
    return name.decode() if isinstance(name, bytes) else name


def _names(h5: h5py.File) -> list[str]:
    return [_text(n) for n in h5["names"][:]]


def check(h5: h5py.File, path: str | Path) -> dict:
    """The parameters of an open results file, after checking its layout; errors name the file and dataset."""
    if h5.attrs.get("format") != FORMAT:
        raise ResultsFileError(f"{path} is not a seqmaxent results file")
    if h5.attrs.get("format_version", VERSION) != VERSION:  # files before 0.1.0's last change have none
        raise ResultsFileError(f"{path}: results file format version {h5.attrs['format_version']!r}; this seqmaxent "
                               f"reads version {VERSION}")
    try:
        params = json.loads(h5.attrs["params"])
        assert isinstance(params, dict)
    except (KeyError, TypeError, ValueError, AssertionError):
        raise ResultsFileError(f"{path}: the 'params' attribute is missing or not a JSON object") from None
    for key, kind in REQUIRED.items():
        if not isinstance(params.get(key), kind):
            raise ResultsFileError(f"{path}: parameter {key!r} is missing or not a {getattr(kind, '__name__', 'number')}")
    if len(params["alphabet"]) != 4:
        raise ResultsFileError(f"{path}: parameter 'alphabet' must have 4 bases, not {params['alphabet']!r}")
    for name in ("names", *_layout(1, 1, 1, 1, 1)):
        if not isinstance(h5.get(name), h5py.Dataset):
            raise ResultsFileError(f"{path}: dataset {name!r} is missing")
    for name, (source, axis) in SIZES.items():
        if h5[source].ndim <= axis:
            raise ResultsFileError(f"{path}: dataset {source!r} has shape {h5[source].shape}")
    n = h5["names"].shape[0]
    for name, (shape, _) in _layout(*sizes(h5).values()).items():
        if h5[name].shape != (n, *shape):
            raise ResultsFileError(f"{path}: dataset {name!r} has shape {h5[name].shape}, expected {(n, *shape)} "
                                   f"({n} names)")
    return params


def _sync_folder(folder: Path) -> None:
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _reserve(path: Path, size: int) -> None:
    """Allocate `size` bytes (and a margin for HDF5's own structures) of disk past the end of
    `path` (its size unchanged), so that HDF5's
    writes there cannot meet a full disk, which HDF5 does not survive (it can crash the process):
    a full disk is a clear error here, before any of them. Where the filesystem cannot allocate
    ahead, the free space is checked instead."""
    size += size // 8 + (64 << 10)
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.fallocate.argtypes = [ctypes.c_int, ctypes.c_int, ctypes.c_int64, ctypes.c_int64]
        with open(path, "rb+") as f:
            failed = libc.fallocate(f.fileno(), 1, os.fstat(f.fileno()).st_size, size)  # 1: keep the size
        error = ctypes.get_errno() if failed else 0
    except (AttributeError, OSError):  # no fallocate (not Linux)
        error = errno.EOPNOTSUPP
    if error in (errno.EOPNOTSUPP, errno.ENOSYS, errno.EINVAL):
        error = errno.ENOSPC if shutil.disk_usage(path.parent).free < size else 0
    if error:
        raise OSError(error, f"{os.strerror(error)} (needs {size / 1e6:.1f} MB)")


def _release(path: Path) -> None:
    """Give back what :func:`_reserve` allocated and HDF5 did not use."""
    os.truncate(path, path.stat().st_size)


def _temporary(path: Path) -> Path:
    return path.with_name(f".{path.name}.{os.getpid()}.tmp")


@contextmanager
def replacing(path: Path) -> Iterator[Path]:
    """A temporary path beside `path`, synced and renamed to `path` when the block succeeds, removed if not."""
    tmp = _temporary(path)
    try:
        yield tmp
        with open(tmp, "rb+") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
        _sync_folder(path.parent)
    finally:
        tmp.unlink(missing_ok=True)


class Table:
    """A results file being written by :func:`writing`: :meth:`append` batches of inputs."""

    def __init__(self, h5: h5py.File):
        self.h5 = h5

    def append(self, names: list[str], values: dict[str, np.ndarray]) -> None:
        _append(self.h5, names, values)

    def extend(self, source: h5py.File, rows: list[int]) -> None:
        _extend(self.h5, source, rows)


@contextmanager
def writing(path: str | Path, params: dict, sizes: dict[str, int], space: int) -> Iterator[Table]:
    """Write a whole results file of at most about `space` bytes: it appears at `path` complete
    when the block ends, or not at all (a full disk: an error before HDF5 writes)."""
    path = Path(path)
    with replacing(path) as tmp:
        with h5py.File(tmp, "w") as h5:
            _create(h5, params, sizes)
        try:
            _reserve(tmp, space)
        except OSError as e:
            raise OSError(f"cannot write {path}: {e.strerror}") from None
        with h5py.File(tmp, "a") as h5:
            yield Table(h5)
        _release(tmp)


def _batch_bytes(params: dict, names: list[str], values: dict[str, np.ndarray]) -> bytes:
    """One batch as a results file, in memory."""
    buffer = io.BytesIO()
    with h5py.File(buffer, "w") as h5:
        _create(h5, params, sizes(values))
        _append(h5, names, values)
    return buffer.getvalue()


class _Journal:
    """The committed batches of a results file (OUTPUT.h5.journal/batch-NNNNNN.h5), locked by one writer."""

    def __init__(self, path: Path):
        self.path, self.folder = path, path.with_name(path.name + ".journal")
        self.fd: int | None = None
        self.next = 0  # number of the next batch

    def lock(self) -> bool:
        """Take the lock (creating the folder); False if another process holds it."""
        while True:
            self.folder.mkdir(exist_ok=True)
            fd = os.open(self.folder, os.O_RDONLY | os.O_DIRECTORY)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                return False
            try:
                same = os.stat(self.folder).st_ino == os.fstat(fd).st_ino
            except FileNotFoundError:
                same = False
            if same:
                self.fd = fd
                batches = self.batches()
                self.next = int(batches[-1].stem.split("-")[1]) + 1 if batches else 0
                return True
            os.close(fd)  # the folder was removed (a join finished) while we waited: take the new one

    def unlock(self) -> None:
        if self.fd is not None:
            os.close(self.fd)
            self.fd = None

    def owner(self) -> str:
        try:
            return (self.folder / "owner").read_text().strip()
        except OSError:
            return "another process"

    def batches(self) -> list[Path]:
        return sorted(self.folder.glob("batch-*.h5"))

    def commit(self, data: bytes) -> None:
        with replacing(self.folder / f"batch-{self.next:06d}.h5") as tmp:
            tmp.write_bytes(data)
        self.next += 1

    def clean(self) -> None:
        """Remove what writers that died left half-written (only the lock holder writes)."""
        for stale in [*self.folder.glob(".batch-*.tmp"), *self.path.parent.glob(f".{self.path.name}.*.tmp")]:
            stale.unlink(missing_ok=True)

    def join(self) -> None:
        """Join the file and the committed batches into the file (atomically), then delete the batches."""
        self.clean()
        batches = self.batches()
        if batches:
            base = self.path if self.path.exists() else batches[0]  # a results file to append the others to
            try:
                with replacing(self.path) as tmp:
                    shutil.copyfile(base, tmp)
                    _reserve(tmp, sum(p.stat().st_size for p in batches))
                    with h5py.File(tmp, "a") as out:
                        kept = set(_names(out))
                        for batch in batches:
                            with h5py.File(batch, "r") as h5:
                                _extend(out, h5, [r for r, n in enumerate(_names(h5)) if n not in kept])
                                kept.update(_names(h5))
                    _release(tmp)
            except OSError as e:
                raise OSError(f"cannot join the {len(batches)} committed batch(es) of {self.path}: "
                              f"{e.strerror or e}; they are safe in {self.folder} (open the file again once this is "
                              f"fixed)") from None
        for batch in batches:
            batch.unlink()

    def remove(self) -> None:
        """Join, then remove the folder while still holding the lock."""
        self.join()
        (self.folder / "owner").unlink(missing_ok=True)
        self.folder.rmdir()
        self.unlock()


def exists(path: str | Path) -> bool:
    """Whether `path` holds results: the file, or batches of a run that died before joining them."""
    path = Path(path)
    return path.exists() or any(_Journal(path).folder.glob("batch-*.h5"))


def settle(path: str | Path) -> None:
    """Join a journal left by a run that died, if no run holds it (a reader's recovery)."""
    journal = _Journal(Path(path))
    if not journal.folder.is_dir() or not os.access(journal.folder, os.W_OK):
        return
    with deferred():
        if journal.lock():
            try:
                journal.remove()
            finally:
                journal.unlock()


class ResultsFile:
    """A run's results file: :meth:`open` it, :meth:`append` one batch of inputs at a time, :meth:`close`.

    `mode`: "new" refuses an existing file, "resume" keeps its inputs (:attr:`names`; the settings
    must match), "overwrite" replaces it. A second writer of the same file is refused."""

    def __init__(self, path: Path, journal: _Journal, params: dict, names: list[str]):
        self.path, self.journal, self.params, self.names = path, journal, params, names

    @classmethod
    def open(cls, path: str | Path, params: dict, mode: str = "new") -> ResultsFile:
        path = Path(path)
        journal = _Journal(path)
        try:
            locked = journal.lock()
        except OSError as e:
            raise OSError(f"cannot write the results file {path}: {e.strerror or e}") from None
        if not locked:
            raise ResultsFileError(f"{path} is being written by {journal.owner()}; wait for that run to end, or "
                                   f"write another file")
        try:
            (journal.folder / "owner").write_text(f"seqmaxent run (process {os.getpid()} on {os.uname().nodename})\n")
            with deferred():
                if mode == "overwrite":
                    for stale in [*journal.batches(), path]:
                        stale.unlink(missing_ok=True)
                journal.join()  # batches of a run that died
            names: list[str] = []
            if path.exists():
                with h5py.File(path, "r") as h5:
                    old = check(h5, path)
                    names = _names(h5)
                if mode == "new":
                    raise FileExistsError(f"{path} exists ({len(names)} input(s)); resume it, overwrite it, or "
                                          f"remove it")
                _compare(path, old, params)
            return cls(path, journal, params, names)
        except BaseException:
            try:
                if not journal.batches():
                    journal.remove()
            finally:
                journal.unlock()
            raise

    def append(self, names: list[str], values: dict[str, np.ndarray]) -> None:
        """Commit a batch of inputs (to disk, whole or not at all) before returning."""
        data = _batch_bytes(self.params, names, values)
        with deferred():
            try:
                self.journal.commit(data)
            except OSError as e:
                raise OSError(f"cannot write a batch of {len(names)} input(s) to {self.journal.folder}: "
                              f"{e.strerror or e}; the {len(self.names)} input(s) written before are kept "
                              f"(resume the run once this is fixed)") from None
        self.names += names

    def close(self) -> None:
        """Join the committed batches into the file and release it."""
        with deferred():
            try:
                self.journal.remove()
            finally:
                self.journal.unlock()  # whatever failed, the next opener can finish the join

    def __enter__(self) -> ResultsFile:
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _compare(path: Path, old: dict, params: dict) -> None:
    old, new = json.loads(json.dumps(old)), json.loads(json.dumps(params))  # tuples as JSON lists
    changed = sorted(k for k in (set(old) | set(new)) - NOT_COMPARED if old.get(k) != new.get(k))
    if changed:
        detail = ", ".join(f"{k}: {old.get(k)!r} -> {new.get(k)!r}" for k in changed)
        raise ValueError(f"{path} was written with other settings ({detail}); resume with the same ones or write a new file")


def load(path: str | Path) -> tuple[dict, list[str], h5py.File]:
    """Parameters, input names and the open HDF5 file (read-only) of a results file, after joining
    what a run that died left in its journal."""
    path = Path(path)
    settle(path)
    if not path.exists():
        journal = _Journal(path)
        if journal.folder.is_dir():
            raise ResultsFileError(f"{path} is being written by {journal.owner()}: it appears when that run ends")
        raise FileNotFoundError(f"{path}: no such results file")
    try:
        h5 = h5py.File(path, "r")
    except OSError as e:  # h5py names neither the file nor what it expected
        raise ResultsFileError(f"{path} is not a seqmaxent results file (not HDF5: {e})") from None
    try:
        return check(h5, path), _names(h5), h5
    except BaseException:
        h5.close()
        raise


def header(path: str | Path) -> tuple[dict, list[str]]:
    """Parameters and input names of a results file (:func:`load`, the file closed again)."""
    params, names, h5 = load(path)
    h5.close()
    return params, names
