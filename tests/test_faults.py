"""Fault injection on the results file: a process killed (SIGKILL), interrupted (SIGINT) or stopped
(SIGTERM) at every write point of a run, a full disk, two writers, edited files. Afterwards the
file holds exactly the batches that were committed, and resuming gives the file of a run that
was never stopped."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time

import h5py
import numpy as np
import pytest

from seqmaxent.io import store
from seqmaxent.io.store import ResultsFile, ResultsFileError, load

L, S, CHAINS, RUNGS, OUTPUTS = 12, 6, 2, 3, 2
NAMES = [f"in{i}" for i in range(7)]
BATCHES = [NAMES[:3], NAMES[3:5], NAMES[5:]]
PARAMS = {"beta": 50.0, "mu": 0.0, "alphabet": "ACGT", "constrained": "GC", "model": "m.onnx"}


def values(names: list[str]) -> dict[str, np.ndarray]:
    """Results-file values of inputs, a function of their names."""
    out = {}
    for key, (shape, dtype) in store._layout(L, S, CHAINS, OUTPUTS, RUNGS).items():
        rows = [np.random.default_rng(int(n[2:]) * 97 + len(key)).integers(0, 4, shape).astype(dtype) for n in names]
        out[key] = np.stack(rows)
    out["index"] = np.array([int(n[2:]) for n in names])
    return out


def contents(path) -> dict[str, np.ndarray]:
    with h5py.File(path, "r") as h5:
        return {k: h5[k][:] for k in h5} | {"params": h5.attrs["params"]}


def assert_same(a: dict, b: dict) -> None:
    assert a.keys() == b.keys()
    for k in a:
        np.testing.assert_array_equal(a[k], b[k], err_msg=k)


def write(path, batches=BATCHES, mode="new") -> None:
    with ResultsFile.open(path, PARAMS, mode) as out:
        for batch in batches:
            if not set(batch) <= set(out.names):
                out.append(batch, values(batch))


@pytest.fixture(scope="module")
def reference(tmp_path_factory) -> dict:
    path = tmp_path_factory.mktemp("ref") / "ref.h5"
    write(path)
    return contents(path)


def in_child(point_action: int, action: str, path) -> int:
    """Fork; the child writes the run, counting write points, and at point `point_action` sends
    itself `action` (SIGKILL, SIGINT, SIGTERM) or fails the write with ENOSPC. Returns the
    child's exit status (0: finished before that point)."""
    import pathlib
    import shutil

    pid = os.fork()
    if pid:
        return os.waitpid(pid, 0)[1]
    try:
        count = [0]

        def point(half_write=None):
            count[0] += 1
            if count[0] != point_action:
                return
            if half_write is not None:
                half_write()
            if action == "ENOSPC":
                raise OSError(errno.ENOSPC, "No space left on device")
            os.kill(os.getpid(), getattr(signal, action))  # a handled one is raised here, or where deferred

        def patch(owner, name, half=None):
            original = getattr(owner, name)

            def wrapped(*args, **kwargs):
                point(None if half is None else lambda: half(*args))
                return original(*args, **kwargs)

            setattr(owner, name, wrapped)

        for owner, name in [(os, "fsync"), (os, "replace"), (os, "rmdir"), (os, "unlink"), (shutil, "copyfile"),
                            (store, "_create"), (store, "_extend")]:
            patch(owner, name)
        patch(pathlib.Path, "write_bytes", half=lambda self, data: open(self, "wb").write(data[: len(data) // 2]))
        signal.signal(signal.SIGINT, signal.default_int_handler)  # a shell's background job starts with it ignored
        signal.signal(signal.SIGTERM, lambda s, f: (_ for _ in ()).throw(KeyboardInterrupt()))
        try:
            write(path, mode="resume")
        except KeyboardInterrupt:
            os._exit(130)
        except OSError:
            os._exit(28)
        os._exit(0)
    except BaseException:
        os._exit(99)


def check_recovered(path, reference: dict) -> list[str]:
    """The file after a stop: exactly the inputs of whole batches, with their data; returns their names."""
    params, names, h5 = load(path) if store.exists(path) else (None, [], None)
    if h5 is None:
        return []
    with h5:
        assert names == NAMES[: len(names)] and len(names) in (0, 3, 5, 7)
        for k in h5:
            np.testing.assert_array_equal(h5[k][:], reference[k][: len(names)], err_msg=k)
    return names


@pytest.mark.parametrize("action", ["SIGKILL", "SIGINT", "SIGTERM", "ENOSPC"])
def test_a_stop_at_every_write_point_loses_nothing(tmp_path, reference, action):
    """A run of 3 batches (then resumed, and stopped again) stopped at each of its write points in
    turn; every stop leaves whole batches only, and resuming ends in the reference file."""
    statuses = []
    for k in range(1, 400):
        path = tmp_path / f"{action}{k}.h5"
        status = in_child(k, action, path)
        statuses.append(status)
        check_recovered(path, reference)
        write(path, mode="resume")
        assert_same(contents(path), reference)
        assert not (tmp_path / f"{action}{k}.h5.journal").exists() and not list(tmp_path.glob(".*.tmp"))
        if status == 0:
            break
    assert status == 0 and len(statuses) > 25  # every point was reached, and there are many
    if action == "SIGKILL":
        assert {os.WIFSIGNALED(s) and os.WTERMSIG(s) == signal.SIGKILL for s in statuses[:-1]} == {True}
    else:  # stopped cleanly, through the Python exception
        expected = 28 if action == "ENOSPC" else 130
        assert {os.waitstatus_to_exitcode(s) for s in statuses[:-1]} == {expected}


def test_a_second_writer_is_refused_before_it_touches_the_file(tmp_path, reference):
    path = tmp_path / "out.h5"
    write(path, BATCHES[:1])
    before = path.read_bytes()
    with ResultsFile.open(path, PARAMS, "resume") as first:
        first.append(BATCHES[1], values(BATCHES[1]))
        for mode in ("new", "resume", "overwrite"):
            with pytest.raises(ResultsFileError, match=r"out.h5 is being written by seqmaxent run \(process \d+"):
                ResultsFile.open(path, PARAMS, mode)
        assert path.read_bytes() == before  # a reader meanwhile sees the file as it was
        assert load(path)[1] == BATCHES[0]
    assert load(path)[1] == NAMES[:5]


def test_a_full_disk_keeps_what_was_written(tmp_path, reference, monkeypatch):
    path = tmp_path / "out.h5"
    out = ResultsFile.open(path, PARAMS, "new")
    out.append(BATCHES[0], values(BATCHES[0]))
    real = store._Journal.commit

    def full(self, data):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(store._Journal, "commit", full)
    with pytest.raises(OSError, match=r"cannot write a batch of 2 input\(s\) to .*out.h5.journal: No space left on "
                                      r"device; the 3 input\(s\) written before are kept"):
        out.append(BATCHES[1], values(BATCHES[1]))
    monkeypatch.setattr(store._Journal, "commit", real)
    monkeypatch.setattr(store.shutil, "disk_usage", lambda _: type("u", (), {"free": 1000})())
    monkeypatch.setattr(store.ctypes, "CDLL", lambda *a, **k: object())  # no fallocate: the free space is checked
    with pytest.raises(OSError, match=r"cannot join the 1 committed batch\(es\) of .*out.h5: No space left on "
                                      r"device \(needs 0.\d MB\); they are safe in .*out.h5.journal"):
        out.close()
    assert not path.exists()
    monkeypatch.undo()
    assert load(path)[1] == BATCHES[0]  # joined when opened with space
    write(path, mode="resume")
    assert_same(contents(path), reference)


@pytest.mark.skipif(os.geteuid() != 0, reason="mounting a small filesystem needs root")
def test_a_really_full_filesystem(tmp_path, reference):
    """On a 1 MiB tmpfs: the batch that does not fit is a clear error; the file keeps the others."""
    mount = tmp_path / "small"
    mount.mkdir()
    if subprocess.run(["mount", "-t", "tmpfs", "-o", "size=1m", "tmpfs", str(mount)], capture_output=True).returncode:
        pytest.skip("this machine cannot mount a tmpfs")
    try:
        (mount / "filler").write_bytes(b"\0" * (1024 * 1024 - 200 * 1024))
        path = mount / "out.h5"
        with pytest.raises(OSError) as failure:
            with ResultsFile.open(path, PARAMS, "new") as out:
                for n in range(0, 2000, 40):
                    names = [f"in{i}" for i in range(n, n + 40)]
                    out.append(names, values(names))
        assert "No space left on device" in str(failure.value) or "not enough space" in str(failure.value)
        with pytest.raises(OSError, match=r"cannot join the \d+ committed batch\(es\) of .*out.h5: No space left on "
                                          r"device.*; they are safe"):
            load(path)  # (HDF5 itself would crash the process if it met the full disk)
        assert not list(mount.glob(".out.h5.*.tmp"))
        (mount / "filler").unlink()
        params, names, h5 = load(path)
        with h5:
            assert len(names) % 40 == 0 and len(names) > 0
            np.testing.assert_array_equal(h5["samples"][:], values(names)["samples"])
    finally:
        subprocess.run(["umount", str(mount)])


@pytest.mark.parametrize("edit,message", [
    (lambda h5: h5.attrs.__delitem__("format"), "is not a seqmaxent results file"),
    (lambda h5: h5.attrs.__setitem__("params", "{"), "the 'params' attribute is missing or not a JSON object"),
    (lambda h5: h5.attrs.__setitem__("params", '{"mu": 0}'), "parameter 'beta' is missing or not a"),
    (lambda h5: h5.__delitem__("ladder"), "dataset 'ladder' is missing"),
    (lambda h5: h5["importance"].resize(5, axis=1), r"dataset 'importance' has shape \(7, 5\), expected \(7, 12\)"),
    (lambda h5: h5["names"].resize(6, axis=0), r"dataset 'x0' has shape \(7, 12\), expected \(6, 12\) \(6 names\)"),
    (lambda h5: h5["samples"].resize(3, axis=0), r"dataset 'samples' has shape \(3, 6, 12\), expected"),
])
def test_edited_files_are_named_errors(tmp_path, reference, edit, message):
    path = tmp_path / "edited.h5"
    write(path)
    with h5py.File(path, "a") as h5:
        edit(h5)
    with pytest.raises(ResultsFileError, match=f"{path}: {message}" if "results file" not in message else message):
        load(path)


def test_the_cli_stopped_at_random_instants_resumes_to_the_same_file(tmp_path):
    """The real command, killed (SIGKILL) or stopped (SIGINT, SIGTERM) at random instants: the exit
    status and the count it prints are right, and --resume ends in the file of an unbroken run."""
    from conftest import model_path

    seqs = ["".join(np.random.default_rng(i).choice(list("ACGT"), 24)) for i in range(10)]
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    base = [sys.executable, "-c", "from seqmaxent.cli import main; main()", "sample", str(model_path("gemm_softmax_ncl")),
            str(fa), "--beta", "2", "--chains", "4", "--steps", "2000", "--period", "50", "--batch-size", "2",
            "--threads", "1", "--quiet", "-o"]
    start = time.perf_counter()
    subprocess.run([*base, str(tmp_path / "ref.h5")], check=True)
    duration = time.perf_counter() - start  # stops fall in [0.3, 0.9] of it: mostly while sampling
    rng, kept_counts = np.random.default_rng(7), []
    for k, sig in enumerate([signal.SIGKILL, signal.SIGINT, signal.SIGTERM] * 2):
        out = tmp_path / f"run{k}.h5"
        proc = subprocess.Popen([*base, str(out)], stderr=subprocess.PIPE, text=True)
        time.sleep(rng.uniform(0.3, 0.9) * duration)
        proc.send_signal(sig)
        err = proc.communicate(timeout=60)[1]
        kept = len(load(out)[1]) if store.exists(out) else 0
        kept_counts.append(kept)
        if sig == signal.SIGKILL or proc.returncode == -sig:  # (SIGTERM: after the command, while Python exits)
            assert proc.returncode == -sig and (sig == signal.SIGKILL or kept == len(seqs))
        elif proc.returncode != 0:  # not finished before the signal
            assert proc.returncode == 128 + sig and "Traceback" not in err and "terminate" not in err
            said = err.strip().splitlines()[-1]
            stop = "interrupted" if sig == signal.SIGINT else "stopped by SIGTERM"
            if said != stop:  # (alone: stopped before sampling began)
                assert said.startswith(f"{stop}; " + (f"kept {kept} finished input(s)" if kept else "none kept yet")), err
        subprocess.run([*base, str(out), "--resume"], check=True)
        assert_same(contents(out), contents(tmp_path / "ref.h5"))
    assert any(0 < k < len(seqs) for k in kept_counts), kept_counts  # some stops came mid-run


def test_ctrl_c_twice_while_sampling_exits_130_without_an_abort(tmp_path):
    """A second Ctrl-C while the core is stopping is absorbed; the run ends cleanly every time."""
    from conftest import model_path

    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">s{i}\n{'ACGT' * 6}\n" for i in range(4)))
    for k in range(3):
        proc = subprocess.Popen([sys.executable, "-c", "from seqmaxent.cli import main; main()", "sample",
                                 str(model_path("gemm_softmax_ncl")), str(fa), "-o", str(tmp_path / f"o{k}.h5"),
                                 "--beta", "2", "--steps", "100000", "--period", "1000", "--threads", "2", "--quiet"],
                                stderr=subprocess.PIPE, text=True)
        time.sleep(2.0 + 0.3 * k)
        proc.send_signal(signal.SIGINT)
        time.sleep(0.02 * k)
        proc.send_signal(signal.SIGINT)
        err = proc.communicate(timeout=60)[1]
        assert proc.returncode == 130 and err.strip().splitlines()[-1].startswith("interrupted; none kept yet"), err


def test_a_stop_a_library_wraps_still_exits_as_a_stop(monkeypatch, capsys):
    """ONNX Runtime's extension turns a Ctrl-C during its import into ImportError('initialization failed'):
    seen as exit 1 'error: initialization failed' when a stop fell in the command's first second."""
    from seqmaxent import cli
    def interrupted_import(**_):
        try:
            raise KeyboardInterrupt
        except KeyboardInterrupt as e:
            raise ImportError("initialization failed") from e

    monkeypatch.setattr(cli.cli, "main", interrupted_import)
    with pytest.raises(SystemExit) as exit_:
        cli.main()
    assert exit_.value.code == 130 and capsys.readouterr().err.strip() == "interrupted"
