"""The head: the final linear map that an output of the network reads, and what the output's
units and positions are.

A head is a Gemm or MatMul on a vector (one value per unit), or a map applied at every position:
a Conv of any width over positions (SpliceAI's 1x1, BPNet's width-75 profile conv) or a MatMul
over the channels of a (positions, channels) tensor. Softmax, LogSoftmax, Sigmoid and ops that
only move entries (crops, Transposes, Reshapes) may follow it, and before the activation a constant
Add that is a bias per unit (tf2onnx leaves a Keras Conv1D's bias as an Add after the Squeeze); which of the map's units and
output rows land where in the graph's output is read by following an index array through them.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Union

import numpy as np
import onnx

from .graph import MOVE_OPS, Graph, attr, grid, linear, move, opset, pads

Units = Union[int, tuple[int], tuple[int, int], None]  # a head's unit k, or a pair (k1, k2) for log-odds
Positions = Union[int, Iterable[int], None]  # 1-based output positions of a per-position head

ACTIVATIONS = {"Softmax", "LogSoftmax", "Sigmoid"}


@dataclass(frozen=True)
class Head:
    """The linear map an output reads: output unit k at output position p is
    ``sum_(c, t) weight[k, c, t] * phi[c, row(p) * stride - pad_left + t * dilation] + bias[k]``
    (a vector head has one position, one tap and phi's entries as channels)."""

    output: str
    phi: str  # the tensor the map reads
    op: str  # Gemm, MatMul or Conv
    weight: np.ndarray  # (units, channels, width)
    bias: np.ndarray  # (units,)
    activation: str  # Softmax, LogSoftmax, Sigmoid or Identity
    softmax_over: str | None  # "units" or "positions" for a (Log)Softmax
    units: np.ndarray  # the map's units, in the order of the output
    rows: np.ndarray | None  # per output position: the map's output row; None for a vector head
    phi_shape: tuple[int, ...]  # per sequence
    phi_axes: tuple[int, int] | None  # (positions, channels) axes of phi; None for a vector head
    output_axes: tuple[int | None, int | None] = (None, None)  # (positions, units) axes of the output
    stride: int = 1
    dilation: int = 1
    pad_left: int = 0

    @property
    def per_position(self) -> bool:
        return self.rows is not None

    @property
    def n_units(self) -> int:
        return len(self.units)

    @property
    def n_positions(self) -> int:
        return 1 if self.rows is None else len(self.rows)

    @property
    def phi_length(self) -> int:
        return 1 if self.phi_axes is None else self.phi_shape[self.phi_axes[0]]

    def window(self, position: int) -> list[tuple[int, int]]:
        """(phi row, tap) pairs that output position `position` (0-based) reads, padding left out."""
        if self.rows is None:
            return [(0, 0)]
        start = int(self.rows[position]) * self.stride - self.pad_left
        taps = [(start + t * self.dilation, t) for t in range(self.weight.shape[2])]
        return [(r, t) for r, t in taps if 0 <= r < self.phi_length]

    def describe(self) -> str:
        width = self.weight.shape[2]
        kind = (f"{self.op} over positions (width {width})" if self.per_position else self.op)
        where = f"{self.n_units} unit{'s' * (self.n_units != 1)}" + (
            f" x {self.n_positions} positions" if self.per_position else "")
        act = self.activation
        if self.softmax_over == "positions":
            act += " over positions: each unit is a profile track, d is built from the logits of the chosen positions"
        elif self.softmax_over == "units":
            act += " over units (per position)" if self.per_position else " over units"
        return f"{kind} reading {self.phi!r} {tuple(self.phi_shape)}: {where}, {act}"


def _bias_add(g: Graph, node: onnx.NodeProto) -> tuple[str, np.ndarray] | None:
    """For an Add of a tensor and a constant: (the tensor, the constant)."""
    if node.op_type != "Add" or len(node.input) != 2:
        return None
    for data, other in ((0, 1), (1, 0)):
        c = g.const(node.input[other])
        if c is not None and g.const(node.input[data]) is None:
            return node.input[data], c
    return None


def _fold_bias(bias: np.ndarray, add: np.ndarray, index: np.ndarray, K: int) -> np.ndarray | None:
    """bias plus a constant added to the map's outputs (moved as `index` says), if it is one value per unit."""
    add = np.asarray(add, np.float64)
    while add.ndim > index.ndim and add.shape[0] == 1:  # a batch axis of 1
        add = add[0]
    try:
        add = np.broadcast_to(add, index.shape)
    except ValueError:
        return None
    unit = index % K
    out = bias.copy()
    for k in range(K):
        values = add[unit == k]
        if values.size:
            if np.ptp(values) > 0:
                return None
            out[k] += values.flat[0]
    return out


def find(g: Graph, output: str, shapes: dict[str, tuple[int, ...]]) -> Head | str:
    """The head of graph output `output`, or why none was found."""
    chain: list[onnx.NodeProto] = []
    node = g.producer.get(output)
    while node is not None and (node.op_type in MOVE_OPS or node.op_type in ACTIVATIONS or _bias_add(g, node)):
        chain.append(node)
        added = _bias_add(g, node)
        node = g.producer.get(added[0] if added else node.input[0])
    if node is None:
        return "no final linear map (Gemm, MatMul or Conv) before it"
    chain.reverse()
    if node.input and node.input[0] not in shapes:  # the graph input itself: nothing learned before the map
        return f"no final linear map after the input: {node.op_type} {node.name!r} reads the one-hot input directly"
    found = _conv(g, node, shapes) if node.op_type == "Conv" else _linear(g, node, shapes)
    if isinstance(found, str):
        return found
    phi, weight, bias, out_shape, index, phi_axes, geometry = found
    K = weight.shape[0]
    activation, softmax_over = "Identity", None
    for op in chain:
        if (added := _bias_add(g, op)) is not None:
            folded = None if activation != "Identity" else _fold_bias(bias, added[1], index, K)
            if folded is None:
                return f"Add {op.name!r} after the final linear map is not a bias per unit before the activation"
            bias = folded
            continue
        if op.op_type in ACTIVATIONS:
            activation = op.op_type
            if op.op_type != "Sigmoid":
                default = -1 if opset(g.model) >= 13 else 1
                axis = attr(op, "axis", default) % (index.ndim + 1) - 1
                rows = np.any(np.diff(index // K, axis=axis) != 0) if axis >= 0 else False
                softmax_over = "positions" if rows else "units"
            continue
        index = move(g, op, index, shapes)
        if index is None:
            return f"{op.op_type} {op.name!r} after the final linear map is not a move of its entries"
    read = grid(index, K)
    if read is None:
        return "its entries are not a (positions, units) grid of the final linear map's outputs"
    positions_axis, units_axis, rows, units = read
    return Head(output=output, phi=phi, op=node.op_type, weight=weight, bias=bias, activation=activation,
                softmax_over=softmax_over, units=units, rows=rows if phi_axes is not None else None,
                phi_shape=tuple(shapes[phi]), phi_axes=phi_axes, output_axes=(positions_axis, units_axis), **geometry)


def _linear(g: Graph, node: onnx.NodeProto, shapes):
    lin = linear(g, node)
    if lin is None:
        return f"it ends in {node.op_type} {node.name!r}, not a linear map with constant weights"
    phi, w, b = lin
    phi_shape = shapes.get(phi)
    if phi_shape is None:
        return f"the shape of {phi!r} is unknown"
    K = w.shape[0]
    if len(phi_shape) == 1:  # a vector head: one row of K units
        return phi, np.asarray(w, np.float64)[:, :, None], np.asarray(b, np.float64), (K,), np.arange(K), None, {}
    if len(phi_shape) == 2 and node.op_type != "Gemm" and phi_shape[1] == w.shape[1]:  # at every position
        L = phi_shape[0]
        index = np.arange(L)[:, None] * K + np.arange(K)[None, :]
        return phi, np.asarray(w, np.float64)[:, :, None], np.asarray(b, np.float64), (L, K), index, (0, 1), {}
    return f"the final linear map reads {phi!r} of shape {tuple(phi_shape)}, not a vector or (positions, channels)"


def _conv(g: Graph, node: onnx.NodeProto, shapes):
    w = g.const(node.input[1])
    b = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
    phi, phi_shape, out_shape = node.input[0], shapes.get(node.input[0]), shapes.get(node.output[0])
    if w is None or attr(node, "group", 1) != 1 or phi_shape is None or out_shape is None:
        return f"Conv {node.name!r} has no constant weights, is grouped, or has unknown shapes"
    spatial = len(phi_shape) - 1
    long = [a for a in range(1, len(phi_shape)) if phi_shape[a] != 1]
    if len(long) > 1 or spatial < 1:
        return f"Conv {node.name!r} is not over positions only"
    ap = long[0] if long else len(phi_shape) - 1
    kernel = list(w.shape[2:])
    strides = list(attr(node, "strides", [1] * spatial))
    dilations = list(attr(node, "dilations", [1] * spatial))
    p = pads(node, list(phi_shape[1:]), kernel, strides, dilations)
    s = ap - 1
    if any(kernel[a] != 1 or p[a] or p[a + spatial] for a in range(spatial) if a != s):
        return f"Conv {node.name!r} is not over positions only"
    K, C = w.shape[0], w.shape[1]
    weight = np.asarray(w, np.float64).reshape(K, C, -1)
    bias = np.zeros(K) if b is None else np.asarray(b, np.float64).reshape(-1)
    L_out = out_shape[ap]
    index = np.zeros(out_shape, np.int64) + (np.arange(K) * 1).reshape((K,) + (1,) * spatial)
    rows = np.arange(L_out).reshape((1,) * ap + (L_out,) + (1,) * (spatial - ap))
    index = index + rows * K
    return phi, weight, bias, out_shape, index, (ap, 0), dict(stride=strides[s], dilation=dilations[s], pad_left=p[s])
