"""Generate the small ONNX test models in this folder (needs PyTorch; the outputs are committed).

    python tests/models/make_models.py

Random weights with fixed seeds; each model exercises one input layout, head or body kind.
"""

from __future__ import annotations

import sys
from pathlib import Path

import torch
from torch import nn

HERE = Path(__file__).parent
sys.path.insert(0, str(HERE.parents[1] / "examples"))
import architectures  # noqa: E402
import seqmaxent as sm  # noqa: E402


class ToChannels(nn.Module):
    """(N, L, 4) -> (N, 4, L)."""

    def forward(self, x):
        return x.transpose(1, 2)


class GlobalMax(nn.Module):
    """Max over positions: the network takes any sequence length."""

    def forward(self, x):
        return x.amax(dim=2)


class MatMulAdd(nn.Module):
    """A linear layer written as x @ W + b, which exports as MatMul + Add instead of Gemm."""

    def __init__(self, n_in: int, n_out: int):
        super().__init__()
        self.w = nn.Parameter(torch.randn(n_in, n_out) / n_in**0.5)
        self.b = nn.Parameter(torch.randn(n_out) * 0.1)

    def forward(self, x):
        return x @ self.w + self.b


class PaddedTower(nn.Module):
    """A dilated residual tower that pads explicitly (F.pad, ConstantPad1d) in front of each conv,
    which the TorchScript exporter writes as Pad ops with computed pads; a mean and a linear head."""

    def __init__(self, channels: int = 8, layers: int = 3):
        super().__init__()
        self.first = nn.Sequential(nn.ConstantPad1d((3, 4), 0.0), nn.Conv1d(4, channels, 8))  # 'same' for width 8
        self.convs = nn.ModuleList(nn.Conv1d(channels, channels, 3, dilation=2**i) for i in range(1, layers + 1))
        self.head = nn.Linear(channels, 2)

    def forward(self, x):
        x = torch.relu(self.first(x))
        for conv in self.convs:
            d = conv.dilation[0]
            x = x + torch.relu(conv(nn.functional.pad(x, (d, d))))
        return self.head(x.mean(-1))


def conv_net(length: int, channels: int, width: int, hidden: int, outputs: int, **conv) -> list[nn.Module]:
    conv_layer = nn.Conv1d(4, channels, width, **conv)
    n_out = conv_layer(torch.zeros(1, 4, length)).shape[-1]
    return [conv_layer, nn.ReLU(), nn.Flatten(), nn.Linear(channels * n_out, hidden), nn.ReLU()]


@torch.no_grad()
def calibrate(model: nn.Sequential, shape: tuple[int, ...]) -> None:
    """Shift the bias of every layer followed by a ReLU so each unit is active on about 70% of
    random sequences (random initial weights leave many units dead, so that Phi barely moves)."""
    length = shape[-1] if shape[0] == 4 else shape[-2]
    onehot = torch.eye(4)[torch.randint(0, 4, (512, length))]
    x = onehot.transpose(1, 2) if shape[0] == 4 else onehot.reshape(512, *shape)
    layers = list(model)
    for i, layer in enumerate(layers[:-1]):
        if isinstance(layers[i + 1], nn.ReLU) and isinstance(layer, (nn.Linear, nn.Conv1d, nn.Conv2d)):
            pre = layer(x).transpose(0, 1).reshape(layer.bias.numel(), -1)
            layer.bias -= pre.mean(dim=1) - 0.5 * pre.std(dim=1)
        x = layer(x)


def export(name: str, model: nn.Module, shape: tuple[int, ...], any_length: bool = False) -> None:
    calibrate(model, shape)
    model.eval()
    axes = {0: "batch", len(shape): "length"} if any_length else {0: "batch"}
    torch.onnx.export(
        model, torch.zeros(1, *shape), HERE / f"{name}.onnx", dynamo=False, input_names=["x"], output_names=["y"],
        dynamic_axes={"x": axes, "y": {0: "batch"}}, opset_version=17,
    )


def main() -> None:
    torch.manual_seed(0)
    # The exact-distribution model: L = 4, so all 256 sequences can be enumerated.
    export("tiny", nn.Sequential(*conv_net(4, 3, 2, 4, 2), nn.Linear(4, 2), nn.Softmax(-1)), (4, 4))
    L = 24
    # Gemm head + softmax, dropout, (N, 4, L): the paper's CTCF architecture in small.
    export("gemm_softmax_ncl", nn.Sequential(*conv_net(L, 8, 5, 6, 2), nn.Dropout(0.5), nn.Linear(6, 2), nn.Softmax(-1)), (4, L))
    # MatMul + Add head, (N, L, 4) input transposed inside the graph.
    export("matmul_add_nlc", nn.Sequential(ToChannels(), *conv_net(L, 8, 5, 6, 3), MatMulAdd(6, 3)), (L, 4))
    # Single sigmoid output, strided, dilated and padded conv.
    export("sigmoid_strided", nn.Sequential(*conv_net(L, 6, 4, 5, 1, stride=2, dilation=2, padding=3), nn.Linear(5, 1), nn.Sigmoid()), (4, L))
    # Keras/Theano style (N, 1, L, 4) with a Conv2d whose kernel spans the 4 bases.
    conv2d = nn.Conv2d(1, 8, (5, 4))
    export("keras_n1lc", nn.Sequential(conv2d, nn.ReLU(), nn.Flatten(), nn.Linear(8 * (L - 4), 6), nn.ReLU(), nn.Linear(6, 2), nn.Softmax(-1)), (1, L, 4))
    # Conv followed by max pooling: the core updates the conv, ONNX Runtime runs the rest.
    export("conv_pool", nn.Sequential(nn.Conv1d(4, 8, 5, padding=2), nn.ReLU(), nn.MaxPool1d(4), nn.Flatten(), nn.Linear(8 * (L // 4), 6), nn.ReLU(), nn.Linear(6, 2)), (4, L))
    # Fully convolutional with global max pooling: any sequence length.
    export("any_length", nn.Sequential(nn.Conv1d(4, 8, 5), nn.ReLU(), GlobalMax(), nn.Linear(8, 6), nn.ReLU(), nn.Linear(6, 2)), (4, L), any_length=True)
    # No convolution at all: full evaluation by ONNX Runtime.
    export("mlp", nn.Sequential(nn.Flatten(), nn.Linear(4 * L, 10), nn.Tanh(), nn.Linear(10, 2), nn.Softmax(-1)), (L, 4))
    # No final linear layer to find (ends in a conv), so Phi must be named.
    export("no_head", nn.Sequential(nn.Conv1d(4, 2, L), nn.Flatten()), (4, L))
    # Today's architectures in small, through seqmaxent's own exporter.
    sm.export_torch(architectures.BPNet(filters=8, layers=4, length=120, out=40, profile_width=11).eval(), 120,
                    HERE / "bpnet_small.onnx", output_names=["profile", "counts"])
    spliceai = architectures.SpliceAI(channels=8, context=40, schedule=[(5, 1)] * 2 + [(5, 2)] * 2, group=2)
    sm.export_torch(architectures.randomize_batchnorm(spliceai).eval(), 81, HERE / "spliceai_small.onnx")
    basset = architectures.basset(length=200, channels=8, hidden=(12, 12), tasks=5, batchnorm=True)
    sm.export_torch(architectures.randomize_batchnorm(basset).eval(), 200, HERE / "basset_small.onnx")
    padded()


def padded() -> None:
    torch.manual_seed(1)
    sm.export_torch(PaddedTower().eval(), 60, HERE / "padded_small.onnx")


if __name__ == "__main__":
    main()
