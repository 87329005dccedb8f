"""Many inputs across processes: shards of a job array, their merge, and a Dask cluster, each
giving the file of a single-process run."""

from __future__ import annotations

import os
import signal

import h5py
import numpy as np
import pytest

import seqmaxent as sm
from conftest import model_path
from seqmaxent.io.merge import merge
from seqmaxent.sampling.pipeline import sample_file

SEQS = ["".join(np.random.default_rng(i).choice(list("ACGT"), 24)) for i in range(7)]
OPTIONS = dict(beta=2.0, chains=4, steps=200, period=20, burn_in=40, max_rounds=2, seed=3, threads=1)


@pytest.fixture(scope="module")
def model() -> sm.Model:
    return sm.Model(model_path("gemm_softmax_ncl"))


def fasta(path, seqs=SEQS):
    path.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(seqs)))
    return path


def assert_same_results(a, b) -> None:
    with h5py.File(a, "r") as x, h5py.File(b, "r") as y:
        assert set(x) == set(y)
        for key in x:
            np.testing.assert_array_equal(x[key][:], y[key][:], err_msg=key)


def test_merged_shards_equal_one_run(tmp_path, model):
    fa = fasta(tmp_path / "in.fa")
    sample_file(model, fa, tmp_path / "one.h5", batch_size=2, **OPTIONS)
    for i in range(3):
        sample_file(model, fa, tmp_path / "run.h5", batch_size=2, shard=(i, 3), **OPTIONS)
    shards = [tmp_path / f"run.shard{i}of3.h5" for i in range(3)]
    with h5py.File(shards[1], "r") as h5:  # batches 1 and 4 of 2 inputs: inputs 3, 4 (file positions 2, 3)
        assert list(h5["index"][:]) == [2, 3]
    assert merge(shards, tmp_path / "merged.h5") == 7
    assert_same_results(tmp_path / "one.h5", tmp_path / "merged.h5")
    with pytest.raises(ValueError, match="2 of 7 inputs are in no shard"):
        merge(shards[:2], tmp_path / "partial.h5")
    sample_file(model, fa, tmp_path / "other.h5", batch_size=2, shard=(2, 3), **{**OPTIONS, "seed": 4})
    with pytest.raises(ValueError, match=r"other settings .*\(seed\)"):
        merge([*shards[:2], tmp_path / "other.shard2of3.h5"], tmp_path / "mixed.h5")


@pytest.fixture(scope="module")
def client():
    distributed = pytest.importorskip("dask.distributed", reason="needs dask.distributed (pip install 'seqmaxent[dask]')")
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=":0") as cluster:
        with distributed.Client(cluster) as c:
            yield c


def test_dask_cluster_writes_the_single_process_file(tmp_path, model, client):
    fa = fasta(tmp_path / "in.fa")
    sample_file(model, fa, tmp_path / "one.h5", batch_size=2, **OPTIONS)
    seen = []
    sample_file(model, fa, tmp_path / "dask.h5", batch_size=2, client=client, progress=seen.append, **OPTIONS)
    assert_same_results(tmp_path / "one.h5", tmp_path / "dask.h5")
    assert sum(seen) == 7 * 4 * 8 * (40 + 400)  # inputs x chains x rungs x steps at the cap


def test_killed_workers_change_nothing(tmp_path, model, client):
    fa = fasta(tmp_path / "in.fa")
    sample_file(model, fa, tmp_path / "one.h5", batch_size=1, **OPTIONS)
    pids = list(client.run(os.getpid).values())

    def kill_all(names):
        while pids:  # after the first batch every worker dies, and the model with them; all is recomputed
            os.kill(pids.pop(), signal.SIGKILL)

    sample_file(model, fa, tmp_path / "dask.h5", batch_size=1, client=client, on_batch=kill_all, **OPTIONS)
    assert_same_results(tmp_path / "one.h5", tmp_path / "dask.h5")
    client.wait_for_workers(2, timeout=60)


@pytest.mark.parametrize("bad,message", [(SEQS[4][:10] + "X" + SEQS[4][11:], r"'s4'.*position 11"),
                                         (SEQS[4][:-1], r"'s4' \(#5\) has length 23, expected 24")])
