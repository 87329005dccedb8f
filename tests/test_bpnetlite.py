"""BPNet from PyPI bpnet-lite (small random instances): its control tracks held at zero by
seqmaxent.network.export.without_controls, exported, followed by the core layer by layer, and sampled
with the same distances as full passes. Skipped without torch and bpnet-lite."""

from __future__ import annotations

import numpy as np
import pytest

import seqmaxent as sm

torch = pytest.importorskip("torch", reason="needs PyTorch: pip install '.[torch]'")
bpnetlite = pytest.importorskip("bpnetlite", reason="needs bpnet-lite: pip install bpnet-lite")
from seqmaxent.network.export import without_controls  # noqa: E402

L = 400


@pytest.mark.parametrize("controls", [2, 0])
def test_bpnet_lite_exports_and_samples_in_the_core(tmp_path, controls):
    torch.manual_seed(0)
    net = bpnetlite.BPNet(n_filters=16, n_layers=4, n_control_tracks=controls, verbose=False).eval()
    if controls:
        with pytest.raises(ValueError, match="2 control track.*without_controls"):
            sm.export_torch(net, L, tmp_path / "raw.onnx")
    module = without_controls(net)
    x = torch.nn.functional.one_hot(torch.randint(0, 4, (3, L)), 4).float().transpose(1, 2)
    with torch.no_grad():
        expected = net(x, torch.zeros(3, controls, L)) if controls else net(x)
        for got, want in zip(module(x), expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    path = sm.export_torch(module, L, tmp_path / "bpnet.onnx", output_names=["profile", "counts"])
    for head, kw in (("counts", {}), ("profile", {"units": 0, "positions": range(L // 2 - 105, L // 2 - 94)})):
        m = sm.Model(path, head=head)
        codes = np.random.default_rng(1).integers(0, 4, (2, L)).astype(np.uint8)
        out = m.predict_at(codes, kw.get("positions"))  # s.Phi + b from the head against ONNX Runtime's output
        phi = m.phi(codes, kw.get("positions"))
        w, b = m.head.weight, m.head.bias
        if head == "counts":
            np.testing.assert_allclose(phi @ w[:, :, 0].T + b, out[:, 0], rtol=1e-4, atol=1e-5)
        res = sm.sample(m, sm.decode(codes[:1]), beta=20.0, chains=4, steps=200, period=20, max_rounds=1, **kw)
        assert res.params["evaluation"].startswith("incremental") and "ONNX Runtime" not in res.params["evaluation"]
        exact = np.linalg.norm(m.scale(kw.get("units"), kw.get("positions")) * (
            m.phi(res.samples[0], kw.get("positions")) - res.phi0[0]), axis=1)
        np.testing.assert_allclose(res.distances[0], exact, rtol=1e-3, atol=1e-4)
