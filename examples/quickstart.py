"""Quick example: which bases does the bundled CTCF network rely on in six sequences with a
planted CTCF site? Prints each sequence over a track of how fixed each position stays.

    python examples/quickstart.py
"""

import numpy as np

import seqmaxent as sm
from seqmaxent.io.bundled import ctcf_examples_path

model = sm.Model("ctcf")  # the bundled network, by name
names, seqs = sm.read_fasta(ctcf_examples_path())
print(model, "\n")

# Keep Phi near each sequence's own (beta), with the human genome's GC content as background (mu).
res = sm.sample(model, seqs, beta=100.0, mu=sm.gc_mu(0.42), seed=0)
print(res, "\n")

# Entropy 2 bits = the base is free to change; 0 = the network needs this base.
levels = " .:-=+*#%@"
for name, seq, h, p in zip(names, seqs, res.entropy(), res.prediction):
    track = "".join(levels[min(9, int((2 - x) * 5))] for x in h)
    print(f"{name}  {res.params['verdict']} = {p:.3f}, mean acceptance {res.acceptance.mean():.2f}")
    print("  " + seq)
    print("  " + track)
    fixed = np.flatnonzero(h < 1.0) + 1
    print(f"  positions with entropy < 1 bit: {fixed.min()}-{fixed.max()}" if fixed.size else "  no position is fixed")
print("\nTrack: ' ' free (2 bits) ... '@' fixed (0 bits).")
