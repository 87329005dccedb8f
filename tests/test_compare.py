"""Two models on one input: networks that differ by construction (one reads motif X, the other X
and Y) are told apart in bits and fractions, by Python and the command line."""

from __future__ import annotations

import h5py
import numpy as np
import onnx
import pytest
from click.testing import CliRunner

from graphs import Net
from seqmaxent.cli import cli
from seqmaxent.io.store import load
from conftest import model_path
from seqmaxent.sampling.compare import compare, models_of

L, X, Y = 60, "TGACTCAG", "CACGTGAC"
X_AT, Y_AT = 10, 40  # 0-based starts in the input


def detector(motifs: list[str], path) -> str:
    """Conv (one channel per motif: +1 on its base, -1 elsewhere, bias -4) -> ReLU -> Flatten ->
    Gemm to (not, bound) reading motif k's channel only where it was planted (X at 11, Y at 41):
    the logit of 'bound' is 2 x the planted sites' matches + 6 - 8 per motif (6 at x0; B calls a
    sequence with X alone not bound)."""
    net = Net(0, L)
    w = np.array([[[1.0 if "ACGT"[b] == m[t] else -1.0 for t in range(len(m))] for b in range(4)] for m in motifs])
    h = net.op("Conv", ["x", net.const(w), net.const(np.full(len(motifs), -4.0))], kernel_shape=[len(X)])
    phi = net.op("Flatten", [net.act(h)], axis=1)
    rows = L - len(X) + 1
    gemm = np.zeros((2, len(motifs) * rows))
    for k, at in enumerate((X_AT, Y_AT)[: len(motifs)]):
        gemm[1, k * rows + at] = 2.0
    out = net.op("Gemm", [phi, net.const(gemm), net.const([0.0, 6.0 - 8.0 * len(motifs)])], transB=1)
    onnx.save(net.finish(net.op("Softmax", [out], axis=1)), path)
    return str(path)


@pytest.fixture(scope="module")
def pair(tmp_path_factory):
    folder = tmp_path_factory.mktemp("compare")
    rng = np.random.default_rng(0)
    seqs = []
    for _ in range(2):
        s = list(rng.choice(list("ACGT"), L))
        s[X_AT:X_AT + 8], s[Y_AT:Y_AT + 8] = X, Y
        seqs.append("".join(s))
    return detector([X], folder / "a.onnx"), detector([X, Y], folder / "b.onnx"), seqs


def test_compare_finds_the_motif_only_one_model_reads(pair):
    a, b, seqs = pair
    c = compare(a, b, seqs, beta=4.0, names=["s1", "s2"], chains=8, steps=2000, max_rounds=1, seed=0)
    imp = c.importance
    x, y = slice(X_AT, X_AT + 8), slice(Y_AT, Y_AT + 8)
    assert (imp[0][:, x].mean(axis=1) > 1.0).all() and (imp[1][:, x].mean(axis=1) > 1.0).all()  # both read X
    assert (imp[0][:, y].mean(axis=1) < 0.3).all() and (imp[1][:, y].mean(axis=1) > 1.0).all()  # only B reads Y
    assert (c.difference()[:, y].mean(axis=1) > 0.7).all() and (np.abs(c.difference()[:, x].mean(axis=1)) < 0.5).all()
    # A's samples lose Y, so B often no longer calls them bound; B's samples keep X, so A still does
    assert (c.kept[0] < 0.7).all() and (c.kept[1] > 0.95).all()
    assert c.cross[0].shape[0] == 2 and np.median(c.cross[0]) < np.median(c.results[1].prediction)


def test_compare_on_the_command_line(pair, tmp_path):
    """The file route streams each model's samples into results files, then writes the comparison
    (HDF5, TSV, page) with the numbers of the in-memory route; --resume samples nothing again."""
    a, b, seqs = pair
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">s{i + 1}\n{s}\n" for i, s in enumerate(seqs)))
    args = ["compare", a, b, str(fa), "-o", str(tmp_path / "cmp.h5"), "--beta", "4", "--steps", "1000",
            "--max-rounds", "1", "--batch-size", "1"]
    result = CliRunner().invoke(cli, args)
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in (tmp_path / "cmp.tsv").read_text().splitlines()]
    assert rows[0][0] == "input" and [r[0] for r in rows[1:]] == ["s1", "s2"]
    top = [int(p.split(":")[0]) for p in rows[1][-1].split(",")]
    assert all(Y_AT < p <= Y_AT + 8 for p in top)  # the positions that differ most are Y's (1-based)
    assert "B keeps a median" in result.stderr and (tmp_path / "cmp.html").stat().st_size > 10_000
    memory = compare(a, b, seqs, beta=4.0, names=["s1", "s2"], chains=8, steps=1000, max_rounds=1, seed=0)
    with h5py.File(tmp_path / "cmp.h5") as h5:
        assert [n.decode() for n in h5["names"][:]] == ["s1", "s2"]
        np.testing.assert_allclose(h5["kept"][:], memory.kept.T)
        np.testing.assert_allclose(h5["importance"][:], memory.importance.transpose(1, 0, 2), atol=1e-6)
    params, names, h5 = load(tmp_path / "cmp.b.h5")  # each model's samples, as a results file
    with h5:
        assert names == ["s1", "s2"] and params["model"] == str(b) and h5["samples"].shape[0] == 2
    assert CliRunner().invoke(cli, args).exit_code != 0  # the samples exist: --resume or --force
    stamps = [(tmp_path / f"cmp.{k}.h5").stat().st_mtime_ns for k in "ab"]
    again = CliRunner().invoke(cli, args + ["--resume"])
    assert again.exit_code == 0 and [(tmp_path / f"cmp.{k}.h5").stat().st_mtime_ns for k in "ab"] == stamps
    bad = CliRunner().invoke(cli, ["compare", a, "ctcf", str(fa), "-o", str(tmp_path / "x.h5"), "--beta", "4"])
    assert bad.exit_code != 0 and "must read the same inputs" in str(bad.exception)
    assert [m.length for m in models_of(a, model_path("any_length"))] == [L, None]  # one of any length reads L bp