def test_bad_input_names_it_and_keeps_every_batch_before_it(tmp_path, model, client, bad, message):
    fa = fasta(tmp_path / "in.fa", SEQS[:4] + [bad] + SEQS[5:])
    with pytest.raises(sm.SequenceError, match=message):
        sample_file(model, fa, tmp_path / "dask.h5", batch_size=2, client=client, **OPTIONS)
    with h5py.File(tmp_path / "dask.h5", "r") as h5:
        assert [n.decode() for n in h5["names"][:]] == ["s0", "s1", "s2", "s3"]
    sample_file(model, fasta(tmp_path / "in.fa"), tmp_path / "dask.h5", batch_size=2, client=client, resume=True,
                **OPTIONS)  # fixed input: resume completes the file
    sample_file(model, tmp_path / "in.fa", tmp_path / "one.h5", batch_size=2, **OPTIONS)
    assert_same_results(tmp_path / "one.h5", tmp_path / "dask.h5")


def test_unreachable_scheduler_is_a_clear_error(tmp_path):
    pytest.importorskip("dask.distributed")
    from seqmaxent.sampling.cluster import connect

    with pytest.raises(OSError, match="cannot reach the Dask scheduler at tcp://127.0.0.1:9"):
        connect("tcp://127.0.0.1:9", timeout="2s")


def test_interrupted_client_keeps_finished_inputs_and_resumes_elsewhere(tmp_path, model, client):
    fa = fasta(tmp_path / "in.fa")

    def interrupt(names):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sample_file(model, fa, tmp_path / "dask.h5", batch_size=2, client=client, on_batch=interrupt, **OPTIONS)
    with h5py.File(tmp_path / "dask.h5", "r") as h5:
        assert h5["names"].shape == (2,)
    assert sample_file(model, fa, tmp_path / "dask.h5", batch_size=2, resume=True, **OPTIONS) == 5  # no cluster now
    sample_file(model, fa, tmp_path / "one.h5", batch_size=2, **OPTIONS)
    assert_same_results(tmp_path / "one.h5", tmp_path / "dask.h5")


def test_command_line_shards_workers_and_merge(tmp_path, monkeypatch):
    from click.testing import CliRunner

    from seqmaxent.cli import cli

    pytest.importorskip("dask.distributed")
    fa = fasta(tmp_path / "in.fa")
    args = ["sample", str(model_path("gemm_softmax_ncl")), str(fa), "--beta", "2", "--chains", "4", "--steps", "200",
            "--period", "20", "--burn-in", "40", "--max-rounds", "2", "--seed", "3", "--batch-size", "2", "--quiet"]
    run = CliRunner().invoke
    assert run(cli, [*args, "-o", str(tmp_path / "one.h5")]).exit_code == 0
    result = run(cli, [*args, "-o", str(tmp_path / "dask.h5"), "--workers", "2", "--threads", "1"])
    assert result.exit_code == 0, result.output
    assert_same_results(tmp_path / "one.h5", tmp_path / "dask.h5")
    assert run(cli, [*args, "-o", str(tmp_path / "run.h5"), "--shard", "0/2"]).exit_code == 0
    monkeypatch.setenv("SLURM_ARRAY_TASK_ID", "2")  # an array 1-2: its second task is shard 1 of 2
    monkeypatch.setenv("SLURM_ARRAY_TASK_MIN", "1")
    monkeypatch.setenv("SLURM_ARRAY_TASK_COUNT", "2")
    assert run(cli, [*args, "-o", str(tmp_path / "run.h5")]).exit_code == 0
    result = run(cli, ["merge", str(tmp_path / "run.shard0of2.h5"), str(tmp_path / "run.shard1of2.h5"), "-o",
                       str(tmp_path / "merged.h5")])
    assert result.exit_code == 0 and "merged 7 input(s) from 2 shard(s)" in result.output
    assert_same_results(tmp_path / "one.h5", tmp_path / "merged.h5")
    bad = run(cli, [*args, "-o", str(tmp_path / "x.h5"), "--shard", "3/2"])
    assert bad.exit_code != 0 and "0 <= I < N" in bad.output
