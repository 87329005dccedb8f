"""Reference architectures in PyTorch, written as their authors' code is (random weights unless
trained): the paper's CTCF network, Basset-like stacks, BPNet/ChromBPNet's dilated residual tower
with profile and counts heads, SpliceAI's residual blocks with a skip sum and a crop, and a
Keras-style channels-last network. The benchmark (`bench/networks.py`), the test models
(`tests/models/make_models.py`) and `examples/bpnet.py` build on them. Needs PyTorch.
"""

from __future__ import annotations

import torch
from torch import nn


def ctcf() -> nn.Sequential:
    """The paper's CTCF network on 101 bp: conv 64 x 24, ReLU, dense 100, ReLU, 2 outputs."""
    return nn.Sequential(nn.Conv1d(4, 64, 24), nn.ReLU(), nn.Flatten(), nn.Linear(64 * 78, 100), nn.ReLU(),
                         nn.Dropout(0.5), nn.Linear(100, 2))


def basset(length: int = 1000, channels: int = 128, hidden: tuple[int, ...] = (256,), tasks: int = 2,
           batchnorm: bool = False) -> nn.Sequential:
    """A Basset-like stack: three conv / (BatchNorm) / ReLU / max-pool stages, dense layers, tasks
    (sigmoid outputs when there are more than two)."""
    layers: list[nn.Module] = []
    c_in, n = 4, length
    for width, pool in ((19, 3), (11, 4), (7, 4)):
        layers += [nn.Conv1d(c_in, channels, width)] + ([nn.BatchNorm1d(channels)] if batchnorm else [])
        layers += [nn.ReLU(), nn.MaxPool1d(pool)]
        c_in, n = channels, (n - width + 1) // pool
    size = channels * n
    layers.append(nn.Flatten())
    for h in hidden:
        layers += [nn.Linear(size, h), nn.ReLU()]
        size = h
    layers.append(nn.Linear(size, tasks))
    if tasks > 2:
        layers.append(nn.Sigmoid())
    return nn.Sequential(*layers)


