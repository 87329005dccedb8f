"""Read the layers the core updates incrementally out of a Phi graph: the first convolution on
the one-hot input, the conv / pool / elementwise layers after it, and a dense layer that may
follow them.

The layout ops between the input and the first convolution are read by probing: an input whose
entry for (position p, base b) is 1 + 4p + b is run up to the convolution, which shows on which
axes positions and bases arrive, whatever Transpose/Reshape/Unsqueeze chain put them there.
The flatten order in front of the dense layer is probed the same way. Layers are followed while
each one is a plain 1-D (or (1, L)-shaped 2-D) conv or pool over positions; whatever comes after
the last of them runs in ONNX Runtime as the tail.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper

from . import layouts
from .graph import LAYOUT_OPS, PASS_OPS, Graph, attr, cut, infer_shapes, linear

ELEMENTWISE = {"Relu": "relu", "LeakyRelu": "leaky_relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp"}
AFFINE_OPS = {"BatchNormalization", "Mul", "Add", "Sub", "Div"}
POOLS = {"MaxPool": "max_pool", "AveragePool": "avg_pool", "GlobalMaxPool": "max_pool", "GlobalAveragePool": "avg_pool"}


@dataclass(frozen=True)
class Step:
    """An elementwise op; affine is scale * x + shift per channel."""

    kind: str
    alpha: float = 0.0
    scale: np.ndarray | None = None
    shift: np.ndarray | None = None


@dataclass(frozen=True)
class Layer:
    """A conv or pool over positions, then elementwise ops (see the core's ``Layer``)."""

    kind: str  # "conv", "max_pool" or "avg_pool"
    in_channels: int
    out_channels: int
    width: int
    stride: int
    dilation: int
    pad_left: int
    in_length: int
    out_length: int
    count_include_pad: bool = False
    weight: np.ndarray | None = None  # conv: (out, in, width); the first conv's inputs are bases in alphabet order
    bias: np.ndarray | None = None
    after: tuple[Step, ...] = field(default_factory=tuple)


@dataclass(frozen=True)
class Dense:
    weight: np.ndarray  # (phi_dim, channels * length), flatten index c * length + j
    bias: np.ndarray
    after: tuple[Step, ...]


@dataclass(frozen=True)
class Parts:
    layers: list[Layer]
    dense: Dense | None
    tail: bytes  # the core's output (dense output, or the last layer's) -> Phi (ONNX); empty if it is Phi
    tail_shape: tuple[int, ...]  # per-sequence shape of the tail's input


def _session(model: onnx.ModelProto) -> ort.InferenceSession:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = _session(model)
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _shapes(model: onnx.ModelProto, x: np.ndarray) -> dict[str, tuple[int, ...]]:
    """Per-sequence shape of every float tensor the model computes from input x (batch of 1)."""
    inferred = infer_shapes(model)
    floats = {v.name for v in inferred.graph.value_info if v.type.tensor_type.elem_type == onnx.TensorProto.FLOAT}
    names = [o for n in model.graph.node for o in n.output if o in floats]
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    known = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.make_tensor_value_info(n, onnx.TensorProto.FLOAT, None) for n in names if n not in known)
    session = _session(probe)
    values = session.run(None, {session.get_inputs()[0].name: x})
    return {o.name: v.shape[1:] for o, v in zip(session.get_outputs(), values)}


