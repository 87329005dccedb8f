"""The HTML report and the demo, as a person sees them: rendered by headless Chromium."""

from __future__ import annotations

import os
import shutil
import subprocess

import numpy as np
import pytest
from click.testing import CliRunner

import seqmaxent as sm
from conftest import model_path
from seqmaxent.cli import cli
from seqmaxent.pipeline import sample_file

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
    assert "CTCF" in text  # the consensus motif's best JASPAR matches
    image = screenshot(tmp_path / "report.html", tmp_path / "shot.png")
    assert colourful_fraction(image) > 0.03  # measured: 0.08 with the logos, 0.009 without
