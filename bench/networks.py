"""Benchmark networks (`examples/architectures.py`) and their ONNX export.

ctcf: the paper's CTCF network (101 bp), seeded random weights. ctcf_random: the same architecture
from `../shared/bench/ctcf_random.onnx` (the file of a reported slowdown: PyTorch's default random
weights). ctcf_trained: the bundled trained CTCF network. Both files' weights are loaded into the
PyTorch network for the baseline; the CTCF networks are measured at beta 4 (most proposals
accepted) and 400 (almost none). The others have random weights. basset: a Basset-like 1-kb stack (dense 256).
basset2: the same with BatchNorm, two dense layers of 1,000 and 164 sigmoid tasks (task 0
explained). bpnet: BPNet/ChromBPNet's tower (conv 21, 8 dilated residual convs of 64 channels,
2,114 bp), explained through its counts head; bpnet_pad: the same padding with F.pad (Pad ops)
in front of each dilated conv; bpnet_gelu: GELU in place of every ReLU. spliceai: SpliceAI-10k's
schedule (32 channels, 10,001 bp), the centre output's log-odds of donor against neither. keras: a channels-last
Keras-style export (transposes around every conv and pool, a channels-last flatten).
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "examples"))
import architectures  # noqa: E402


@dataclass(frozen=True)
class Network:
    build: object  # () -> torch module
    length: int
    layout: str = "NCL"
    head: str | None = None
    units: object = (1, 0)
    steps: dict = field(default_factory=lambda: {"fast": 2000, "full": 100})  # per measurement, a few seconds each
    chains: int | None = None  # chains for this network (default: the run's)
    sequential: bool = True  # Phi is net[:-1], so the PyTorch baseline applies
    onnx: Callable[[], Path] | None = None  # an existing file (its weights go into the PyTorch network)
    betas: tuple[float, ...] | None = None  # default: the run's beta


SHARED_CTCF = Path(__file__).resolve().parents[2] / "shared" / "bench" / "ctcf_random.onnx"
ACCEPTANCE_BETAS = (4.0, 400.0)


def _bundled_ctcf() -> Path:
    from seqmaxent.io.bundled import ctcf_model_path

    return ctcf_model_path()


NETWORKS = {
    "ctcf": Network(architectures.ctcf, 101),
    "ctcf_random": Network(architectures.ctcf, 101, steps={"fast": 1000, "full": 100}, onnx=lambda: SHARED_CTCF,
                           betas=ACCEPTANCE_BETAS),
    "ctcf_trained": Network(architectures.ctcf, 101, steps={"fast": 1000, "full": 100}, onnx=_bundled_ctcf,
                            betas=ACCEPTANCE_BETAS),
    "basset": Network(architectures.basset, 1000, steps={"fast": 500, "full": 8}),
    "basset2": Network(lambda: architectures.randomize_batchnorm(
        architectures.basset(hidden=(1000, 1000), tasks=164, batchnorm=True)), 1000, units=0,
        steps={"fast": 100, "full": 8}, sequential=False),
    "bpnet": Network(architectures.BPNet, 2114, head="counts", units=None, steps={"fast": 100, "full": 8}, chains=64,
                     sequential=False),
    "bpnet_pad": Network(lambda: architectures.BPNet(explicit_pad=True), 2114, head="counts", units=None,
                         steps={"fast": 100, "full": 8}, chains=64, sequential=False),
    "bpnet_gelu": Network(lambda: architectures.BPNet(activation=torch.nn.GELU()), 2114, head="counts", units=None,
                          steps={"fast": 100, "full": 8}, chains=64, sequential=False),
    "spliceai": Network(lambda: architectures.randomize_batchnorm(architectures.SpliceAI()), 10001, units=(2, 0),
                        steps={"fast": 30, "full": 6}, chains=16, sequential=False),
    "keras": Network(architectures.KerasStyle, 1000, layout="NLC", steps={"fast": 300, "full": 8}, sequential=False),
}


def build(name: str, folder: Path) -> tuple[torch.nn.Module, Network, Path]:
    """The network (seeded random weights, or the weights of its file) and its ONNX file (exported
    into `folder` unless the network names one)."""
    import seqmaxent as sm

    spec = NETWORKS[name]
    torch.manual_seed(0)
    net = spec.build().eval()
    if spec.onnx is not None:
        path = spec.onnx()
        if not path.exists():
            raise FileNotFoundError(f"{name}: {path} is missing (it comes with ../shared beside the project)")
        load_weights(net, path)
        return net, spec, path
    path = folder / f"{name}.onnx"
    if not path.exists():
        folder.mkdir(parents=True, exist_ok=True)
        names = ["profile", "counts"] if name.startswith("bpnet") else None
        sm.export_torch(net, spec.length, path, layout=spec.layout, output_names=names)
    return net, spec, path


def load_weights(net: torch.nn.Module, path: Path) -> None:
    """The ONNX file's weights into `net`, in order (the file was exported from this architecture)."""
    import onnx
    from onnx import numpy_helper

    weights = [numpy_helper.to_array(t) for t in onnx.load(path).graph.initializer]
    params = list(net.state_dict())
    shapes = [tuple(w.shape) for w in weights], [tuple(v.shape) for v in net.state_dict().values()]
    if shapes[0] != shapes[1]:
        raise ValueError(f"{path}: weights {shapes[0]} do not fit the network's {shapes[1]}")
    net.load_state_dict({k: torch.from_numpy(w.copy()) for k, w in zip(params, weights)})


def phi_net(net: torch.nn.Sequential) -> torch.nn.Sequential:
    """The layers up to the penultimate representation (everything but the last Linear)."""
    return net[:-1]
