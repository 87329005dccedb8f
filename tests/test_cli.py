"""The command line and the results file: inputs, resume, batching, summaries, error paths."""

from __future__ import annotations

import h5py
import numpy as np
import pytest
from click.testing import CliRunner

import seqmaxent as sm
from conftest import model_path
from seqmaxent.cli import cli
from seqmaxent.io.inputs import reverse_complement
from seqmaxent.sampling.pipeline import sample_file
from seqmaxent.io.store import load

MODEL = str(model_path("gemm_softmax_ncl"))
SEQS = ["ACGTACGTTTGACCAGTACGGATC", "GGGGCCCCAAAATTTTACGTACGT", "TTTTGGGGACGTACGTAAAACCCC",
        "ACACACACGTGTGTGTACGTAGCT", "CATGCATGCATGCATGCATGCATG"]
FAST = ["--beta", "2", "--chains", "4", "--steps", "200", "--period", "20", "--quiet"]


def write_fasta(path, seqs, names=None):
    names = names or [f"s{i + 1}" for i in range(len(seqs))]
    path.write_text("".join(f">{n} description\n{s[:10]}\n{s[10:]}\n" for n, s in zip(names, seqs)))
    return path


def run(*args):
    return CliRunner().invoke(cli, list(map(str, args)), catch_exceptions=False)


def run_main(monkeypatch, capsys, *args):
    """Through the real entry point, as a shell runs it: exit code and one-line errors."""
    from seqmaxent import cli as cli_module
    monkeypatch.setattr("sys.argv", ["seqmaxent", *map(str, args)])
    with pytest.raises(SystemExit) as exit_info:
        cli_module.main()
    return exit_info.value.code, capsys.readouterr().err


def test_inspect():
    out = run("inspect", MODEL).output
    assert "layout NCL" in out and "conv 5+relu, dense updated in the core" in out


def test_sample_writes_a_self_describing_file(tmp_path):
    fa = write_fasta(tmp_path / "in.fa", SEQS)
    out = tmp_path / "out.h5"
    result = run("sample", MODEL, fa, "-o", out, "--gc-fraction", "0.4", "--units", "1,0", *FAST)
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert [n.decode() for n in f["names"][:]] == ["s1", "s2", "s3", "s4", "s5"]
        assert f["samples"].shape == (5, 40, 24) and f["samples"].compression == "gzip"
        assert f.attrs["model_sha256"] == sm.Model(MODEL).sha256 and f.attrs["beta"] == 2.0
        assert np.isclose(f.attrs["mu"], sm.gc_mu(0.4)) and f.attrs["seed"] == 0
        np.testing.assert_array_equal(f["x0"][:], sm.encode(SEQS))
        np.testing.assert_allclose(f["marginals"][:].sum(axis=-1), 1.0, rtol=1e-6)
        assert f["importance"].attrs["description"].startswith("KL")
        for name in ("entropy", "retained", "gc", "kept_class", "rhat", "ess", "acceptance", "outputs"):
            assert f[name].shape[0] == 5
    summary = run("summarize", out)
    assert summary.exit_code == 0 and "s5\t" in summary.output


def test_batches_and_resume_give_the_samples_of_one_run(tmp_path):
    fa = write_fasta(tmp_path / "in.fa", SEQS)
    model = sm.Model(MODEL)
    kw = dict(beta=2.0, chains=4, steps=200, period=20, seed=3)
    sample_file(model, fa, tmp_path / "one.h5", batch_size=64, **kw)

    def interrupt(names):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        sample_file(model, fa, tmp_path / "resumed.h5", batch_size=2, on_batch=interrupt, **kw)
    with h5py.File(tmp_path / "resumed.h5") as f:
        assert f["names"].shape == (2,)  # the finished batch was kept
    assert sample_file(model, fa, tmp_path / "resumed.h5", batch_size=2, resume=True, **kw) == 3
    with h5py.File(tmp_path / "one.h5") as a, h5py.File(tmp_path / "resumed.h5") as b:
        np.testing.assert_array_equal(a["samples"][:], b["samples"][:])
        assert list(a["names"][:]) == list(b["names"][:])
    with pytest.raises(ValueError, match=r"other settings \(beta: 2.0 -> 3.0, ladder: "):
        sample_file(model, fa, tmp_path / "resumed.h5", resume=True, **{**kw, "beta": 3.0})


