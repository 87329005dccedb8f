"""A BPNet-style model in PyTorch, from training to explanation: which bases does it use to
predict the total signal (counts head), and which to shape the profile at one place (a window of
its profile head)?

    pip install '.[torch]' && python examples/bpnet.py [--out bpnet-example]   (about 3 minutes on 2 cores)

The data are synthetic, so the answer is known: JASPAR's CTCF motif (MA0139) is planted 1 to 3
times into random 600-bp sequences, and each site adds a strand-shifted bump of reads to the
profile of the middle 200 bp. A small BPNet (`examples/architectures.py`: a width-21 conv, 5
dilated residual convs, a width-25 profile head) is trained on 4,000 such sequences with BPNet's
loss (multinomial profile likelihood + squared error of log counts), exported to ONNX with
`seqmaxent.export_torch`, and explained on held-out sequences: through the counts head, and
through the profile logits of 11 output positions around one site. Writes the results files,
logos and an HTML report per head into --out.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from pyjaspar import jaspardb

sys.path.insert(0, str(Path(__file__).resolve().parent))
import architectures  # noqa: E402

import seqmaxent as sm  # noqa: E402
from seqmaxent.formatting import position_runs  # noqa: E402
from seqmaxent.explain.report import build  # noqa: E402
from seqmaxent.io.store import load  # noqa: E402

LENGTH, OUT, GC = 600, 200, 0.42
TRIM = (LENGTH - OUT) // 2


def make_data(n: int, rng: np.random.Generator, motif: np.ndarray) -> tuple[np.ndarray, np.ndarray, list[list[int]]]:
    """One-hot codes (n, L), read profiles (n, 2, OUT) and the planted sites' starts (0-based)."""
    background = np.array([(1 - GC) / 2, GC / 2, GC / 2, (1 - GC) / 2])
    codes = rng.choice(4, (n, LENGTH), p=background)
    profiles = np.zeros((n, 2, OUT))
    where = np.arange(OUT)
    sites = []
    for i in range(n):
        starts = sorted(rng.choice(np.arange(TRIM + 10, TRIM + OUT - 40, 25), rng.integers(1, 4), replace=False))
        sites.append([int(s) for s in starts])
        rate = np.full((2, OUT), 0.02)
        for s in starts:
            site = np.array([rng.choice(4, p=p) for p in motif])
            codes[i, s : s + len(site)] = site if rng.random() < 0.5 else 3 - site[::-1]
            centre = s + len(site) / 2 - TRIM
            for strand, shift in ((0, -4), (1, 4)):
                rate[strand] += 3.0 * np.exp(-0.5 * ((where - centre - shift) / 6.0) ** 2)
        profiles[i] = rng.poisson(rate)
    return codes, profiles, sites


def train(net: architectures.BPNet, codes: np.ndarray, profiles: np.ndarray, epochs: int = 12) -> None:
    x = torch.nn.functional.one_hot(torch.as_tensor(codes), 4).float().transpose(1, 2)
    y = torch.as_tensor(profiles, dtype=torch.float32)
    log_counts = torch.log1p(y.sum(dim=(1, 2)))
    opt = torch.optim.Adam(net.parameters(), lr=2e-3)
    for epoch in range(epochs):
        order = torch.randperm(len(x))
        total = 0.0
        for batch in order.split(64):
            profile, counts = net(x[batch])
            logp = torch.log_softmax(profile.flatten(1), dim=1)  # one multinomial over both strands
            loss = -(logp * y[batch].flatten(1)).sum(dim=1).mean() / OUT + ((counts[:, 0] - log_counts[batch]) ** 2).mean()
            opt.zero_grad()
            loss.backward()
            opt.step()
            total += loss.item() * len(batch)
        print(f"  epoch {epoch + 1:2d}/{epochs}: loss {total / len(x):.4f}", flush=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", type=Path, default=Path("bpnet-example"))
    p.add_argument("--threads", type=int, default=None)
    p.add_argument("--retrain", action="store_true", help="train again even if OUT/bpnet.onnx exists")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    torch.manual_seed(0)
    rng = np.random.default_rng(0)
    counts = jaspardb().fetch_motif_by_id("MA0139").counts
    motif = np.array([counts[b] for b in "ACGT"], float).T
    motif /= motif.sum(axis=1, keepdims=True)

    path = args.out / "bpnet.onnx"
    if path.exists() and not args.retrain:
        print(f"using the model trained before, {path} (--retrain to train it again)")
    else:
        print("training a small BPNet on synthetic CTCF-site profiles...", flush=True)
        codes, profiles, _ = make_data(4000, rng, motif)
        net = architectures.BPNet(filters=32, layers=5, length=LENGTH, out=OUT, profile_width=25)
        train(net, codes, profiles)
        sm.export_torch(net.eval(), LENGTH, path, output_names=["profile", "counts"])
    print(sm.inspect(path, head="counts"))

    test, _, sites = make_data(4, np.random.default_rng(1), motif)
    fasta = args.out / "test.fa"
    fasta.write_text("".join(f">test_{i + 1} sites at {', '.join(str(s + 1) for s in si)}\n{sm.decode(c[None])[0]}\n"
                             for i, (c, si) in enumerate(zip(test, sites))))
    options = dict(mu=sm.gc_mu(GC), seed=0, threads=args.threads)

    # The counts head: one number per sequence, from the mean of the tower over the profile window.
    counts_model = sm.Model(path, head="counts")
    counts_h5 = args.out / "counts.h5"
    counts_h5.unlink(missing_ok=True)
    print("\nexplaining the counts head...", flush=True)
    # d is about the change of the log counts here (a single base of a site moves them by 0.02 to
    # 0.12), so a large beta: at 2000 a change of 0.002 already costs a factor e^-4.
    sm.sample_file(counts_model, fasta, counts_h5, beta=2000.0, **options)
    build([counts_h5], args.out / "counts.html", match=False)

    # The profile head of strand +, at the 11 output positions around test_1's first site.
    centre = sites[0][0] + motif.shape[0] // 2 - TRIM + 1  # 1-based output position
    window = range(centre - 5, centre + 6)
    first = args.out / "test_1.fa"
    first.write_text("".join(fasta.read_text().splitlines(keepends=True)[:2]))
    profile_model = sm.Model(path, head="profile")
    profile_h5 = args.out / "profile.h5"
    profile_h5.unlink(missing_ok=True)
    print(f"explaining the profile head of test_1, strand +, output positions {window.start}-{window.stop - 1}...",
          flush=True)
    sm.sample_file(profile_model, first, profile_h5, beta=50.0, units=0, positions=window, **options)
    build([profile_h5], args.out / "profile.html", match=False)

    for label, h5_path in (("counts head", counts_h5), ("profile window", profile_h5)):
        params, names, h5 = load(h5_path)
        with h5:
            print(f"\n{label} (beta {params['beta']:g}): positions with importance >= 0.5 bits (1-based)")
            for i, name in enumerate(names):
                hot = np.flatnonzero(h5["importance"][i] >= 0.5) + 1
                planted = ", ".join(f"{s + 1}-{s + motif.shape[0]}" for s in sites[i])
                print(f"  {name}: planted {planted}; important {position_runs(hot)}; converged {bool(h5['converged'][i])}")
    print(f"\nwrote {args.out}/counts.html and {args.out}/profile.html ({time.perf_counter() - start:.0f} s)")


if __name__ == "__main__":
    main()
