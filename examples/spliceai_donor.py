"""SpliceAI's published weights, from Keras to an explanation: which bases make SpliceAI-10k call
a donor (5' splice site) at the centre of its 10,001-bp input?

    pip install '.[keras]' spliceai && python examples/spliceai_donor.py [--out spliceai-example]
    (about 17 minutes on 2 cores with AVX-512: under a minute to export, the rest sampling one input)

The PyPI package `spliceai` ships the five trained Keras models; this loads `spliceai1.h5`, exports
it with `seqmaxent.export_keras` (checked against Keras on random sequences) and designs one exon
into a random background: a polypyrimidine tract and AG, a 120-bp exon whose last base is the
centre (position 5,001) and the donor consensus GTAAGT after it. SpliceAI's centre output is a
softmax over (neither, acceptor, donor); d is built from the log-odds of donor against neither
(``units=(2, 0)``). Only the 200 bp around the site are sampled (``region="4901-5100"``): the
other 9,801 positions keep their bases as context, so the chains spend every proposal where the
question is. Writes the results file, its report and a logo of the region into --out.
"""

from __future__ import annotations

import argparse
import os
import time
from importlib.util import find_spec
from pathlib import Path

import numpy as np

import seqmaxent as sm
from seqmaxent.cli.options import steps_bar
from seqmaxent.explain.diagnostics import checked
from seqmaxent.formatting import position_runs
from seqmaxent.explain.report import build
from seqmaxent.io.store import load
from seqmaxent.sampling.settings import steps_at_cap

LENGTH, CENTRE, REGION = 10_001, 5_001, "4901-5100"
PPT = "CTAACTTTTCTTTCCTTTTCCCTTTTCAG"  # branch point, polypyrimidine tract, AG
DONOR = "CAG" + "GTAAGTATGGG"  # exon end, then the intron's start


def designed_exon(seed: int = 3) -> str:
    """Random background (58% A/T) with one exon whose last base is the centre."""
    rng = np.random.default_rng(seed)

    def background(n: int) -> str:
        return "".join(rng.choice(list("ACGT"), n, p=[0.29, 0.21, 0.21, 0.29]))

    exon = background(117)
    upstream = CENTRE - 3 - len(exon) - len(PPT)
    return (background(upstream) + PPT + exon + DONOR + background(LENGTH))[:LENGTH]


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("spliceai-example"))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--steps", type=int, default=None,
                   help="steps per chain and round (8 chains; default: from the region's length)")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()

    path = args.out / "spliceai1.onnx"
    if not path.exists():
        print("exporting SpliceAI's spliceai1.h5 (the spliceai package) to ONNX...", flush=True)
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # TensorFlow's start-up log lines
        import keras

        spec = find_spec("spliceai")  # the package's own import needs setuptools' pkg_resources; the file does not
        if spec is None:
            raise SystemExit("needs SpliceAI's weights: pip install spliceai")
        weights = Path(spec.origin).parent / "models" / "spliceai1.h5"
        keras_model = keras.models.load_model(str(weights), compile=False)
        sm.export_keras(keras_model, LENGTH, path)
    model = sm.Model(path, class_names=["neither", "acceptor", "donor"])
    print(model.info(positions=1))

    fasta = args.out / "exon.fa"
    seq = designed_exon()
    fasta.write_text(f">designed_exon donor at {CENTRE}\n{seq}\n")
    p_donor = model.predict_at(sm.encode([seq]), positions=1)[0, 0, 2]
    print(f"\nSpliceAI's P(donor) at the centre: {p_donor:.3f}; sampling positions {REGION} (1-based)...", flush=True)
    results = args.out / "exon.h5"
    results.unlink(missing_ok=True)
    sampled = time.perf_counter()
    # d is in donor-vs-neither log-odds units: at beta 8 a change of 0.5 costs a factor e^-4. The
    # chains run in rounds, each twice as long as the one before, until the diagnostics pass over the
    # region; SpliceAI's needs a fifth round (one more than the default cap) to get there.
    options = dict(units=(2, 0), positions=1, region=REGION, sampler="metropolis", chains=8, steps=args.steps,
                   max_rounds=5, seed=0, threads=args.threads)
    with steps_bar(steps_at_cap([8.0], options, LENGTH)) as bar:
        sm.sample_file(model, fasta, results, beta=8.0, progress=bar.update, **options)
    per_input = time.perf_counter() - sampled
    build([results], args.out / "report.html", match=False)

    params, names, h5 = load(results)
    with h5:
        imp = h5["importance"][0]
        kept, converged, rounds = float(h5["kept_class"][0]), bool(h5["converged"][0]), int(h5["rounds"][0])
        rhat, ess_value = checked(h5, 0)
    first, last = (int(v) for v in REGION.split("-"))
    hot = np.flatnonzero(imp >= 0.5) + 1
    print(f"\n{params['verdict']} of x0: {p_donor:.3f}; {kept:.0%} of samples keep the donor call; "
          + ("converged" if converged else f"not converged yet (R-hat {rhat:.2f}, ESS {ess_value:.0f} over the region: "
                                           f"more --steps)"))
    print(f"positions with importance >= 0.5 bits (1-based): {position_runs(hot)}")
    bits = lambda span: ", ".join(f"{b:.2f}" for b in imp[span])  # noqa: E731
    print(f"  exon end {CENTRE - 2}-{CENTRE}: {bits(slice(CENTRE - 3, CENTRE))} bits; "
          f"GT {CENTRE + 1}-{CENTRE + 2}: {bits(slice(CENTRE, CENTRE + 2))} bits")
    print(f"  intron {CENTRE + 30}-{last}: mean {imp[CENTRE + 29:last].mean():.2f} bits; "
          f"exon {first}-{CENTRE - 30}: mean {imp[first - 1:CENTRE - 30].mean():.2f} bits")
    print(f"\nsampling took {per_input / 60:.1f} min for the input ({rounds} round(s), 8 chains x "
          f"{params['steps']:,} steps in the first, "
          f"{params['threads'] or 'all'} threads); wrote {args.out}/report.html "
          f"({time.perf_counter() - start:.0f} s in all)")


if __name__ == "__main__":
    main()
