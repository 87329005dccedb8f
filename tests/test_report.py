"""The HTML report and the demo, as a person sees them: rendered by headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

import seqmaxent as sm
from seqmaxent.io import bundled
from conftest import model_path
from seqmaxent.cli import cli
from seqmaxent.sampling.pipeline import sample_file

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
SEQS = ["ACGTACGTTTGACCAGTACGGATC", "GGGGCCCCAAAATTTTACGTACGT", "TTTTGGGGACGTACGTAAAACCCC"]


def screenshot(html, png):
    env = {k: v for k, v in os.environ.items() if k != "LD_PRELOAD"}  # no sanitizer runtimes in the browser
    subprocess.run([CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars",
                    f"--screenshot={png}", "--window-size=1400,1800", f"file://{html}"],
                   check=True, capture_output=True, timeout=120, env=env)
    import matplotlib.image

    return matplotlib.image.imread(str(png))[..., :3]


def colourful_fraction(image: np.ndarray) -> float:
    """Share of saturated pixels: logos are coloured, text and tables are grey."""
    return float(((image.max(axis=2) - image.min(axis=2)) > 0.3).mean())


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)")
def test_report_renders_its_figures(tmp_path):
    fa = tmp_path / "in.fa"
    fa.write_text("".join(f">s{i}\n{s}\n" for i, s in enumerate(SEQS)))
    model = sm.Model(model_path("gemm_softmax_ncl"))
    for beta in (1.0, 20.0):
        sample_file(model, fa, tmp_path / f"r{beta:g}.h5", beta=beta, chains=8, steps=1000, period=20)
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "r1.h5"), str(tmp_path / "r20.h5"), "-o",
                                      str(tmp_path / "report.html"), "--no-match"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.html").read_text()
    assert text.count("<img") >= 6 and "Diagnostics, beta 1" in text and "Diagnostics, beta 20" in text
    assert "src='http" not in text  # self-contained
    image = screenshot(tmp_path / "report.html", tmp_path / "shot.png")
    assert image.shape[:2] == (1800, 1400)
    # measured: 0.028 with the logos (the sampler's rounds, evaluations and swap columns push them
    # down the first screen), 0.009 without
    assert colourful_fraction(image) > 0.02


@pytest.mark.skipif(CHROMIUM is None, reason="needs Debian's chromium package (apt-get install chromium)")
def test_demo_shows_the_ctcf_motif(tmp_path):
    result = CliRunner().invoke(cli, ["demo", "-o", str(tmp_path)])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "report.html").read_text()
    # The answer first: the consensus motif beside its JASPAR match (CTCF), before any input's logo.
    summary, inputs = text.index("<h2>Summary</h2>"), text.index("<h2>Inputs</h2>")
    assert summary < text.index("consensus_1") < text.index("JASPAR MA") < inputs
    assert "CTCF" in text[summary:inputs] and "Every input passed the convergence check" in text[summary:inputs]
    assert "class='warn'" not in text  # the demo passes its own check: no orange lines
    image = screenshot(tmp_path / "report.html", tmp_path / "shot.png")
    assert colourful_fraction(image) > 0.03  # measured: 0.08 with the logos, 0.009 without


def test_logos_number_positions_from_one_on_fixed_axes():
    from seqmaxent.explain import logos
    p = np.full((24, 4), 0.25)
    p[5] = [0, 0, 1, 0]
    fig = logos.figure(p, np.r_[np.zeros(5), 2.0, np.zeros(18)], np.zeros(24, np.uint8), "ACGT", np.full(4, 0.25),
                       title="x", motifs=[(4, 9, "5-9")])
    probability, information, importance = fig.axes[:3]
    assert [t.get_text() for t in importance.get_xticklabels()] == ["1", "5", "10", "15", "20"]
    assert information.get_ylim() == (0.0, 2.0) and importance.get_ylim() == (0.0, 2.0)
    assert importance.get_ylabel() == "importance\n(bits)"
    assert any(t.get_text() == "5-9" for t in probability.texts)  # the motif is marked


def test_frozen_inputs_give_no_motifs_and_say_why(tmp_path):
    """At a beta that freezes whole sequences, no segments are called motifs, and the report and
    the motifs command say why."""
    fa = tmp_path / "in.fa"
    names, seqs = sm.read_fasta(bundled.ctcf_examples_path())
    fa.write_text("".join(f">{n}\n{s}\n" for n, s in zip(names[:2], seqs[:2])))
    sample_file(sm.Model("ctcf"), fa, tmp_path / "frozen.h5", beta=1e5, chains=4, steps=200, period=20, max_rounds=1)
    result = CliRunner().invoke(cli, ["report", str(tmp_path / "frozen.h5"), "-o", str(tmp_path / "r.html"),
                                      "--no-match"])
    assert result.exit_code == 0, result.output
    text = (tmp_path / "r.html").read_text()
    assert "No motifs are called from 2 input(s) with most positions fixed" in text and "consensus_1" not in text
    assert "beta too high" in text  # acceptance near 0: the advice says so, not "run more steps"
    result = CliRunner().invoke(cli, ["motifs", str(tmp_path / "frozen.h5"), "-o", str(tmp_path / "m"), "--no-match"])
    assert "no motifs from 2 input(s) with most positions fixed" in result.output and "0 motif(s)" in result.output


def test_long_inputs_are_drawn_where_they_matter():
    """A 600-bp input's logo shows the important stretch (with its true 1-based positions)."""
    from seqmaxent.explain import logos
    bits = np.zeros(600)
    bits[300:315] = 1.5
    assert logos.focus(bits) == (280, 360) and logos.focus(np.zeros(100)) is None  # at least 80 positions
    assert logos.focus(np.zeros(600)) == (0, 80)  # nothing important: from the start
    region = np.zeros(600, bool)
    region[[99, 150, 249]] = True  # a sampled region is drawn whole (positions 100-250) when it fits
    assert logos.focus(bits, region=region) == (99, 250)
    region[450] = True  # too wide to draw: the important stretch
    assert logos.focus(bits, region=region) == (280, 360) and logos.focus(bits, region=np.ones(600, bool)) == (280, 360)
    p = np.full((600, 4), 0.25)
    fig = logos.figure(p, bits, np.zeros(600, np.uint8), "ACGT", np.full(4, 0.25), window=logos.focus(bits),
                       motifs=[(300, 315, "301-315")])
    ticks = [t.get_text() for t in fig.axes[2].get_xticklabels()]
    assert ticks[0] == "281" and "300" in ticks and "330" in ticks