class BPNet(nn.Module):
    """BPNet / ChromBPNet (as in bpnet-lite): a width-21 conv, then `layers` dilated residual convs
    (width 3, dilation 2, 4, ..., 2^layers), x = x + relu(conv(x)); a profile head (a width-75 conv,
    cropped to the middle `out` positions, one track per strand) and a counts head (the mean over
    the profile head's receptive positions, then a linear map). `explicit_pad` pads in front of
    each dilated conv with F.pad (Pad ops in the export) instead of the conv's own padding;
    `activation` replaces the ReLUs (e.g. nn.GELU(), as in Basenji-style towers)."""

    def __init__(self, filters: int = 64, layers: int = 8, length: int = 2114, out: int = 1000, strands: int = 2,
                 profile_width: int = 75, explicit_pad: bool = False, activation: nn.Module | None = None):
        super().__init__()
        self.iconv = nn.Conv1d(4, filters, 21, padding=10)
        self.explicit_pad, self.act = explicit_pad, activation or nn.ReLU()
        self.rconvs = nn.ModuleList([nn.Conv1d(filters, filters, 3, padding=0 if explicit_pad else 2**i, dilation=2**i)
                                     for i in range(1, layers + 1)])
        self.fconv = nn.Conv1d(filters, strands, profile_width, padding=profile_width // 2)
        self.linear = nn.Linear(filters, 1)
        self.trim, self.out, self.half = (length - out) // 2, out, profile_width // 2

    def forward(self, x):
        x = self.act(self.iconv(x))
        for conv in self.rconvs:
            d = conv.dilation[0]
            x = x + self.act(conv(nn.functional.pad(x, (d, d)) if self.explicit_pad else x))
        profile = self.fconv(x)[:, :, self.trim : self.trim + self.out]
        counts = self.linear(x[:, :, self.trim - self.half : self.trim + self.out + self.half].mean(dim=2))
        return profile, counts


class _Residual(nn.Module):
    """SpliceAI's residual unit: x + conv(relu(bn(conv(relu(bn(x)))))), 'same' padding."""

    def __init__(self, channels: int, width: int, dilation: int):
        super().__init__()
        pad = dilation * (width - 1) // 2
        self.bn1, self.bn2 = nn.BatchNorm1d(channels), nn.BatchNorm1d(channels)
        self.conv1 = nn.Conv1d(channels, channels, width, dilation=dilation, padding=pad)
        self.conv2 = nn.Conv1d(channels, channels, width, dilation=dilation, padding=pad)

    def forward(self, x):
        return x + self.conv2(torch.relu(self.bn2(self.conv1(torch.relu(self.bn1(x))))))


class SpliceAI(nn.Module):
    """SpliceAI-10k's layer schedule (Jaganathan et al. 2019): a 1x1 conv, 16 residual units in four
    groups (width 11, 11, 21, 41; dilation 1, 4, 10, 25), a skip sum of 1x1 convs after the first conv
    and after each group, a crop of `context` / 2 on each side, a 1x1 conv to 3 classes (none,
    acceptor, donor) and a softmax over them; output (N, positions, 3) as the Keras original."""

    SCHEDULE = [(11, 1)] * 4 + [(11, 4)] * 4 + [(21, 10)] * 4 + [(41, 25)] * 4

    def __init__(self, channels: int = 32, context: int = 10000, schedule: list[tuple[int, int]] | None = None,
                 group: int = 4):
        super().__init__()
        schedule = schedule or self.SCHEDULE
        self.conv = nn.Conv1d(4, channels, 1)
        self.skip = nn.Conv1d(channels, channels, 1)
        self.units = nn.ModuleList([_Residual(channels, w, d) for w, d in schedule])
        self.dense = nn.ModuleList([nn.Conv1d(channels, channels, 1) for _ in range(len(schedule) // group)])
        self.out = nn.Conv1d(channels, 3, 1)
        self.crop, self.group = context // 2, group

    def forward(self, x):
        x = self.conv(x)
        skip = self.skip(x)
        for i, unit in enumerate(self.units):
            x = unit(x)
            if (i + 1) % self.group == 0:
                skip = skip + self.dense[i // self.group](x)
        skip = skip[:, :, self.crop : skip.shape[2] - self.crop]
        return torch.softmax(self.out(skip), dim=1).transpose(1, 2)


class KerasStyle(nn.Module):
    """What a Keras Conv1D network looks like once exported: (N, L, 4) input, tensors kept
    channels-last between layers (a transpose around every conv and pool), a channels-last
    flatten, two dense layers."""

    def __init__(self, length: int = 1000, channels: int = 128, hidden: int = 256):
        super().__init__()
        self.conv1, self.conv2 = nn.Conv1d(4, channels, 19), nn.Conv1d(channels, channels, 11)
        self.pool = nn.MaxPool1d(4)
        n = ((length - 18) // 4 - 10) // 4
        self.dense = nn.Linear(n * channels, hidden)
        self.out = nn.Linear(hidden, 2)

    def forward(self, x):  # x: (N, L, 4)
        for conv in (self.conv1, self.conv2):
            x = torch.relu(conv(x.transpose(1, 2))).transpose(1, 2)  # (N, L, C)
            x = self.pool(x.transpose(1, 2)).transpose(1, 2)
        return torch.softmax(self.out(torch.relu(self.dense(x.flatten(1)))), dim=1)


@torch.no_grad()
def randomize_batchnorm(module: nn.Module, seed: int = 0) -> nn.Module:
    """Give every BatchNorm random statistics and affine parameters (fresh ones are the identity)."""
    g = torch.Generator().manual_seed(seed)
    for m in module.modules():
        if isinstance(m, nn.BatchNorm1d):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) + 0.5)
            m.weight.copy_(torch.rand(n, generator=g) + 0.5)
            m.bias.copy_(torch.randn(n, generator=g) * 0.1)
    return module
