"""Every kernel level this CPU runs (SEQMAXENT_KERNELS=generic|avx2|avx512, each in its own
process): the same Phi as the generic path within float tolerance, in-place updates that match
ONNX Runtime, and samples of the exact distribution."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from seqmaxent import _core
TESTS = Path(__file__).parent

# Run in a fresh process per level: Phi of random sequences through several graphs, the distances
# of a run without refresh against ONNX Runtime, and the TV distance of an enumerable model's
# samples from the exact distribution against its bound.
SCRIPT = f"""
import json, sys
import numpy as np, onnx
sys.path.insert(0, {str(TESTS)!r})
import graphs, test_exact
import seqmaxent as sm
from seqmaxent import _core
from conftest import model_path

out = {{"level": _core.kernel_level(), "phi": {{}}, "drift": {{}}}}
builds = {{"residual": graphs.residual(40), "spliceai": graphs.spliceai_like(40, crop=15),
          "keras": graphs.keras_channels_last(40), "two_dense": graphs.cropped_residual(40)}}
codes = np.random.default_rng(0).integers(0, 4, (16, 40), dtype=np.uint8)
for name, proto in builds.items():
    path = sys.argv[1] + f"/{{name}}.onnx"
    onnx.save(proto, path)
    model = sm.Model(path, layout="NLC" if name == "keras" else "NCL")
    positions = [3, 6] if name == "spliceai" else None
    units = (1, 0)
    out["phi"][name] = model.engine(40, "cpu", 2, True, positions).phi(codes).tolist()
    res = sm.sample(model, sm.decode(codes[:1]), beta=5.0, units=units, positions=positions, chains=4, steps=1000,
                    period=50, refresh=0, sampler="metropolis", max_rounds=1, seed=1)
    s = model.scale(units, positions)
    exact = np.linalg.norm(s * (model.phi(res.samples[0], positions) - model.phi(codes[:1], positions)), axis=1)
    out["drift"][name] = float(np.abs(res.distances[0] - exact).max())
for name in ("ctcf_like", "basset_small"):
    model = sm.Model(model_path("gemm_softmax_ncl") if name == "ctcf_like" else model_path(name))
    c = np.random.default_rng(1).integers(0, 4, (16, model.length), dtype=np.uint8)
    out["phi"][name] = model.engine(model.length, "cpu", 2, True).phi(c).tolist()
tiny = sm.Model(model_path("tiny"), layout="NCL")
beta = test_exact.relative_beta(tiny, (1, 0), 3.0)
(res,) = test_exact.run(tiny, beta, 0.6, (1, 0), "tempering", "metropolis")[-1:]
p = test_exact.exact(tiny, test_exact.X0, beta, 0.6, (1, 0))
out["tv"] = test_exact.tv(res.samples[0], p)
out["tv_bound"] = test_exact.tv_bound(p, test_exact.N_SAMPLES // 3, np.random.default_rng(0))
print(json.dumps(out))
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory) -> dict[str, dict]:
    folder = tmp_path_factory.mktemp("kernels")
    out = {}
    for level in _core.kernel_levels():
        done = subprocess.run([sys.executable, "-c", SCRIPT, str(folder)], capture_output=True, text=True, cwd=TESTS,
                              env={**os.environ, "SEQMAXENT_KERNELS": level})
        assert done.returncode == 0, done.stderr[-2000:]
        out[level] = json.loads(done.stdout.strip().splitlines()[-1])
    return out


def test_every_level_runs_and_says_so(runs):
    assert list(runs) == _core.kernel_levels() and runs.keys() >= {"generic"}
    assert all(r["level"] == level for level, r in runs.items())


@pytest.mark.parametrize("level", ["avx2", "avx512"])
def test_phi_equals_the_generic_path(runs, level):
    if level not in runs:
        pytest.skip(f"this CPU cannot run {level}")
    for name, phi in runs[level]["phi"].items():
        np.testing.assert_allclose(phi, runs["generic"]["phi"][name], rtol=1e-5, atol=1e-5, err_msg=name)


def test_updates_match_onnxruntime_and_samples_are_exact_at_every_level(runs):
    for level, r in runs.items():
        assert max(r["drift"].values()) < 1e-3, (level, r["drift"])  # 1,000 updates, no refresh
        assert r["tv"] < r["tv_bound"], (level, r["tv"], r["tv_bound"])
