"""Read the first convolution on the one-hot input (and a dense layer right after it) out of a
Phi graph, as the core's incremental path needs them.

The layout ops between the input and the convolution are read by probing: an input whose
entry for (position p, base b) is 1 + 4p + b is run up to the convolution, which shows on which
axes positions and bases arrive, whatever Transpose/Reshape/Unsqueeze chain put them there.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import onnx
import onnxruntime as ort

from . import layouts
from .graph import LAYOUT_OPS, PASS_OPS, Graph, linear, attr, cut


@dataclass(frozen=True)
class Conv:
    weight: np.ndarray  # (out_channels, 4, width), channels in alphabet order
    bias: np.ndarray
    stride: int
    dilation: int
    pad_left: int
    out_length: int
    tensor_shape: tuple[int, ...]  # per-sequence shape of the conv output in the graph
    output: str  # its tensor name


@dataclass(frozen=True)
class Dense:
    weight: np.ndarray  # (phi_dim, out_channels * out_length)
    bias: np.ndarray
    input_activation: str  # "relu" or "identity", applied to the conv output
    activation: str  # applied to the dense output, giving Phi


@dataclass(frozen=True)
class Parts:
    conv: Conv
    dense: Dense | None
    tail: bytes  # conv output -> Phi (ONNX), used when dense is None


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return session.run(None, {session.get_inputs()[0].name: x})[0]


def _same_pads(size: int, k: int, stride: int, dilation: int, mode: str) -> tuple[int, int]:
    out = -(-size // stride)
    total = max((out - 1) * stride + (k - 1) * dilation + 1 - size, 0)
    small, large = total // 2, total - total // 2
    return (small, large) if mode == "SAME_UPPER" else (large, small)


def _conv(g: Graph, node: onnx.NodeProto, probe: np.ndarray, length: int) -> Conv | None:
    """The conv as a 1-D conv over positions with one channel per base, or None if it is not one."""
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
    auto_pad = attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    pads = list(attr(node, "pads", [0] * (2 * spatial)))
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        for s in range(spatial):
            pads[s], pads[s + spatial] = _same_pads(values.shape[s + 1], kernel[s], strides[s], dilations[s], auto_pad)
    elif auto_pad == "VALID":
        pads = [0] * (2 * spatial)
    for a in range(1, values.ndim):  # every spatial axis but positions must collapse to size 1
        s = a - 1
        if a == ap:
            continue
        full = values.shape[a] if a == ab else 1
        if values.shape[a] != full or kernel[s] != full or pads[s] or pads[s + spatial] or (a == ab and dilations[s] != 1):
            return None
    if ab == 0 and values.shape[0] != 4:
        return None
    if ab != 0 and values.shape[0] != 1:
        return None
    s = ap - 1
    k, stride, dilation, pad_left = kernel[s], strides[s], dilations[s], pads[s]
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
    tensor_shape = [w.shape[0]] + [1] * spatial
    tensor_shape[ap] = out_length
    return Conv(weight, np.asarray(b, np.float32), stride, dilation, pad_left, out_length, tuple(tensor_shape), node.output[0])


def _dense(g: Graph, conv: Conv, phi: str) -> Dense | None:
    """The dense layer if Phi = act(W . flatten(act(conv output)) + b) with nothing else in between."""
    name, node = conv.output, g.only_consumer(conv.output)
    input_activation = "identity"
    if node is not None and node.op_type == "Relu":
        input_activation, name, node = "relu", node.output[0], g.only_consumer(node.output[0])
    if node is None:
        return None
    size = int(np.prod(conv.tensor_shape))
    if node.op_type == "Flatten" and attr(node, "axis", 1) == 1:
        pass
    elif node.op_type == "Reshape":
        shape = g.const(node.input[1])
        if shape is None or shape.size != 2 or shape[1] not in (-1, size):
            return None
    else:
        return None
    name, node = node.output[0], g.only_consumer(node.output[0])
    if node is not None and node.op_type == "MatMul":
        after = g.only_consumer(node.output[0])
        node = after if after is not None and after.op_type == "Add" else node
    lin = linear(g, node) if node is not None else None
    if lin is None or lin[0] != name or lin[1].shape[1] != size:
        return None
    name, node = node.output[0], g.only_consumer(node.output[0])
    activation = "identity"
    if node is not None and node.op_type == "Relu":
        activation, name, node = "relu", node.output[0], g.only_consumer(node.output[0])
    while node is not None and node.op_type in PASS_OPS:
        name, node = node.output[0], g.only_consumer(node.output[0])
    if name != phi:
        return None
    return Dense(np.asarray(lin[1], np.float32), np.asarray(lin[2], np.float32), input_activation, activation)


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
    conv = _conv(g, node, probe, length)
    if conv is None:
        return None
    dense = _dense(g, conv, phi)
    tail = b"" if dense is not None else cut(phi_model, [conv.output], phi).SerializeToString()
    return Parts(conv, dense, tail)
