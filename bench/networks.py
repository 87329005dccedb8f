"""Benchmark networks (random weights, PyTorch) and their ONNX export.

ctcf: the paper's CTCF architecture, Conv1d 4->64 width 24, ReLU, Flatten, Linear 4992->100,
ReLU, Dropout, Linear 100->2, on 101 bp. basset: a Basset-like 1,000-bp network (three
conv/pool stages, dense 2304->256). The core updates every layer of both up to Phi.
"""

from __future__ import annotations

from pathlib import Path

import torch
from torch import nn


def ctcf() -> tuple[nn.Sequential, int]:
    return nn.Sequential(
        nn.Conv1d(4, 64, 24), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 78, 100), nn.ReLU(), nn.Dropout(0.5),
        nn.Linear(100, 2),
    ), 101


def basset() -> tuple[nn.Sequential, int]:
    return nn.Sequential(
        nn.Conv1d(4, 128, 19), nn.ReLU(), nn.MaxPool1d(3),
        nn.Conv1d(128, 128, 11), nn.ReLU(), nn.MaxPool1d(4),
        nn.Conv1d(128, 128, 7), nn.ReLU(), nn.MaxPool1d(4),
        nn.Flatten(), nn.Linear(128 * 18, 256), nn.ReLU(), nn.Linear(256, 2),
    ), 1000


NETWORKS = {"ctcf": ctcf, "basset": basset}


def phi_net(net: nn.Sequential) -> nn.Sequential:
    """The layers up to the penultimate representation (everything but the last Linear)."""
    return net[:-1]


def build(name: str, folder: Path) -> tuple[nn.Sequential, int, Path]:
    """The network with seeded random weights, and its ONNX export (N, 4, L) in `folder`."""
    torch.manual_seed(0)
    net, length = NETWORKS[name]()
    net.eval()
    path = folder / f"{name}.onnx"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        torch.onnx.export(net, torch.zeros(1, 4, length), path, dynamo=False, input_names=["x"],
                          output_names=["logits"], dynamic_axes={"x": {0: "batch"}, "logits": {0: "batch"}})
    return net, length, path


def layer_flops(net: nn.Sequential, length: int) -> list[float]:
    """Multiply-adds x 2 of each layer up to Phi in one full forward pass."""
    flops, x = [], torch.zeros(1, 4, length)
    for layer in phi_net(net):
        y = layer(x)
        if isinstance(layer, nn.Conv1d):
            flops.append(2.0 * y.numel() * layer.in_channels * layer.kernel_size[0])
        elif isinstance(layer, nn.Linear):
            flops.append(2.0 * layer.in_features * layer.out_features)
        else:
            flops.append(0.0)
        x = y
    return flops


def _reach(first: int, last: int, width: int, stride: int, dilation: int, pad: int, out_length: int) -> tuple[int, int]:
    """Output rows [first, last) whose window reaches input rows [first, last)."""
    span = (width - 1) * dilation
    return max(-(-(first + pad - span) // stride), 0), min((last - 1 + pad) // stride + 1, out_length)


def proposal_flops(net: nn.Sequential, length: int, incremental: bool) -> float:
    """FLOPs of one proposal (2 per multiply-add, 1 per add or comparison): a full pass to Phi, or
    the incremental update of a mutation in the middle of the sequence: the first conv's rows
    covering it, each later conv's rows reached by a changed input row (from those changes),
    each pool's reached rows, and the dense layer from the last changed rows. An upper bound on
    what the core does: it skips zero changes (ReLU) and rows that come out unchanged (max pool)."""
    if not incremental:
        return sum(layer_flops(net, length))
    flops, x, rows, channels = 0.0, torch.zeros(1, 4, length), (length // 2, length // 2 + 1), 4
    for layer in phi_net(net):
        y = layer(x)
        if isinstance(layer, (nn.Conv1d, nn.MaxPool1d, nn.AvgPool1d)):
            width, stride, pad, dilation = (int(v if isinstance(v, int) else v[0]) for v in
                                            (layer.kernel_size, layer.stride, layer.padding, getattr(layer, "dilation", 1)))
            changed = rows[1] - rows[0]
            rows = _reach(*rows, width, stride, dilation, pad, y.shape[-1])
            if layer is net[0]:
                flops += (rows[1] - rows[0]) * layer.out_channels  # the first conv: one weight change added per row
            elif isinstance(layer, nn.Conv1d):
                flops += 2.0 * changed * width * layer.in_channels * layer.out_channels
            else:
                flops += (rows[1] - rows[0]) * width * channels
        elif isinstance(layer, nn.Linear):
            flops += 2.0 * (rows[1] - rows[0]) * channels * layer.out_features
            rows = (0, 1)
        elif not isinstance(layer, (nn.Flatten, nn.Dropout)):
            flops += (rows[1] - rows[0]) * y.shape[1]
        if not isinstance(layer, nn.Flatten):
            channels = y.shape[1]
        x = y
    return flops