def _pads(node: onnx.NodeProto, size: list[int], kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    """Explicit pads (begins, then ends) of a conv or pool, auto_pad resolved."""
    spatial = len(size)
    auto_pad = attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    pads = list(attr(node, "pads", [0] * (2 * spatial)))
    if auto_pad == "VALID":
        return [0] * (2 * spatial)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        for s in range(spatial):
            out = -(-size[s] // strides[s])
            total = max((out - 1) * strides[s] + (kernel[s] - 1) * dilations[s] + 1 - size[s], 0)
            small, large = total // 2, total - total // 2
            pads[s], pads[s + spatial] = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    return pads


def _first_conv(g: Graph, node: onnx.NodeProto, probe: np.ndarray, length: int) -> tuple[Layer, int] | None:
    """The conv on the one-hot input as a 1-D conv over positions with one channel per base, and
    the axis of its output (per sequence) that holds positions; None if it is not one."""
    w = g.const(node.input[1])
    b = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    if w is None or attr(node, "group", 1) != 1 or probe.ndim != w.ndim:
        return None
    b = np.zeros(w.shape[0]) if b is None else b
    # Where each (position, base) landed: coords[p, b] = index tuple (without batch).
    values = probe[0].astype(np.int64)
    flat = np.flatnonzero(values)
    if flat.size != 4 * length or not np.array_equal(np.sort(values.flat[flat]), np.arange(1, 4 * length + 1)):
        return None
    coords = np.zeros((4 * length, values.ndim), dtype=np.int64)
    coords[values.flat[flat] - 1] = np.stack(np.unravel_index(flat, values.shape), axis=1)
    coords = coords.reshape(length, 4, values.ndim)
    pos_axes = [a for a in range(values.ndim) if np.any(coords[:, 0, a] != coords[0, 0, a])]
    base_axes = [a for a in range(values.ndim) if np.any(coords[0, :, a] != coords[0, 0, a])]
    if len(pos_axes) != 1 or len(base_axes) != 1 or pos_axes[0] == 0:
        return None
    ap, ab = pos_axes[0], base_axes[0]
    if not np.array_equal(coords[:, :, ap], np.broadcast_to(np.arange(length)[:, None], (length, 4))):
        return None
    if np.any(coords[:, :, ab] != coords[0:1, :, ab]):
        return None
    base_at = coords[0, :, ab]
    spatial = values.ndim - 1
    kernel = list(w.shape[2:])
    strides = list(attr(node, "strides", [1] * spatial))
    dilations = list(attr(node, "dilations", [1] * spatial))
    pads = _pads(node, list(values.shape[1:]), kernel, strides, dilations)
    for a in range(1, values.ndim):  # every spatial axis but positions must collapse to size 1
        s = a - 1
        if a == ap:
            continue
        full = values.shape[a] if a == ab else 1
        if values.shape[a] != full or kernel[s] != full or pads[s] or pads[s + spatial] or (a == ab and dilations[s] != 1):
            return None
    if values.shape[0] != (4 if ab == 0 else 1):
        return None
    s = ap - 1
    k, stride, dilation = kernel[s], strides[s], dilations[s]
    out_length = (length + pads[s] + pads[s + spatial] - dilation * (k - 1) - 1) // stride + 1
    if out_length < 1:
        return None
    weight = np.zeros((w.shape[0], 4, k), dtype=np.float32)
    for base in range(4):
        for t in range(k):
            index = [0] * values.ndim
            index[ab] = base_at[base]
            index[ap] = t
            weight[:, base, t] = w[(slice(None), *index)]
    layer = Layer("conv", 4, w.shape[0], k, stride, dilation, pads[s], length, out_length,
                  weight=weight, bias=np.asarray(b, np.float32))
    return layer, ap


def _positions_axis(shape: tuple[int, ...]) -> int | None:
    """The axis of a per-sequence (channels, ...) shape that holds positions: the one axis past 0
    that is not 1 (the last one if all are 1); None if the shape is not of that form."""
    if len(shape) < 2:
        return None
    long = [a for a in range(1, len(shape)) if shape[a] != 1]
    return long[0] if len(long) == 1 else (len(shape) - 1 if not long else None)


def _over_positions(g: Graph, node: onnx.NodeProto, shape: tuple[int, ...], ap: int, out: tuple[int, ...]) -> Layer | None:
    """A Conv or pool node from a (channels, positions) tensor of `shape` to one of `out` as a Layer, or None."""
    if len(out) != len(shape) or _positions_axis(out) is None:
        return None
    spatial = len(shape) - 1
    C, L = shape[0], shape[ap]
    if node.op_type.startswith("Global"):
        return Layer(POOLS[node.op_type], C, C, L, 1, 1, 0, L, 1)
    if node.op_type == "Conv":
        w = g.const(node.input[1])
        b = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(out[0])
        if w is None or b is None or attr(node, "group", 1) != 1 or w.ndim != len(shape) + 1 or w.shape[1] != C:
            return None
        kernel = list(w.shape[2:])
    else:
        if attr(node, "ceil_mode", 0) or any(d != 1 for d in attr(node, "dilations", [1] * spatial)):
            return None
        kernel = list(attr(node, "kernel_shape"))
    strides = list(attr(node, "strides", [1] * spatial))
    dilations = list(attr(node, "dilations", [1] * spatial))
    pads = _pads(node, list(shape[1:]), kernel, strides, dilations)
    for s in range(spatial):  # nothing happens along the unit axes
        if s != ap - 1 and (kernel[s] != 1 or strides[s] != 1 or pads[s] or pads[s + spatial]):
            return None
    s = ap - 1
    out_length = out[_positions_axis(out)]
    if node.op_type == "Conv":
        weight = np.asarray(w, np.float32).reshape(w.shape[0], C, kernel[s])
        return Layer("conv", C, w.shape[0], kernel[s], strides[s], dilations[s], pads[s], L, out_length,
                     weight=weight, bias=np.asarray(b, np.float32).reshape(-1))
    return Layer(POOLS[node.op_type], C, C, kernel[s], strides[s], 1, pads[s], L, out_length,
                 count_include_pad=bool(attr(node, "count_include_pad", 0)))


def _channel_vector(value: np.ndarray, shape: tuple[int, ...]) -> np.ndarray | None:
    """A constant broadcast against (batch, *shape) as one value per channel, or None if it varies otherwise."""
    try:
        full = np.broadcast_to(value, (1, *shape)).astype(np.float32)[0]
    except ValueError:
        return None
    rows = full.reshape(shape[0], -1)
    return None if np.any(rows != rows[:, :1]) else rows[:, 0].copy()


def _step(g: Graph, node: onnx.NodeProto, name: str, shape: tuple[int, ...]) -> Step | None:
    """An elementwise node on tensor `name` (per-sequence shape `shape`) as a Step, or None."""
    if node.op_type in ELEMENTWISE:
        return Step(ELEMENTWISE[node.op_type], alpha=float(attr(node, "alpha", 0.01)))
    if node.op_type == "BatchNormalization" and node.input[0] == name and len(node.output) == 1:
        scale, shift, mean, var = (g.const(i) for i in node.input[1:5])
        if any(v is None for v in (scale, shift, mean, var)):
            return None
        a = scale / np.sqrt(var + attr(node, "epsilon", 1e-5))
        return Step("affine", scale=a.astype(np.float32), shift=(shift - mean * a).astype(np.float32))
    if node.op_type in ("Mul", "Add", "Sub", "Div") and len(node.input) == 2:
        first = node.input[0] == name
        other = g.const(node.input[1] if first else node.input[0])
        v = None if other is None else _channel_vector(other, shape)
        if v is None:
            return None
        ones, zeros = np.ones_like(v), np.zeros_like(v)
        if node.op_type == "Mul":
            return Step("affine", scale=v, shift=zeros)
        if node.op_type == "Add":
            return Step("affine", scale=ones, shift=v)
        if node.op_type == "Sub":
            return Step("affine", scale=ones, shift=-v) if first else Step("affine", scale=-ones, shift=v)
        if first and np.all(v != 0):
            return Step("affine", scale=1 / v, shift=zeros)
    return None


def _with_step(layer: Layer, step: Step) -> Layer:
    """The layer followed by one more elementwise op; an affine op right after a conv is folded into it."""
    if step.kind == "affine" and layer.kind == "conv" and not layer.after:
        weight = layer.weight * step.scale[:, None, None]
        return replace(layer, weight=weight.astype(np.float32), bias=(layer.bias * step.scale + step.shift).astype(np.float32))
    return replace(layer, after=layer.after + (step,))


def _dense(g: Graph, name: str, shape: tuple[int, ...], model: onnx.ModelProto) -> tuple[Dense, str] | None:
    """The dense layer after(W . flatten(tensor `name`) + b) that follows `name` (flatten order
    probed), and the name of its output; None if no dense layer follows."""
    size = int(np.prod(shape))
    flat, node = name, g.only_consumer(name)
    while node is not None and node.op_type in LAYOUT_OPS:
        flat, node = node.output[0], g.only_consumer(node.output[0])
    if node is not None and node.op_type == "MatMul":
        after = g.only_consumer(node.output[0])
        node = after if after is not None and after.op_type == "Add" else node
    lin = linear(g, node) if node is not None else None
    if lin is None or lin[0] != flat or flat == name or lin[1].shape[1] != size:
        return None
    index = (np.arange(size, dtype=np.float32) + 1).reshape(1, *shape)  # 1 + c * L + j
    try:
        order = _run(cut(model, [name], flat), index).reshape(-1).astype(np.int64) - 1
    except Exception:
        return None
    if not np.array_equal(np.sort(order), np.arange(size)):
        return None
    weight = np.zeros_like(lin[1], dtype=np.float32)
    weight[:, order] = lin[1]
    out = node.output[0]
    steps: tuple[Step, ...] = ()
    node = g.only_consumer(out)
    while node is not None and (node.op_type in PASS_OPS or (step := _step(g, node, out, (lin[1].shape[0],))) is not None):
        if node.op_type not in PASS_OPS:
            steps += (step,)
        out, node = node.output[0], g.only_consumer(node.output[0])
    return Dense(weight, np.asarray(lin[2], np.float32), steps), out


def extract(phi_model: onnx.ModelProto, layout: str, length: int) -> Parts | None:
    """The incremental parts of a Phi model (one-hot input -> Phi), or None if it does not start with a conv."""
    g = Graph(phi_model)
    source = phi_model.graph.input[0].name
    phi = phi_model.graph.output[0].name
    name, node = source, g.only_consumer(source)
    while node is not None and node.op_type in LAYOUT_OPS:
        name, node = node.output[0], g.only_consumer(node.output[0])
    if node is None or node.op_type != "Conv" or node.input[0] != name:
        return None
    index = (np.arange(4 * length, dtype=np.float32) + 1).reshape(1, length, 4)
    x = layouts.to_model(index, layout)
    try:
        probe = x if name == source else _run(cut(phi_model, [source], name), x)
    except Exception:
        return None
    first = _first_conv(g, node, probe, length)
    if first is None:
        return None
    layers, ap = [first[0]], first[1]
    shape = [first[0].out_channels] + [1] * (probe.ndim - 2)
    shape[ap] = first[0].out_length
    shape = tuple(shape)
    try:
        shapes = _shapes(phi_model, x)
    except Exception:  # then the core stops after the first conv
        shapes = {}
    name, node = node.output[0], g.only_consumer(node.output[0])
    while node is not None and (out := shapes.get(node.output[0])) is not None:
        if node.op_type in PASS_OPS:
            pass
        elif node.op_type in ("Squeeze", "Unsqueeze", "Reshape"):
            if _positions_axis(out) is None or out[0] != shape[0] or int(np.prod(out)) != int(np.prod(shape)):
                break
            ap = _positions_axis(out)
        elif node.op_type in ELEMENTWISE or node.op_type in AFFINE_OPS:
            step = _step(g, node, name, shape)
            if step is None:
                break
            layers[-1] = _with_step(layers[-1], step)
        elif node.op_type == "Conv" or node.op_type in POOLS:
            layer = _over_positions(g, node, shape, ap, out)
            if layer is None or layer.in_length != layers[-1].out_length:
                break
            layers.append(layer)
            ap = _positions_axis(out)
        else:
            break
        name, node, shape = node.output[0], g.only_consumer(node.output[0]), out
    dense = _dense(g, name, shape, phi_model)
    if dense is not None:
        dense, name = dense
        shape = (dense.weight.shape[0],)
    tail = b"" if name == phi else cut(phi_model, [name], phi).SerializeToString()
    return Parts(layers, dense, tail, shape)
