"""Getting models in: PyTorch modules and Keras models to ONNX, checked against the original.

Genomics models are shared as PyTorch modules or Keras files; seqmaxent reads ONNX. Both helpers
export with a dynamic batch axis, then run the ONNX file and the original on the same random
one-hot sequences and refuse (delete the file, raise) an export whose outputs differ.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from . import graph, layouts
from ..errors import ModelError


def _check(path: Path, expected: list[np.ndarray], x: np.ndarray, rtol: float, atol: float) -> None:
    """The ONNX file's outputs on x against the original's; the file is removed if they differ."""
    s = graph.session(graph.load(path))
    got = s.run(None, {s.get_inputs()[0].name: x})
    for i, (g, e) in enumerate(zip(got, expected)):
        e = np.asarray(e, np.float32)
        if g.shape != e.shape or not np.allclose(g, e, rtol=rtol, atol=atol):
            diff = np.abs(g - e).max() if g.shape == e.shape else f"shape {g.shape} vs {e.shape}"
            path.unlink()
            raise ModelError(f"{path}: the ONNX export's output {i} differs from the original model's "
                             f"(max |difference| {diff}); the file was removed")


def _random_onehot(length: int, layout: str, n: int = 8) -> np.ndarray:
    codes = np.random.default_rng(0).integers(0, 4, (n, length))
    return layouts.to_model(np.eye(4, dtype=np.float32)[codes], layout)


def export_torch(module, length: int, path: str | Path, layout: str = "NCL", output_names: list[str] | None = None,
                 opset: int = 17, dynamo: bool = False, rtol: float = 1e-3, atol: float = 1e-4) -> Path:
    """Export a PyTorch module that reads one-hot DNA (`layout`: "NCL" (N, 4, L), "NLC" or "N1LC")
    of `length` bases to ONNX at `path`, and check it on random sequences.

    The TorchScript exporter (``dynamo=False``, the default) writes the plainest graphs, which the
    core follows layer by layer; `output_names` name the module's outputs (one per returned tensor)
    so that ``Model(path, head=...)`` can pick one. Needs PyTorch (``pip install 'seqmaxent[torch]'``).
    """
    try:
        import torch
    except ImportError:
        raise ImportError("export_torch needs PyTorch: pip install 'seqmaxent[torch]'") from None
    if getattr(module, "n_control_tracks", 0) and hasattr(module, "fconv"):
        raise ValueError(f"this BPNet reads {module.n_control_tracks} control track(s) beside the sequence; export "
                         f"seqmaxent.network.export.without_controls(model) instead (the controls held at zero)")
    if all(hasattr(getattr(module, part, None), "fconv") for part in ("model", "bias")):
        raise ValueError("this ChromBPNet adds a Tn5 bias model's outputs to its accessibility model's, so no single "
                         "linear map makes its outputs; export its accessibility model, `model.model` (the bias-free "
                         "model ChromBPNet's own interpretation explains)")
    path = Path(path)
    module = module.eval()
    x = _random_onehot(length, layout)
    with torch.no_grad():
        out = module(torch.from_numpy(x))
    outs = list(out) if isinstance(out, (tuple, list)) else [out]
    names = output_names or (["output"] if len(outs) == 1 else [f"output{i}" for i in range(len(outs))])
    if len(names) != len(outs):
        raise ValueError(f"the module returns {len(outs)} outputs but {len(names)} output_names were given")
    axes = {"x": {0: "batch"}, **{n: {0: "batch"} for n in names}}
    torch.onnx.export(module, torch.from_numpy(x[:1]), str(path), dynamo=dynamo, input_names=["x"], output_names=names,
                      dynamic_axes=None if dynamo else axes, opset_version=opset,
                      **({"dynamic_shapes": ({0: torch.export.Dim("batch")},)} if dynamo else {}))
    _check(path, [o.numpy() for o in outs], x, rtol, atol)
    return path


def export_keras(model, length: int, path: str | Path, opset: int = 17, rtol: float = 1e-3,
                 atol: float = 1e-4) -> Path:
    """Export a Keras model reading one-hot DNA as (N, L, 4) to ONNX at `path` with tf2onnx, and
    check it on random sequences. tf2onnx writes each Conv1D as a 2-D conv between Unsqueeze /
    Transpose and Transpose / Squeeze, with channels-last tensors in between; the core follows
    those. Needs TensorFlow and tf2onnx (``pip install 'seqmaxent[keras]'``)."""
    try:
        import tensorflow as tf
        import tf2onnx
    except ImportError:
        raise ImportError("export_keras needs TensorFlow and tf2onnx: pip install 'seqmaxent[keras]'") from None
    path = Path(path)
    x = _random_onehot(length, "NLC")
    spec = (tf.TensorSpec((None, length, 4), tf.float32, name="x"),)
    tf2onnx.convert.from_keras(model, input_signature=spec, opset=opset, output_path=str(path))
    with warnings.catch_warnings():  # Keras 3 on a model saved with a list of one input: harmless
        warnings.filterwarnings("ignore", message="The structure of `inputs` doesn't match")
        expected = model(x, training=False)
    outs = list(expected) if isinstance(expected, (tuple, list)) else [expected]
    _check(path, [np.asarray(o) for o in outs], x, rtol, atol)
    return path


def without_controls(bpnet):
    """A bpnet-lite ``BPNet`` (PyPI `bpnet-lite`) with its control tracks held at zero, as a module
    of the one-hot sequence alone, for :func:`export_torch` (``output_names=["profile", "counts"]``).

    bpnet-lite's BPNet reads control tracks beside the sequence (``forward(X, X_ctl)``); a sampler
    changes only the sequence, so the controls must be fixed. At zero they add nothing: their input
    channels of the profile conv and the counts layer's weight on log(sum + 1) = 0 drop out, and
    the module returned computes exactly ``bpnet(X, zeros)`` (or ``bpnet(X)`` without controls)
    as plain layers the core follows. The explanation is then that of the sequence with no control
    signal; a nonzero control track is not supported."""
    import torch

    class _WithoutControls(torch.nn.Module):
        def __init__(self, net):
            super().__init__()
            self.net = net
            n, conv = net.n_control_tracks, net.fconv
            channels = conv.in_channels - n
            self.fconv = torch.nn.Conv1d(channels, conv.out_channels, conv.kernel_size, padding=conv.padding,
                                         bias=conv.bias is not None)
            self.linear = torch.nn.Linear(net.linear.in_features - (1 if n else 0), 1, bias=net.linear.bias is not None)
            with torch.no_grad():
                self.fconv.weight.copy_(conv.weight[:, :channels])
                self.linear.weight.copy_(net.linear.weight[:, : self.linear.in_features])
                for new, old in ((self.fconv, conv), (self.linear, net.linear)):
                    if old.bias is not None:
                        new.bias.copy_(old.bias)

        def forward(self, x):
            net = self.net
            start, end = net.trimming, x.shape[2] - net.trimming
            h = net.irelu(net.iconv(x))
            for conv, relu in zip(net.rconvs, net.rrelus):
                h = h + relu(conv(h))
            profile = self.fconv(h)[:, :, start:end]
            counts = self.linear(torch.mean(h[:, :, max(start - 37, 0) : end + 37], dim=2))
            return profile, counts

    return _WithoutControls(bpnet).eval()