def test_npy_and_bed_inputs(tmp_path):
    np.save(tmp_path / "x.npy", np.eye(4)[sm.encode(SEQS[:2])])
    out = tmp_path / "npy.h5"
    assert run("sample", MODEL, tmp_path / "x.npy", "-o", out, *FAST).exit_code == 0
    with h5py.File(out) as f:
        assert [n.decode() for n in f["names"][:]] == ["x:1", "x:2"]
    genome = tmp_path / "genome.fa"
    chrom = "AAAAA" + SEQS[0] + "CCCCC" + SEQS[1] + "GG"
    genome.write_text(">chrA\n" + chrom + "\n")
    bed = tmp_path / "r.bed"
    bed.write_text("chrA\t5\t29\tsite1\t0\t+\nchrA\t34\t58\t.\t0\t-\n")
    out = tmp_path / "bed.h5"
    assert run("sample", MODEL, bed, "--genome", genome, "-o", out, *FAST).exit_code == 0
    with h5py.File(out) as f:
        assert [n.decode() for n in f["names"][:]] == ["site1", "chrA:34-58(-)"]
        assert sm.decode(f["x0"][:]) == [SEQS[0], reverse_complement(SEQS[1])]


@pytest.mark.parametrize("setup,args,message", [
    (None, ["missing.fa"], "input not found: missing.fa"),
    ("n", ["in.fa"], "in.fa: sequence 's2' (#2) has 'N' at position 3"),
    ("mixed", ["in.fa"], "in.fa: sequence 's2' (#2) has length 20, expected 24"),
    ("dup", ["in.fa"], "name 's1' occurs twice"),
    ("bed", ["r.bed", "--genome", "genome.fa"], "r.bed: line 2: region chrA:10-500 is outside 0..30"),
    ("bed", ["r.bed"], "BED input needs the genome FASTA (--genome)"),
    ("ok", ["in.fa", "--units", "7"], "output unit 7 is out of range"),
    ("ok", ["in.fa", "-o", "/nonexistent/dir/out.h5"], "cannot write the results file /nonexistent/dir/out.h5: /nonexistent/dir is not a writable folder"),
])
def test_errors_are_one_line(tmp_path, monkeypatch, capsys, setup, args, message):
    monkeypatch.chdir(tmp_path)
    seqs = {"n": [SEQS[0], "AC" + "N" + SEQS[1][3:]], "mixed": [SEQS[0], SEQS[1][:20]],
            "dup": [SEQS[0], SEQS[1]]}.get(setup, SEQS[:2])
    if setup is not None:
        write_fasta(tmp_path / "in.fa", seqs, ["s1", "s1"] if setup == "dup" else None)
    if setup == "bed":
        (tmp_path / "genome.fa").write_text(">chrA\n" + "ACGT" * 7 + "AC\n")
        (tmp_path / "r.bed").write_text("chrA\t0\t24\nchrA\t10\t500\n")
    out_args = [] if "-o" in args else ["-o", "out.h5"]
    loud = [a for a in FAST if a != "--quiet"]  # an input found bad at the start: its error alone, no progress bar
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, *args, *out_args, *loud)
    assert code == 1 and message in err and "Traceback" not in err
    assert len(err.strip().splitlines()) == 1 and "sampling" not in err


def test_existing_output_needs_resume(tmp_path, monkeypatch, capsys):
    fa = write_fasta(tmp_path / "in.fa", SEQS[:1])
    (tmp_path / "out.h5").write_text("precious")
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, fa, "-o", tmp_path / "out.h5", *FAST)
    assert code == 2 and "use --resume" in err
    assert (tmp_path / "out.h5").read_text() == "precious"


