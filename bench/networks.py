"""Benchmark networks (random weights, PyTorch) and their ONNX export.

ctcf: the paper's CTCF architecture, Conv1d 4->64 width 24, ReLU, Flatten, Linear 4992->100,
ReLU, Dropout, Linear 100->2, on 101 bp. basset: a Basset-like 1,000-bp network (three
conv/pool stages, dense 2304->256), where the core updates the first conv and ONNX Runtime the rest.
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


def proposal_flops(net: nn.Sequential, length: int, incremental: bool) -> float:
    """FLOPs of one proposal: a full pass, or the incremental update: the first conv's outputs
    whose window covers the mutation (C x width), then either the dense layer's update from
    all of them (conv + dense in the core; an upper bound, as ReLU leaves many unchanged) or a
    full pass of every later layer (rest of the network in ONNX Runtime)."""
    per_layer = layer_flops(net, length)
    if not incremental:
        return sum(per_layer)
    conv = net[0]
    window = conv.out_channels * conv.kernel_size[0]
    layers = list(phi_net(net))
    if [type(m) for m in layers] == [nn.Conv1d, nn.ReLU, nn.Flatten, nn.Linear, nn.ReLU, nn.Dropout]:
        return 2.0 * window + 2.0 * window * layers[3].out_features
    return 2.0 * window + sum(per_layer[1:])
