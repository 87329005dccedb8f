"""What a user sees first: the network's own verdict on each input, and a Python API as able as
the command line (readers, beta='auto', importance, saving a results file, logos on an axis)."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import seqmaxent as sm
from seqmaxent.io import bundled, store
from conftest import SHARED, model_path
from seqmaxent.cli import cli

SEQS = ["ACGTACGTTTGACCAGTACGGATC", "GGGGCCCCAAAATTTTACGTACGT", "TTTTGGGGACGTACGTAAAACCCC"]
FAST = dict(chains=4, steps=200, period=20, max_rounds=1, seed=0)


def test_verdict_of_a_softmax_pair_names_the_class():
    model = sm.Model("ctcf")  # bundled, by name; its metadata names the units
    assert model.class_names == ["unbound", "bound"]
    names, seqs = sm.read_fasta(bundled.ctcf_examples_path())
    res = sm.sample(model, seqs[:2], beta=50.0, names=names[:2], **FAST)
    assert res.params["verdict"] == "P(bound)"
    np.testing.assert_allclose(res.prediction, res.outputs[:, 1], rtol=1e-6)
    assert res.called.all() and "P(bound) " in repr(res)
    renamed = sm.Model("ctcf", class_names=["background", "CTCF"])
    assert sm.sample(renamed, seqs[:1], beta=50.0, **FAST).params["verdict"] == "P(CTCF)"
    with pytest.raises(ValueError, match="3 class names for the 2 units"):
        sm.Model("ctcf", class_names=["a", "b", "c"])


def test_inputs_the_network_does_not_call_are_flagged():
    """A random sequence is not a CTCF site: the verdict says so, and so does the Result."""
    model = sm.Model("ctcf")
    random = "".join(np.random.default_rng(5).choice(list("ACGT"), 101))
    _, seqs = sm.read_fasta(bundled.ctcf_examples_path())
    res = sm.sample(model, [seqs[0], random], beta=50.0, **FAST)
    assert list(res.called) == [True, False] and res.prediction[1] < 0.5
    assert "1 not called the explained class" in repr(res)


@pytest.mark.skipif(not (SHARED / "maxent2017").is_dir(), reason="needs ../shared/data (the paper authors' sequences)")
def test_the_authors_gcat_npy_read_as_acgt_is_visibly_wrong(tmp_path):
    """The authors' one-hot file is in G, C, A, T order: read as ACGT the network calls 7 of their
    10 bound sequences unbound (median P(bound) 0.3; the verdict shows it); with --input-alphabet
    GCAT it calls all 10 bound (median 0.997)."""
    npy = SHARED / "maxent2017" / "CTCFbound_oneHot.npy"
    out = {}
    for alphabet in (None, "GCAT"):
        path = tmp_path / f"{alphabet}.h5"
        args = ["sample", "ctcf", str(npy), "-o", str(path), "--beta", "50", "--chains", "2", "--steps", "100",
                "--period", "10", "--max-rounds", "1", "--quiet"] + (["--input-alphabet", alphabet] if alphabet else [])
        assert CliRunner().invoke(cli, args).exit_code == 0
        params, names, h5 = store.load(path)
        with h5:
            out[alphabet] = h5["prediction"][:], h5["called"][:]
    assert np.median(out[None][0]) < 0.5 and (out[None][1] == 0).sum() >= 6
    assert np.median(out["GCAT"][0]) > 0.95 and (out["GCAT"][1] == 1).all()


def test_a_regression_output_has_a_value_not_a_call(tmp_path, monkeypatch):
    model = sm.Model(model_path("bpnet_small"), head="counts")
    seq = "".join(np.random.default_rng(1).choice(list("ACGT"), model.length))
    res = sm.sample(model, [seq], beta=5.0, **FAST)
    assert res.called is None and res.params["verdict"] == "value of 'counts'"
    np.testing.assert_allclose(res.prediction, res.outputs[:, 0], rtol=1e-6)
    assert np.isnan(res.kept_class).all()  # no class to keep without a tolerance
    from seqmaxent.sampling import calibrate
    pilots = []
    run = calibrate.run
    monkeypatch.setattr(calibrate, "run", lambda model, codes, settings, *a: pilots.append(settings) or
                        run(model, codes, settings, *a))
    with pytest.raises(ValueError, match="give a tolerance"):
        sm.sample(model, [seq], beta="auto", **FAST)
    assert not pilots  # said before any pilot ran (2.5 min of pilots on BPNet before)
    auto = sm.sample(model, [seq], beta="auto", tolerance=0.05, **FAST)
    assert "keeps x0's prediction" in auto.params["beta_auto"] and auto.kept_class[0] >= 0.5
    # pilots are sized by the run: at most its chains and steps
    assert pilots and all(p.chains <= FAST["chains"] and p.steps <= max(100, FAST["steps"]) for p in pilots)


def test_python_reads_samples_saves_and_reports(tmp_path):
    """From a FASTA file to a results file and a report without the command line."""
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQS)))
    names, seqs = sm.read_fasta(fa)
    assert names == ["s0", "s1", "s2"] and seqs == SEQS
    model = sm.Model(model_path("gemm_softmax_ncl"))
    res = sm.sample(model, seqs, beta="auto", names=names, chains=4, steps=400, period=20)
    assert res.params["beta"] >= 1.0 and res.params["beta_auto"]
    importance = res.importance()
    assert importance.shape == (3, 24) and (importance >= 0).all()
    assert importance.max() <= np.log2(1 / res.background().min()) + 1e-9  # a fixed base's KL is the most
    p = res.marginals()
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(p > 0, p * np.log2(p / res.background()), 0).sum(axis=-1)
    np.testing.assert_allclose(importance, kl)
    saved = res.save(tmp_path / "run.h5")
    params, stored_names, h5 = store.load(saved)
    with h5:
        assert stored_names == names and params["verdict"] == res.params["verdict"]
        np.testing.assert_allclose(h5["importance"][:], importance, rtol=1e-6)
        np.testing.assert_array_equal(h5["samples"][:], res.samples)
    result = CliRunner().invoke(cli, ["report", str(saved), "-o", str(tmp_path / "r.html"), "--no-match"])
    assert result.exit_code == 0, result.output
    assert "P(unit 1)" in (tmp_path / "r.html").read_text()


def test_plot_logo_draws_on_a_given_axis(tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = sm.Model(model_path("gemm_softmax_ncl"))
    res = sm.sample(model, SEQS[:2], beta=2.0, **FAST)
    fig, axes = plt.subplots(2, 1)
    assert sm.plot_logo(res, input=1, ax=axes[0]) is axes[0]
    assert axes[0].get_ylim() == (0.0, 2.0) and axes[0].get_ylabel() == "bits"  # a fixed 0-2 bit axis
    assert [t.get_text() for t in axes[0].get_xticklabels()][:2] == ["1", "5"]  # 1-based positions
    sm.plot_logo(res.marginals()[0], kind="probability", ax=axes[1], motifs=[(3, 9)])
    assert axes[1].get_ylim() == (0.0, 1.0)
    with pytest.raises(ValueError, match="kind must be"):
        sm.plot_logo(res, kind="height")
    plt.close(fig)


def test_read_bed_and_plain_gzip_genomes(tmp_path, monkeypatch):
    """A plain gzip genome (no random access) is decompressed once into the cache, then indexed."""
    import gzip

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    chrom = "AAAAA" + SEQS[0] + "CCCCC" + SEQS[1] + "GG"
    with gzip.open(tmp_path / "genome.fa.gz", "wt") as f:
        f.write(">chrA\n" + chrom + "\n")
    (tmp_path / "r.bed").write_text("chrA\t5\t29\tsite1\t0\t+\n")
    names, seqs = sm.read_bed(tmp_path / "r.bed", tmp_path / "genome.fa.gz")
    assert names == ["site1"] and seqs == [SEQS[0]]
    cached = list((tmp_path / "cache" / "seqmaxent" / "genomes").glob("genome.fa.*.fa"))
    assert len(cached) == 1
    assert sm.read_bed(tmp_path / "r.bed", tmp_path / "genome.fa.gz")[1] == [SEQS[0]]  # from the cache
