"""Motif extraction, files, JASPAR matching, and logos."""

from __future__ import annotations

import numpy as np
import pytest
from click.testing import CliRunner

import seqmaxent as sm
from seqmaxent.io import bundled
from seqmaxent.explain import motifs
from seqmaxent.cli import cli
from seqmaxent.sampling.pipeline import sample_file


def test_segments_bridge_short_gaps_and_drop_short_runs():
    imp = np.zeros(30)
    imp[[2, 3, 4, 6, 7]] = 1.0  # one gap of 1 -> segment 2..8
    imp[[12, 13]] = 1.0  # too short
    imp[20:26] = 0.6
    assert motifs.segments(imp) == [(2, 8), (20, 26)]
    assert motifs.segments(imp, max_gap=0) == [(20, 26)]


def test_meme_and_jaspar_files_round_trip(tmp_path):
    from memelite.io import read_meme

    pwm = np.array([[0.7, 0.1, 0.1, 0.1], [0.0, 0.0, 1.0, 0.0], [0.25] * 4, [0.1, 0.2, 0.3, 0.4], [0, 1.0, 0, 0]])
    ms = [motifs.Motif("m1", pwm, 3)]
    motifs.write_meme(ms, tmp_path / "m.meme")
    back = read_meme(str(tmp_path / "m.meme"))
    np.testing.assert_allclose(back["m1"], pwm.T, atol=1e-6)
    motifs.write_jaspar(ms, tmp_path / "m.jaspar")
    text = (tmp_path / "m.jaspar").read_text().splitlines()
    assert text[0] == ">m1\tAGAT C".replace(" ", "") and text[3].startswith("G  [")


def test_aggregation_aligns_both_strands():
    rng = np.random.default_rng(0)
    core = np.eye(4)[[1, 1, 0, 2, 2, 3, 0, 1]] * 0.9 + 0.025
    flank = lambda n: rng.dirichlet(np.ones(4), n)  # noqa: E731
    a = motifs.Motif("a", np.vstack([flank(2), core]))
    b = motifs.Motif("b", motifs.reverse_complement(np.vstack([core, flank(3)])))
    c = motifs.Motif("c", flank(8))
    agg = motifs.aggregate([a, b, c])
    assert len(agg) == 1 and agg[0].sites == 2
    assert "CCAGGTAC" in agg[0].consensus or "GTACCTGG" in agg[0].consensus  # in the seed's orientation


def test_bq_values_are_monotone():
    q = motifs.bh_qvalues(np.array([[0.01, 0.04, 0.03, 0.5]]))
    np.testing.assert_allclose(q, [[0.04, 0.16 / 3, 0.16 / 3, 0.5]])  # p n / rank, then running minimum from the top


@pytest.fixture(scope="module")
def ctcf_result(tmp_path_factory):
    folder = tmp_path_factory.mktemp("ctcf")
    fa = bundled.ctcf_model_path().parent / "ctcf_examples.fa"
    sample_file(sm.Model(bundled.ctcf_model_path()), fa, folder / "r.h5", beta=50.0, mu=sm.gc_mu(0.42), chains=20,
                steps=3000, period=50, burn_in=500, seed=1)
    return folder / "r.h5"


def test_ctcf_motif_is_recovered_and_matched_to_jaspar_ctcf(ctcf_result, tmp_path):
    result = CliRunner().invoke(cli, ["motifs", str(ctcf_result), "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    rows = [line.split("\t") for line in (tmp_path / "matches.tsv").read_text().splitlines()[1:]]
    consensus = [r for r in rows if r[0] == "consensus_1"]
    assert consensus and consensus[0][4] == "CTCF" and float(consensus[0][5]) < 1e-6
    assert {"motifs.meme", "consensus.meme", "motifs.jaspar", "consensus.jaspar"} <= {p.name for p in tmp_path.iterdir()}


def test_logos_are_written(ctcf_result, tmp_path):
    result = CliRunner().invoke(cli, ["logos", str(ctcf_result), "-o", str(tmp_path), "--max-inputs", "2"])
    assert result.exit_code == 0, result.output
    pngs = sorted(p.name for p in tmp_path.glob("*.png"))
    assert pngs == ["ctcf_example_1.png", "ctcf_example_2.png"]
    assert (tmp_path / "ctcf_example_1.png").stat().st_size > 20_000
    assert (tmp_path / "ctcf_example_1.svg").read_text().lstrip().startswith("<?xml")
