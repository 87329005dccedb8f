"""The resident path (the chains' state where ONNX Runtime runs the network, each step one run of
the step graph), tested on the CPU provider, where CI runs it; on a GPU (``pytest -m gpu``) the
same graph runs on the CUDA provider."""

from __future__ import annotations

import numpy as np
import pytest

import seqmaxent as sm
import test_exact
from conftest import model_path

CTCF_SEQS = sm.read_fasta(sm.bundled.ctcf_examples_path())[1]


def has_cuda() -> bool:
    return "CUDAExecutionProvider" in sm.runtime.providers()


@pytest.mark.parametrize("sampler", ["metropolis", "tempering"])
@pytest.mark.parametrize("rel_beta,mu,units", [test_exact.CASES[1], test_exact.CASES[3], test_exact.CASES[4]])
def test_resident_steps_sample_the_exact_distribution(tiny, sampler, rel_beta, mu, units):
    beta = test_exact.relative_beta(tiny, units, rel_beta)
    results = test_exact.run(tiny, beta, mu, units, sampler, "metropolis", resident=True)
    assert results[-1].params["evaluation"].startswith("resident")
    powered = [test_exact.assert_exact(tiny, r, mu, units, test_exact.N_SAMPLES // 3) for r in results]
    assert powered[-1]


def test_a_chain_is_the_same_chain_on_every_path():
    """The resident step draws the same numbers as the core's sampler: with the same seed, chains
    make the same moves (float differences between the two evaluations can flip a rare decision)."""
    model = sm.Model("ctcf")
    kw = dict(beta=50.0, chains=16, steps=1000, period=50, burn_in=0, sampler="metropolis", max_rounds=1, seed=4)
    core = sm.sample(model, CTCF_SEQS[:1], **kw)
    resident = sm.sample(model, CTCF_SEQS[:1], resident=True, **kw)
    same = (core.samples[0].reshape(16, -1, 101) == resident.samples[0].reshape(16, -1, 101)).all(axis=(1, 2))
    assert same.sum() >= 15
    np.testing.assert_allclose(core.acceptance, resident.acceptance, atol=0.02)
    s = model.scale()
    exact = np.linalg.norm(s * (model.phi(resident.samples[0]) - model.phi(sm.encode(CTCF_SEQS[:1]))), axis=1)
    np.testing.assert_allclose(resident.distances[0], exact, rtol=1e-4, atol=1e-4)


def test_resident_errors():
    model = sm.Model(model_path("gemm_softmax_ncl"))
    seq = "ACGTACGTTTGACCAGTACGGATC"
    with pytest.raises(ValueError, match="heat-bath moves need the core"):
        sm.sample(model, [seq], beta=1.0, moves="heat-bath", resident=True, chains=2, steps=20, period=10)


@pytest.mark.gpu
@pytest.mark.skipif(not has_cuda(), reason="needs a GPU and onnxruntime-gpu (pip install onnxruntime-gpu)")
def test_gpu_samples_the_exact_distribution(tiny):
    beta = test_exact.relative_beta(tiny, (1, 0), 3.0)
    (res,) = test_exact.run(tiny, beta, 0.6, (1, 0), "metropolis", "metropolis", provider="cuda")
    assert res.params["evaluation"].startswith("resident") and "GPU" in res.params["evaluation"]
    assert test_exact.assert_exact(tiny, res, 0.6, (1, 0), test_exact.N_SAMPLES // 3)


@pytest.mark.gpu
@pytest.mark.skipif(not has_cuda(), reason="needs a GPU and onnxruntime-gpu (pip install onnxruntime-gpu)")
def test_gpu_and_cpu_marginals_agree_on_the_ctcf_network():
    model = sm.Model("ctcf")
    kw = dict(beta=50.0, mu=sm.gc_mu(0.42), chains=64, steps=2000, seed=1, max_rounds=1)
    cpu = sm.sample(model, CTCF_SEQS[:2], **kw)
    gpu = sm.sample(model, CTCF_SEQS[:2], provider="cuda", **kw)
    assert np.abs(cpu.marginals() - gpu.marginals()).max() < 0.1
