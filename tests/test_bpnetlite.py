"""BPNet from PyPI bpnet-lite and ChromBPNet from PyPI chrombpnet-pytorch (small random
instances): bpnet-lite's control tracks held at zero by seqmaxent.network.export.without_controls,
ChromBPNet's accessibility model, each exported, followed by the core layer by layer, and sampled
with the same distances as full passes. Each is skipped without torch and its package."""

from __future__ import annotations

import numpy as np
import pytest

import seqmaxent as sm

torch = pytest.importorskip("torch", reason="needs PyTorch: pip install '.[torch]'")
from seqmaxent.network.export import without_controls  # noqa: E402

L = 400


def check_in_the_core(path, L: int, centre: range) -> None:
    """Both heads of a BPNet-like export (the profile at the output positions `centre`): s.Phi + b
    is the counts output, every layer runs in the core, and the sampled distances are those of
    full passes."""
    for head, kw in (("counts", {}), ("profile", {"units": 0, "positions": centre})):
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


def onehot(n: int, length: int):
    return torch.nn.functional.one_hot(torch.randint(0, 4, (n, length)), 4).float().transpose(1, 2)


@pytest.mark.parametrize("controls", [2, 0])
def test_bpnet_lite_exports_and_samples_in_the_core(tmp_path, controls):
    bpnetlite = pytest.importorskip("bpnetlite", reason="needs bpnet-lite: pip install bpnet-lite")
    torch.manual_seed(0)
    net = bpnetlite.BPNet(n_filters=16, n_layers=4, n_control_tracks=controls, verbose=False).eval()
    if controls:
        with pytest.raises(ValueError, match="2 control track.*without_controls"):
            sm.export_torch(net, L, tmp_path / "raw.onnx")
    module = without_controls(net)
    x = onehot(3, L)
    with torch.no_grad():
        expected = net(x, torch.zeros(3, controls, L)) if controls else net(x)
        for got, want in zip(module(x), expected):
            torch.testing.assert_close(got, want, rtol=1e-5, atol=1e-5)
    check_in_the_core(sm.export_torch(module, L, tmp_path / "bpnet.onnx", output_names=["profile", "counts"]), L,
                      range(L // 2 - 105, L // 2 - 94))


def test_chrombpnet_accessibility_model_exports_and_samples_in_the_core(tmp_path):
    """The whole ChromBPNet (accessibility + Tn5 bias) has no single final linear map: exporting it
    says to export its accessibility model, which runs in the core like any BPNet."""
    pytest.importorskip("chrombpnet.chrombpnet", reason="needs chrombpnet-pytorch: pip install chrombpnet-pytorch")
    from chrombpnet.chrombpnet import ChromBPNet
    from chrombpnet.model_config import ChromBPNetConfig

    torch.manual_seed(0)
    net = ChromBPNet(ChromBPNetConfig(out_dim=100, n_filters=16, n_layers=3)).eval()
    with pytest.raises(ValueError, match="export its accessibility model, `model.model`"):
        sm.export_torch(net, L, tmp_path / "whole.onnx")
    check_in_the_core(sm.export_torch(net.model, L, tmp_path / "acc.onnx", output_names=["profile", "counts"]), L,
                      range(45, 56))  # the middle 11 of its 100 output positions
