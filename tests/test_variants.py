"""Variant effects against the network's own null: exact tail probabilities on the enumerable
model, the bundled CTCF network's motif against its flanks, files and bad input."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import seqmaxent as sm
from conftest import all_sequences
from seqmaxent.io import bundled
from seqmaxent.cli import cli
from seqmaxent.errors import SequenceError
from seqmaxent.explain.variants import Variant, read_variants, score_variants
from test_exact import X0, exact, relative_beta


def test_tail_probabilities_match_enumeration(tiny):
    """P(d_sample >= d(x_alt)) from the samples against the exact sum over all 4^4 sequences, for
    every single-base variant of x0, within 3.5 standard errors of its effective draws."""
    units, mu = (1, 0), 0.0
    beta = relative_beta(tiny, units, 3.0)
    res = sm.sample(tiny, sm.decode(X0[None]), beta=beta, mu=mu, units=units, sampler="metropolis", chains=100,
                    steps=5000, period=10, burn_in=200, max_rounds=1, seed=3, names=["x0"])
    variants = [Variant("x0", p + 1, "ACGT"[X0[p]], "ACGT"[b]) for p in range(4) for b in range(4) if b != X0[p]]
    rows = score_variants(res, variants)
    states = all_sequences(4)
    p_exact = exact(tiny, X0, beta, mu, units)
    d_all = np.linalg.norm(tiny.scale(units) * (tiny.phi(states) - tiny.phi(X0[None])), axis=1)
    checked = 0
    for v, row in zip(variants, rows):
        alt = X0.copy()
        alt[v.position - 1] = "ACGT".index(v.alt)
        d_alt = np.linalg.norm(tiny.scale(units) * (tiny.phi(alt[None]) - tiny.phi(X0[None])))
        assert row["status"] == "ok" and abs(row["d"] - d_alt) < 1e-5
        truth = float(p_exact[d_all >= d_alt - 1e-6].sum())
        se = np.sqrt(max(truth * (1 - truth), 1e-4) / row["tail_ess"])
        assert abs(row["tail_probability"] - truth) < 3.5 * se + 2e-3, (v, row["tail_probability"], truth)
        assert row["tail_low"] <= row["tail_probability"] <= row["tail_high"]
        checked += 0.02 < truth < 0.98
    assert checked >= 4  # the comparison covers tails away from 0 and 1


def test_a_position_the_network_ignores_scores_tail_one(tmp_path):
    """A detector that reads only its motif's 8 positions: a variant elsewhere moves Phi not at all
    (tail probability 1), a variant in the motif further than almost every sample."""
    from test_compare import X, X_AT, L, detector

    rng = np.random.default_rng(4)
    seq = list(rng.choice(list("ACGT"), L))
    seq[X_AT:X_AT + len(X)] = X
    seq = "".join(seq)
    res = sm.sample(detector([X], tmp_path / "x.onnx"), [seq], beta=4.0, chains=4, steps=1000, max_rounds=1,
                    names=["s"], seed=0)
    def change(p: int) -> Variant:  # 1-based
        return Variant("s", p, seq[p - 1], "ACGT"[("ACGT".index(seq[p - 1]) + 1) % 4])

    far, inside = score_variants(res, [change(40), change(X_AT + 4)])
    assert far["d"] == 0 and far["tail_probability"] == 1.0 and far["tail_low"] > 0.9
    assert inside["d"] > 1 and inside["tail_probability"] < 0.05


@pytest.fixture(scope="module")
def ctcf_run(tmp_path_factory):
    names, seqs = bundled.ctcf_examples()
    out = tmp_path_factory.mktemp("variants") / "ctcf.h5"
    res = sm.sample("ctcf", seqs[:4], beta=50.0, mu=sm.gc_mu(0.42), names=names[:4], seed=0, threads=2)
    res.save(out)
    return res, out


def test_motif_variants_are_rare_in_the_null_and_flank_variants_common(ctcf_run):
    """On real bound peaks, a change at a position the samples keep (>= 1 bit) lies beyond
    almost every sample; a change at a position they let drift (< 0.1 bit) does not."""
    res, _ = ctcf_run
    importance = res.importance()
    core, flank = [], []
    for i, name in enumerate(res.names):
        x0 = res.x0[i]
        least = res.marginals()[i].argmin(axis=1)  # the base the samples avoid most at each position
        for p in np.flatnonzero(importance[i] >= 1.0)[:8]:
            core.append(Variant(name, int(p) + 1, "ACGT"[x0[p]], "ACGT"[least[p] if least[p] != x0[p] else (x0[p] + 2) % 4]))
        for p in np.flatnonzero(importance[i] < 0.1)[:8]:
            flank.append(Variant(name, int(p) + 1, "ACGT"[x0[p]], "ACGT"[(x0[p] + 1) % 4]))
    core_tail = np.array([r["tail_probability"] for r in score_variants(res, core)])
    flank_tail = np.array([r["tail_probability"] for r in score_variants(res, flank)])
    assert len(core_tail) >= 8 and len(flank_tail) >= 8
    assert np.median(core_tail) < 0.05 and np.median(flank_tail) > 0.5, (np.median(core_tail), np.median(flank_tail))


def test_files_in_and_out(ctcf_run, tmp_path):
    """A TSV and a VCF of variants through the command line; an indel is a row that says so."""
    res, h5 = ctcf_run
    name, x0 = res.names[0], sm.decode(res.x0[:1])[0]
    tsv = tmp_path / "v.tsv"
    tsv.write_text(f"input\tposition\tref\talt\tid\n{name}\t50\t{x0[49]}\t{'A' if x0[49] != 'A' else 'C'}\tsnv\n"
                   f"{name}\t10\t{x0[9:11]}\t{x0[9]}\tdel\n")
    result = CliRunner().invoke(cli, ["variants", str(h5), str(tsv)])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in result.stdout.splitlines()]
    assert rows[0][:5] == ["input", "variant", "position", "ref", "alt"] and len(rows) == 3
    assert rows[1][-1] == "ok" and 0 <= float(rows[1][6]) <= 1 and rows[2][-1].startswith("not supported")
    assert "tail = P(d of a sample >= d of the variant)" in result.stderr
    report = CliRunner().invoke(cli, ["report", str(h5), "-o", str(tmp_path / "r.html"), "--no-match", "--variants",
                                      str(tsv)])
    assert report.exit_code == 0, report.output
    page = (tmp_path / "r.html").read_text()
    assert "tail probability (95%)" in page and "not supported" in page and f"{x0[49]}&gt;" in page
    vcf = tmp_path / "v.vcf"
    vcf.write_text(f"##fileformat=VCFv4.2\n#CHROM\tPOS\tID\tREF\tALT\nchr1\t150\trs1\t{x0[49]}\tG,T\n")
    placed = read_variants(vcf, ["chr1:100-201"])  # BED start 100: position 150 is the input's 50th base
    assert [(v.input, v.position, v.alt) for v in placed] == [("chr1:100-201", 50, "G"), ("chr1:100-201", 50, "T")]


def test_bad_variants_are_named(ctcf_run, tmp_path):
    res, _ = ctcf_run
    name, x0 = res.names[0], sm.decode(res.x0[:1])[0]
    wrong = "A" if x0[4] != "A" else "C"
    with pytest.raises(SequenceError, match=f"{name} has {x0[4]} at 5, not the REF {wrong}"):
        score_variants(res, [Variant(name, 5, wrong, "G", "v1")])
    with pytest.raises(SequenceError, match="outside"):
        score_variants(res, [Variant(name, 101, x0[100] + "A", "GG")])
    rows = score_variants(res, [Variant(name, 5, wrong, "G", "v1"), Variant(name, 5, x0[4], "G" if x0[4] != "G" else "T")],
                          on_mismatch="skip")  # flagged rows instead, the others scored
    assert rows[0]["status"].startswith("skipped: ") and "not the REF" in rows[0]["status"] and rows[0]["d"] == ""
    assert rows[1]["status"] == "ok"
    with pytest.raises(SequenceError, match="no input named 'nope'"):
        score_variants(res, [Variant("nope", 5, "A", "G")])
    bad = tmp_path / "bad.tsv"
    bad.write_text("nope\t5\tA\tG\n")
    with pytest.raises(SequenceError, match="bad.tsv: line 1: no input named 'nope'"):
        read_variants(bad, res.names)
    vcf = tmp_path / "far.vcf"
    vcf.write_text("chr2\t5\t.\tA\tG\n")
    with pytest.raises(SequenceError, match="far.vcf: line 1: chr2:5 is in no input"):
        read_variants(vcf, ["chr1:100-201"])


def test_rows_stream_and_a_failed_file_leaves_nothing(ctcf_run, tmp_path):
    """Rows come out a chunk at a time (the variants after it not yet read), equal to scoring them
    all at once; a bad variant far down the file leaves no partial TSV behind."""
    from seqmaxent.cli.variants import write_scores
    from seqmaxent.explain.variants import CHUNK, iter_scores

    res, h5 = ctcf_run
    x0 = [sm.decode(res.x0[i:i + 1])[0] for i in range(res.n_inputs)]
    good = [Variant(res.names[k % 4], 1 + k % 101, x0[k % 4][k % 101], "ACGT"[("ACGT".index(x0[k % 4][k % 101]) + 1) % 4],
                    f"v{k}") for k in range(CHUNK + 3)]

    def variants(stop_after: int):
        yield from good[:stop_after]
        raise RuntimeError("read too far")

    rows = iter_scores(h5, variants(CHUNK + 1))
    first = [next(rows) for _ in range(CHUNK)]  # scored before the variant after the chunk is read
    assert [r["variant"] for r in first] == [v.id for v in good[:CHUNK]]
    assert [r["d"] for r in first[:20]] == [r["d"] for r in score_variants(res, good[:20])]
    wrong = good + [Variant(res.names[0], 3, "A" if x0[0][2] != "A" else "C", "G", "late")]
    with pytest.raises(SequenceError, match="late"):
        write_scores(h5, wrong, tmp_path / "out.tsv")
    assert list(tmp_path.iterdir()) == []


def test_sample_and_score_in_one_command(tmp_path):
    """`seqmaxent sample --variants` checks the variants against the inputs before sampling (a
    wrong REF is named by file and line, and nothing is written), then scores them against the
    finished run: the same rows as `seqmaxent variants` on its results file."""
    examples = bundled.ctcf_examples_path()
    names, seqs = sm.read_fasta(examples)
    site = 44  # the planted site starts at 44 (1-based) in the first example
    tsv = tmp_path / "v.tsv"
    core, flank = seqs[0][site], seqs[0][4]
    tsv.write_text(f"{names[0]}\t{site + 1}\t{core}\t{'A' if core != 'A' else 'C'}\tcore\n"
                   f"{names[0]}\t5\t{flank}\t{'A' if flank != 'A' else 'C'}\tflank\n")
    bad = tmp_path / "bad.tsv"
    bad.write_text(f"{names[1]}\t5\t{'A' if seqs[1][4] != 'A' else 'C'}\tG\tx\n")
    out = tmp_path / "run.h5"
    run = ["sample", "ctcf", str(examples), "-o", str(out), "--beta", "100", "--steps", "400", "--max-rounds", "1",
           "--chains", "4", "--quiet"]
    refused = CliRunner().invoke(cli, run + ["--variants", str(bad)])
    assert refused.exit_code != 0 and f"bad.tsv: line 1: variant x: {names[1]} has" in str(refused.exception)
    assert not out.exists()
    skipped = CliRunner().invoke(cli, run + ["--variants", str(bad), "--on-mismatch", "skip"])
    assert skipped.exit_code == 0 and "1 skipped (REF or position does not match the input)" in skipped.stderr
    row = (tmp_path / "run.variants.tsv").read_text().splitlines()[1].split("\t")
    assert row[1] == "x" and row[-1].startswith("skipped: ") and "bad.tsv: line 1: variant x" in row[-1]
    out.unlink()
    result = CliRunner().invoke(cli, run + ["--variants", str(tsv)])
    assert result.exit_code == 0, result.output
    scored = (tmp_path / "run.variants.tsv").read_text()
    rows = [line.split("\t") for line in scored.splitlines()]
    assert [r[1] for r in rows[1:]] == ["core", "flank"] and all(r[-1] == "ok" for r in rows[1:])
    assert float(rows[1][6]) < float(rows[2][6])  # the site's change is rarer in the null than the flank's
    again = CliRunner().invoke(cli, ["variants", str(out), str(tsv)])
    assert again.stdout == scored