def test_bad_input_keeps_finished_batches(tmp_path):
    fa = write_fasta(tmp_path / "in.fa", SEQS[:2] + ["ACGTNACGTACGTACGTACGTACG"])
    with pytest.raises(sm.SequenceError, match="has 'N'"):
        sample_file(sm.Model(MODEL), fa, tmp_path / "out.h5", beta=1.0, chains=2, steps=100, period=50, batch_size=2)
    with h5py.File(tmp_path / "out.h5") as f:
        assert f["names"].shape == (2,)


def test_help_of_every_command():
    for command in ("inspect", "sample", "summarize"):
        out = run(command, "--help").output
        assert "Usage:" in out
    assert "--gc-fraction" in run("sample", "--help").output


def test_beta_auto_and_sweep(tmp_path):
    fa = write_fasta(tmp_path / "in.fa", SEQS[:2])
    fast = [a for a in FAST if a not in ("--beta", "2")]
    result = CliRunner().invoke(cli, ["sample", MODEL, str(fa), "-o", str(tmp_path / "auto.h5"), "--beta", "auto", *fast])
    assert result.exit_code == 0, result.output
    assert "keeps x0's prediction" in result.output
    with h5py.File(tmp_path / "auto.h5") as f:
        chosen = f.attrs["beta"]
        assert 1.0 <= chosen <= 2000.0
    result = run("sample", MODEL, fa, "-o", tmp_path / "sweep.h5", "--beta", "1,10", *fast)
    assert result.exit_code == 0
    for beta in (1, 10):
        with h5py.File(tmp_path / f"sweep.beta{beta}.h5") as f:
            assert f.attrs["beta"] == beta
    assert run("sample", MODEL, fa, "-o", tmp_path / "x.h5", "--beta", "hot", *fast).exit_code == 2


def test_calibrate_beta_reaches_the_target():
    model = sm.Model(MODEL)
    cal = sm.calibrate_beta(model, SEQS, target=0.9, chains=8, steps=1000, rounds=6)
    assert cal.history and all(k >= 0.9 for b, k in cal.history if b >= cal.beta)
    res = sm.sample(model, SEQS[:3], beta=cal.beta, chains=8, steps=1000, period=20)
    assert res.kept_class.mean() > 0.8


def test_top_pairs_are_stored(tmp_path):
    fa = write_fasta(tmp_path / "in.fa", SEQS[:2])
    sample_file(sm.Model(MODEL), fa, tmp_path / "o.h5", beta=2.0, chains=4, steps=400, period=20)
    with h5py.File(tmp_path / "o.h5") as f:
        pairs = f["top_pairs"][:]
    assert pairs.shape == (2, 20, 3)
    assert (pairs[:, :, 0] < pairs[:, :, 1]).all() and (np.diff(pairs[:, :, 2], axis=1) <= 1e-6).all()


def test_interrupt_exits_130_and_says_what_it_kept(tmp_path, monkeypatch, capsys):
    """Ctrl-C after the first batch of 2 is written keeps those 2 and says so; before it, says none."""
    from seqmaxent.io.store import ResultsFile

    fa = write_fasta(tmp_path / "in.fa", SEQS)
    append = ResultsFile.append

    def interrupt_after_writing(self, names, values):
        append(self, names, values)
        raise KeyboardInterrupt

    monkeypatch.setattr(ResultsFile, "append", interrupt_after_writing)
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, fa, "-o", tmp_path / "out.h5", "--batch-size", "2", *FAST)
    assert code == 130 and err.strip() == (f"interrupted; kept 2 finished input(s) in {tmp_path / 'out.h5'} "
                                           f"(continue with --resume)")
    with h5py.File(tmp_path / "out.h5") as f:
        assert f["names"].shape == (2,)

    def interrupt_at_once(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("seqmaxent.sampling.pipeline.sample_values", interrupt_at_once)
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, fa, "-o", tmp_path / "none.h5", *FAST)
    assert code == 130 and err.strip() == ("interrupted; none kept yet: the first batch of 5 input(s) was not finished "
                                           "(a smaller --batch-size writes more often)")


