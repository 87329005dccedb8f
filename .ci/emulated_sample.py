"""A short sample of the bundled model; run under user-mode emulation of a CPU without AVX-512."""

import seqmaxent as sm
from seqmaxent.io.bundled import ctcf_examples_path
from seqmaxent import _core
names, seqs = sm.read_fasta(ctcf_examples_path())
res = sm.sample(sm.Model("ctcf"), seqs[:1], beta=50.0, chains=2, steps=200, period=20, max_rounds=1, threads=1)
assert "avx512" not in _core.kernel_levels(), "the emulated CPU should not offer AVX-512"
print(f"sampled under emulation with the {_core.kernel_level()} kernels: {res}")