def test_unreadable_fasta(tmp_path, monkeypatch, capsys):
    (tmp_path / "bad.fa").write_text("ACGT\n>s1\nACGT\n")
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, tmp_path / "bad.fa", "-o", tmp_path / "o.h5", *FAST)
    assert code == 1 and "bad.fa: line 1 has sequence before any '>' header" in err
    (tmp_path / "x.txt").write_text(">s1\nACGT\n")
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, tmp_path / "x.txt", "-o", tmp_path / "o.h5", *FAST)
    assert code == 1 and "unknown input type" in err


@pytest.mark.parametrize("sampler,beta", [("metropolis", 2.0), ("tempering", 0.0)], ids=["metropolis", "one-rung"])
def test_single_rung_runs_write_their_files(tmp_path, sampler, beta):
    """Independent chains and a one-rung ladder (beta 0) have no swaps: NaN in swap_acceptance."""
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQS)))
    sample_file(sm.Model(MODEL), fa, tmp_path / "o.h5", beta=beta, sampler=sampler, chains=4, steps=200, period=20)
    params, names, h5 = load(tmp_path / "o.h5")
    with h5:
        assert len(names) == len(SEQS) and np.isnan(h5["swap_acceptance"][:]).all()
        assert (h5["ladder"][:] == beta).all() and params["sampler"] == sampler
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "o.h5"), "-o", str(tmp_path / "r.html"), "--no-match"])
    assert result.exit_code == 0, result.output


def test_summarize_is_clean_tsv_of_one_or_several_files(tmp_path):
    from seqmaxent.cli.summarize import SUMMARY_COLUMNS

    fa = write_fasta(tmp_path / "in.fa", SEQS[:3])
    for beta in ("1", "10"):
        assert run("sample", MODEL, fa, "-o", tmp_path / f"b{beta}.h5", *FAST[2:], "--beta", beta).exit_code == 0
    result = CliRunner().invoke(cli, ["summarize", str(tmp_path / "b1.h5")])
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows[0] == SUMMARY_COLUMNS and len(rows) == 4 and all(len(r) == len(SUMMARY_COLUMNS) for r in rows)
    assert rows[1][0] == "s1" and rows[1][2] in ("yes", "no") and "prediction = P(unit 1)" in result.stderr
    assert all(len(v) <= 8 for r in rows[1:] for v in r[1:14])  # short numbers
    out = tmp_path / "both.tsv"
    result = CliRunner().invoke(cli, ["summarize", str(tmp_path / "b1.h5"), str(tmp_path / "b10.h5"), "-o", str(out)])
    assert result.exit_code == 0 and result.stdout == "" and "wrote 6 row(s)" in result.stderr
    rows = [line.split("\t") for line in out.read_text().splitlines()]
    assert rows[0][:3] == ["file", "beta", "input"] and [r[1] for r in rows[1:]] == ["1"] * 3 + ["10"] * 3


def test_everyday_edges(tmp_path, monkeypatch, capsys):
    """An empty input is an error; - reads FASTA from standard input; --force overwrites; the
    bundled model is reachable by name."""
    (tmp_path / "empty.fa").write_text("")
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, tmp_path / "empty.fa", "-o", tmp_path / "e.h5", *FAST)
    assert code == 2 and "empty.fa holds no sequences" in err and not (tmp_path / "e.h5").exists()
    out = tmp_path / "stdin.h5"
    text = "".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQS[:2]))
    result = CliRunner().invoke(cli, ["sample", MODEL, "-", "-o", str(out), *FAST], input=text)
    assert result.exit_code == 0, result.output
    with h5py.File(out) as f:
        assert f["names"].shape == (2,)
    result = CliRunner().invoke(cli, ["sample", MODEL, "-", "-o", str(out), *FAST], input=text)
    assert result.exit_code == 2 and "--force to overwrite it" in result.output
    assert CliRunner().invoke(cli, ["sample", MODEL, "-", "-o", str(out), "--force", *FAST], input=text).exit_code == 0
    assert "p_bound" in run("inspect", "ctcf").output
    code, err = run_main(monkeypatch, capsys, "inspect", "nonesuch")
    assert code == 1 and "bundled models, by name: ctcf" in err


def test_truncated_gzip_inputs_are_named_errors(tmp_path, monkeypatch, capsys):
    """A cut-off gzip FASTA or genome is an error naming the file, not an 'interrupted' run."""
    import gzip

    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "cache"))
    whole = gzip.compress("".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQS)).encode())
    (tmp_path / "cut.fa.gz").write_bytes(whole[:40])
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, tmp_path / "cut.fa.gz", "-o", tmp_path / "o.h5", *FAST)
    assert code == 1 and "cut.fa.gz: truncated or corrupt gzip file" in err
    (tmp_path / "genome.fa.gz").write_bytes(gzip.compress((">chrA\n" + "ACGT" * 50 + "\n").encode())[:30])
    (tmp_path / "r.bed").write_text("chrA\t0\t24\n")
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, tmp_path / "r.bed", "--genome", tmp_path / "genome.fa.gz",
                         "-o", tmp_path / "o.h5", *FAST)
    assert code == 1 and "genome.fa.gz: truncated or corrupt gzip file" in err
    assert not list((tmp_path / "cache").rglob("*.part"))  # no half-decompressed copy left behind


@pytest.mark.parametrize("command", ["summarize", "report", "logos", "motifs"])
def test_a_file_that_is_not_results_is_a_named_error(tmp_path, monkeypatch, capsys, command):
    (tmp_path / "model.onnx").write_bytes(b"\x08\x07not hdf5")  # e.g. the model given in place of the results
    out = [] if command == "summarize" else ["-o", tmp_path / "out"]
    code, err = run_main(monkeypatch, capsys, command, tmp_path / "model.onnx", *out)
    assert code == 1 and f"{tmp_path / 'model.onnx'} is not a seqmaxent results file (not HDF5" in err
    assert "Traceback" not in err and len(err.strip().splitlines()) == 1


def test_a_region_through_the_command_line(tmp_path, monkeypatch, capsys):
    """--region reaches every input, is recorded canonically, gives the samples of sm.sample's
    region, is compared on --resume, and summarize and report say the rest was held."""
    fa = write_fasta(tmp_path / "in.fa", SEQS[:3])
    out = tmp_path / "r.h5"
    assert run("sample", MODEL, fa, "-o", out, *FAST, "--region", "20-24, 3-5", "--batch-size", "2").exit_code == 0
    params, names, h5 = load(out)
    with h5:
        samples = h5["samples"][:]
    assert params["region"] == "3-5,20-24"
    direct = sm.sample(MODEL, SEQS[:3], beta=2.0, chains=4, steps=200, period=20, region="3-5,20-24")
    assert (samples == direct.samples).all()
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, fa, "-o", out, *FAST, "--region", "3-6", "--resume")
    assert code != 0 and "region" in err
    result = CliRunner().invoke(cli, ["summarize", str(out)])
    assert "only positions 3-5,20-24 (1-based) changed, the rest held at x0" in result.stderr
    assert all(float(v.split(":")[1]) == 0 for row in result.stdout.splitlines()[1:] for v in row.split("\t")[-1].split(",")
               if not (3 <= int(v.split(":")[0]) <= 5 or 20 <= int(v.split(":")[0]) <= 24))
    assert run("report", out, "-o", tmp_path / "r.html").exit_code == 0
    assert "Only positions 3-5,20-24 were sampled" in (tmp_path / "r.html").read_text()
    code, err = run_main(monkeypatch, capsys, "sample", MODEL, fa, "-o", tmp_path / "bad.h5", *FAST, "--region", "20-30")
    assert code == 1 and "region 20-30 is outside the input's positions 1-24" in err
