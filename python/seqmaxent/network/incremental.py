"""Read the graph that the core updates incrementally out of a Phi model (one-hot input -> Phi).

Every tensor the core can compute is a :class:`Ref`: a node of the core's graph, the elementwise
steps applied to that node's rows, and an index array saying which entry of the node (row *
channels + channel) each element of the tensor holds (:mod:`seqmaxent.network.graph`). Ops that move
entries (Transpose, Reshape, Slice, Gather, Squeeze...) move the index array, elementwise ops
add steps, a zero Pad of the positions waits for the conv that reads it (as that conv's padding),
and convs, pools, reductions over positions, sums of tensors and dense layers make nodes, so
Keras-style transposes around every conv, crops of a residual branch, PyTorch's F.pad and the
flatten order in front of a dense layer need no special cases. A BatchNorm or constant Mul/Add right
after a conv or dense layer is folded into its weights; elsewhere it is an affine step.

The walk follows the ONNX graph in order and stops following a tensor at an op it does not know.
If Phi is not reached, the last node that Phi depends on alone hands over to ONNX Runtime (the
tail), which then runs on that node's rows for every proposal.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import onnx

from . import layouts
from .graph import ALPHA, ELEMENTWISE, MOVE_OPS, Graph, attr, cut, depends_only_on, grid, ints, linear, move, pads, tensor_shapes

POOLS = {"MaxPool": "max_pool", "AveragePool": "avg_pool", "GlobalMaxPool": "max_pool", "GlobalAveragePool": "avg_pool"}
REDUCTIONS = {"ReduceMean": "avg_pool", "ReduceMax": "max_pool"}
READ_PADDED = {"Pad", "Conv", "Identity", "Dropout", "Cast", "Transpose"}  # ops that keep or use a pending zero Pad


@dataclass(frozen=True)
class Step:
    """An elementwise op; affine is scale * x + shift per channel."""

    kind: str
    alpha: float = 0.0
    scale: np.ndarray | None = None
    shift: np.ndarray | None = None


@dataclass(frozen=True)
class Edge:
    """Rows [offset, offset + length) of a node, through elementwise steps (see the core's ``Edge``)."""

    node: int
    offset: int
    length: int
    steps: tuple[Step, ...] = ()


@dataclass
class Node:
    """A node of the core's graph (see the core's ``Node``), and the ONNX tensor holding its rows."""

    kind: str  # input, conv, max_pool, avg_pool, add, dense
    inputs: list[Edge]
    channels: int
    length: int
    width: int = 1
    stride: int = 1
    dilation: int = 1
    pad_left: int = 0
    count_include_pad: bool = False
    weight: np.ndarray | None = None  # conv (channels, in, width); dense (channels, in rows * in channels)
    bias: np.ndarray | None = None
    label: str = ""
    tensor: str = ""
    index: np.ndarray = field(default=None, repr=False)  # that tensor's index array (its own entries)


@dataclass(frozen=True)
class Ref:
    """An ONNX tensor the core computes: steps over node `node`, arranged as `index` says.
    `sole`: the tensor is the node's rows themselves, read by nothing else (so a following affine
    op may be folded into the node's weights). `pad`: zero rows a Pad op put around the rows, which
    `index` leaves out; only a conv (into its own padding) or another Pad may read them."""

    node: int
    steps: tuple[Step, ...]
    index: np.ndarray
    sole: bool = False
    pad: tuple[int, int] = (0, 0)  # zero rows before and after, from Pad ops, that the next conv reads


@dataclass(frozen=True)
class Parts:
    nodes: list[Node]
    output: Edge
    phi_index: list[int]  # per Phi unit: entry row * channels + channel of `output` (no tail)
    tail: bytes  # ONNX: the output node's tensor -> Phi; empty if the core reaches Phi
    tail_index: list[int]  # per element of the tail's input: the node entry it holds
    tail_shape: tuple[int, ...]


class _Unsupported(Exception):
    pass


def _rows(index: np.ndarray, channels: int, spatial_channels: bool = False) -> tuple[int, int | None, int, int, np.ndarray]:
    """(positions axis, channels axis or None, first row, rows, the node channel of each place along
    the channels axis) of a tensor whose rows must run contiguously along one axis."""
    read = grid(index, channels)
    if read is None:
        raise _Unsupported("not a (positions, channels) grid")
    ra, ca, rows, cols = read
    if len(rows) and not np.array_equal(rows, rows[0] + np.arange(len(rows))):
        raise _Unsupported("rows not contiguous")
    if ra is None:  # one row: positions along the last unit axis that does not hold channels
        units = [a for a in range(index.ndim) if a != ca and index.shape[a] == 1 and a > 0]
        if not units:
            raise _Unsupported("no positions axis")
        ra = units[-1]
    return ra, ca, int(rows[0]), len(rows), cols


def _same_steps(a: tuple[Step, ...], b: tuple[Step, ...]) -> bool:
    return len(a) == len(b) and all(
        x.kind == y.kind and x.alpha == y.alpha and all(
            (u is None and v is None) or (u is not None and v is not None and np.array_equal(u, v))
            for u, v in ((x.scale, y.scale), (x.shift, y.shift))) for x, y in zip(a, b))


def _affine_is(step: Step, scale: float, shift: float) -> bool:
    return step.kind == "affine" and np.allclose(step.scale, scale, rtol=1e-6, atol=0) and np.allclose(step.shift, shift, rtol=0, atol=1e-7)


def _merged(steps: tuple[Step, ...]) -> tuple[Step, ...]:
    """The steps with consecutive affine maps as one, and identity maps left out."""
    out: list[Step] = []
    for step in steps:
        if step.kind == "affine" and out and out[-1].kind == "affine":
            last = out.pop()
            step = Step("affine", scale=(step.scale * last.scale).astype(np.float32),
                        shift=(step.scale * last.shift + step.shift).astype(np.float32))
        out.append(step)
    return tuple(s for s in out if not (s.kind == "affine" and np.all(s.scale == 1) and not np.any(s.shift)))


def _edge(r: Ref, offset: int, length: int) -> Edge:
    """Rows [offset, offset + length) of `r`'s node, through its steps, as a node reads them."""
    return Edge(r.node, offset, length, _merged(r.steps))


def _gate(steps: tuple[Step, ...]) -> tuple[Step, ...] | None:
    """The steps of x * g(x) for g given as `steps` on x: SiLU and x * sigmoid(beta x) (Enformer's
    GELU), GELU (exact, as exporters write it: x * (1 + erf(x / sqrt 2)), then or before a factor)
    or Mish; None for other products."""
    kinds = tuple(s.kind for s in steps)
    if kinds == ("sigmoid",):
        return (Step("silu", alpha=1.0),)
    if kinds == ("affine", "sigmoid") and not np.any(steps[0].shift) and np.all(steps[0].scale == steps[0].scale[0]):
        return (Step("silu", alpha=float(steps[0].scale[0])),)
    if kinds == ("softplus", "tanh"):
        return (Step("mish"),)
    if kinds[:3] == ("affine", "erf", "affine") and _affine_is(steps[0], 0.5**0.5, 0) and _affine_is(steps[2], 1, 1) \
            and all(s.kind == "affine" and not np.any(s.shift) for s in steps[3:]):
        factor = 2 * np.prod([np.ones_like(steps[2].scale)] + [s.scale for s in steps[3:]], axis=0)
        return (Step("gelu"),) if np.allclose(factor, 1, rtol=1e-6, atol=0) else (
            Step("gelu"), Step("affine", scale=factor.astype(np.float32), shift=np.zeros_like(factor, np.float32)))
    return None


def _product(a: Ref, b: Ref) -> tuple[Step, ...] | None:
    """The steps of a * b where one is the other through more steps (x * g(x)), if g is known."""
    for x, y in ((a, b), (b, a)):
        n = len(x.steps)
        if (x.node == y.node and x.pad == y.pad == (0, 0) and x.index.shape == y.index.shape
                and np.array_equal(x.index, y.index) and len(y.steps) > n and _same_steps(x.steps, y.steps[:n])):
            gate = _gate(y.steps[n:])
            if gate is not None:
                return x.steps + gate
    return None


def _grid_index(shape: tuple[int, ...], positions_axis: int, channels_axis: int | None, channels: int) -> np.ndarray:
    """Index array of a node's own tensor: row * channels + channel, rows along one axis, channels along another."""
    index = np.zeros(shape, np.int64)
    if positions_axis is not None:
        index += np.arange(shape[positions_axis]).reshape([-1 if a == positions_axis else 1 for a in range(len(shape))]) * channels
    if channels_axis is not None:
        index += np.arange(shape[channels_axis]).reshape([-1 if a == channels_axis else 1 for a in range(len(shape))])
    return index


class _Walk:
    def __init__(self, model: onnx.ModelProto, layout: str, length: int):
        self.model, self.g = model, Graph(model)
        self.shapes, ints = tensor_shapes(model, layouts.to_model(np.zeros((1, length, 4)), layout))
        self.g.add_values(ints)
        self.source = model.graph.input[0].name
        index = layouts.to_model(np.arange(4 * length).reshape(1, length, 4), layout)[0].astype(np.int64)
        self.nodes = [Node("input", [], 4, length, label="input", tensor=self.source, index=index)]
        self.refs: dict[str, Ref] = {self.source: Ref(0, (), index)}

    def single(self, name: str) -> bool:
        return self.g.only_consumer(name) is not None

    def add_node(self, node: Node, out: str) -> None:
        self.nodes.append(node)
        self.refs[out] = Ref(len(self.nodes) - 1, (), node.index, sole=True)

    def visit(self, node: onnx.NodeProto) -> None:
        op, out = node.op_type, node.output[0]
        refs = [self.refs.get(i) for i in node.input]
        r = refs[0] if refs else None
        if any(x is not None and x.pad != (0, 0) for x in refs) and op not in READ_PADDED:
            raise _Unsupported(f"{op} of a padded tensor")
        if op in MOVE_OPS:
            index = None if r is None or out not in self.shapes and op != "Identity" else move(self.g, node, r.index, self.shapes)
            if index is None:
                raise _Unsupported(op)
            self.refs[out] = Ref(r.node, r.steps, index, r.sole and self.single(node.input[0]), r.pad)
        elif op == "Pad" and r is not None:
            self.pad(node, r)
        elif op in ELEMENTWISE and r is not None:
            if op == "Gelu" and attr(node, "approximate", b"none") not in (b"none", "none"):
                raise _Unsupported("Gelu with the tanh approximation")
            self.refs[out] = Ref(r.node, r.steps + (Step(ELEMENTWISE[op], alpha=float(attr(node, "alpha", ALPHA.get(op, 0)))),),
                                 r.index)
        elif op == "BatchNormalization" and r is not None:
            scale, shift, mean, var = (self.g.const(i) for i in node.input[1:5])
            if any(v is None for v in (scale, shift, mean, var)):
                raise _Unsupported(op)
            a = scale / np.sqrt(var + attr(node, "epsilon", 1e-5))
            channels = (-1,) + (1,) * (r.index.ndim - 1)  # BatchNorm's channels: the axis after the batch
            self.affine(node, r, np.broadcast_to(a.reshape(channels), r.index.shape),
                        np.broadcast_to((shift - mean * a).reshape(channels), r.index.shape))
        elif op in ("Mul", "Add", "Sub", "Div") and len(node.input) == 2:
            self.arithmetic(node, refs)
        elif op == "Sum" and all(x is not None for x in refs):
            self.add(node, refs)
        elif op == "Conv" and r is not None:
            self.conv(node, r)
        elif (op in POOLS or op in REDUCTIONS) and r is not None:
            self.pool(node, r)
        elif op in ("MatMul", "Gemm") and r is not None:
            self.dense(node, r)
        else:
            raise _Unsupported(op)

    def arithmetic(self, node: onnx.NodeProto, refs: list[Ref | None]) -> None:
        op = node.op_type
        if all(x is not None for x in refs):
            steps = _product(*refs) if op == "Mul" else None
            if steps is not None:
                self.refs[node.output[0]] = Ref(refs[0].node, steps, refs[0].index)
                return
            if op != "Add":
                raise _Unsupported(op)
            self.add(node, refs)
            return
        first = refs[0] is not None
        r = refs[0] if first else refs[1]
        other = self.g.const(node.input[1] if first else node.input[0])
        if r is None or other is None:
            raise _Unsupported(op)
        try:
            v = np.broadcast_to(np.asarray(other, np.float64), (1, *r.index.shape))[0]
        except ValueError:
            raise _Unsupported(op) from None
        if v.shape != r.index.shape:
            raise _Unsupported(op)  # a constant that widens the tensor
        ones, zeros = np.ones_like(v), np.zeros_like(v)
        if op == "Mul":
            self.affine(node, r, v, zeros)
        elif op == "Add":
            self.affine(node, r, ones, v)
        elif op == "Sub":
            self.affine(node, r, ones, -v) if first else self.affine(node, r, -ones, v)
        elif first and np.all(v != 0):
            self.affine(node, r, 1 / v, zeros)
        else:
            raise _Unsupported(op)

    def affine(self, node: onnx.NodeProto, r: Ref, scale: np.ndarray, shift: np.ndarray) -> None:
        """scale * x + shift, given per element of the tensor, as a per-channel step (or folded)."""
        C = self.nodes[r.node].channels
        channel = (r.index % C).reshape(-1)
        per_channel = []
        for values in (scale.reshape(-1), shift.reshape(-1)):
            out = np.zeros(C)
            out[channel] = values
            if not np.allclose(out[channel], values, rtol=0, atol=0):
                raise _Unsupported("an affine op that is not per channel")
            per_channel.append(out)
        a, b = per_channel
        a[np.setdiff1d(np.arange(C), channel)] = 1.0
        target = self.nodes[r.node]
        out = node.output[0]
        if r.sole and not r.steps and target.kind in ("conv", "dense") and self.single(node.input[0]):
            shape = (-1,) + (1,) * (target.weight.ndim - 1)
            target.weight = (target.weight * a.reshape(shape)).astype(np.float32)
            target.bias = (target.bias * a + b).astype(np.float32)
            target.tensor, target.index = out, r.index
            self.refs[out] = Ref(r.node, (), r.index, sole=True)
            return
        step = Step("affine", scale=a.astype(np.float32), shift=b.astype(np.float32))
        self.refs[out] = Ref(r.node, r.steps + (step,), r.index)

    def add(self, node: onnx.NodeProto, refs: list[Ref]) -> None:
        """A sum of tensors that hold the same (row, channel) grid of their nodes, each offset in rows."""
        first = refs[0]
        C = self.nodes[first.node].channels
        rows = first.index // C
        channel = first.index % C
        edges = []
        for r in refs:
            if r.index.shape != first.index.shape or self.nodes[r.node].channels != C or r.node == 0:
                raise _Unsupported("Add of tensors of different shapes")
            own = r.index // C
            offset = int(own.min())
            if not np.array_equal(r.index % C, channel) or not np.array_equal(own - offset, rows - int(rows.min())):
                raise _Unsupported("Add of tensors that are not aligned")
            edges.append(_edge(r, offset, int(own.max()) - offset + 1))
        rel = rows - int(rows.min())
        L = int(rel.max()) + 1
        index = rel * C + channel
        if not np.array_equal(np.sort(index.reshape(-1)), np.arange(L * C)):
            raise _Unsupported("Add over part of the channels")
        self.add_node(Node("add", edges, C, L, label=node.name or node.op_type, tensor=node.output[0], index=index), node.output[0])

    def pad(self, node: onnx.NodeProto, r: Ref) -> None:
        """Zero rows before and after the positions, kept pending for the conv that reads them."""
        mode = attr(node, "mode", b"constant")
        value = self.g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else attr(node, "value", 0.0)
        amounts, axes = ints(self.g, node, 1, "pads"), ints(self.g, node, 3, "axes")
        if mode not in (b"constant", "constant") or value is None or np.any(np.asarray(value) != 0) or amounts is None:
            raise _Unsupported("Pad")
        rank = r.index.ndim + 1
        axes = list(range(rank)) if axes is None else [a % rank for a in axes]
        ap = _rows(r.index, self.nodes[r.node].channels)[0] + 1
        n = len(axes)
        before, after = dict(zip(axes, amounts[:n])), dict(zip(axes, amounts[n:]))
        if any((before[a] or after[a]) and a != ap for a in axes) or before.get(ap, 0) < 0 or after.get(ap, 0) < 0:
            raise _Unsupported("Pad of more than positions")
        self.refs[node.output[0]] = Ref(r.node, r.steps, r.index, pad=(r.pad[0] + before.get(ap, 0), r.pad[1] + after.get(ap, 0)))

    def conv(self, node: onnx.NodeProto, r: Ref) -> None:
        g, out = self.g, node.output[0]
        w = g.const(node.input[1])
        b = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else None
        S, out_shape = r.index.shape, self.shapes.get(out)
        if w is None or attr(node, "group", 1) != 1 or w.ndim != len(S) + 1 or out_shape is None:
            raise _Unsupported("Conv")
        C = self.nodes[r.node].channels
        ap, ac, offset, L, cols = _rows(r.index, C)
        if ap == 0 or (r.node == 0 and r.steps):
            raise _Unsupported("Conv")
        spatial = len(S) - 1
        kernel = list(w.shape[2:])
        strides = list(attr(node, "strides", [1] * spatial))
        dilations = list(attr(node, "dilations", [1] * spatial))
        size = list(S[1:])
        size[ap - 1] += sum(r.pad)  # auto_pad sees the padded length
        p = pads(node, size, kernel, strides, dilations)
        for a in range(1, len(S)):
            s = a - 1
            if a == ap:
                continue
            full = S[a] if a == ac else 1  # bases along a spatial axis: a conv that covers them all at once
            if S[a] != full or kernel[s] != full or p[s] or p[s + spatial] or (a == ac and dilations[s] != 1):
                raise _Unsupported("Conv over more than positions")
        if ac not in (0, None) and S[0] != 1:
            raise _Unsupported("Conv")
        s = ap - 1
        p[s], p[s + spatial] = p[s] + r.pad[0], p[s + spatial] + r.pad[1]  # a Pad op's zeros: the conv's own padding
        k = kernel[s]
        weight = np.zeros((w.shape[0], C, k), np.float32)
        for i, c in enumerate(cols):  # place i along the channels axis holds node channel c
            at: list = [slice(None), 0] + [0] * spatial
            if ac in (0, None):
                at[1] = i
            else:
                at[1 + ac] = i
            for t in range(k):
                at[1 + ap] = t
                weight[:, c, t] = w[tuple(at)]
        length = out_shape[ap]
        if length != (L + p[s] + p[s + spatial] - dilations[s] * (k - 1) - 1) // strides[s] + 1:
            raise _Unsupported("Conv output length")
        bias = np.zeros(w.shape[0], np.float32) if b is None else np.asarray(b, np.float32).reshape(-1)
        self.add_node(Node("conv", [_edge(r, offset, L)], w.shape[0], length, k, strides[s], dilations[s], p[s],
                           weight=weight, bias=bias, label=node.name or "Conv", tensor=out,
                           index=_grid_index(out_shape, ap, 0, w.shape[0])), out)

    def pool(self, node: onnx.NodeProto, r: Ref) -> None:
        op, out = node.op_type, node.output[0]
        S, out_shape = r.index.shape, self.shapes.get(out)
        if out_shape is None or r.node == 0:
            raise _Unsupported(op)
        C = self.nodes[r.node].channels
        ap, ac, offset, L, _ = _rows(r.index, C)
        edge = _edge(r, offset, L)
        label = node.name or op
        if op in REDUCTIONS or op.startswith("Global"):
            if op in REDUCTIONS:
                axes = attr(node, "axes") if attr(node, "axes") is not None else (
                    None if len(node.input) < 2 else self.g.const(node.input[1]))
                if axes is None:
                    raise _Unsupported(op)
                axes = {int(a) % (len(S) + 1) - 1 for a in np.asarray(axes).reshape(-1)}
            else:
                axes = set(range(1, len(S)))
            if ap not in axes or ac in axes or any(S[a] != 1 for a in axes if a != ap) or -1 in axes:
                raise _Unsupported(op)
            index = np.take(r.index, [0], axis=ap) % C
            index = index.reshape(out_shape)
            kind = REDUCTIONS.get(op, POOLS.get(op))
            self.add_node(Node(kind, [edge], C, 1, L, label=label, tensor=out, index=index), out)
            return
        if ac not in (0, None) or attr(node, "ceil_mode", 0):
            raise _Unsupported(op)
        spatial = len(S) - 1
        kernel = list(attr(node, "kernel_shape"))
        strides = list(attr(node, "strides", [1] * spatial))
        if any(d != 1 for d in attr(node, "dilations", [1] * spatial)):
            raise _Unsupported(op)
        p = pads(node, list(S[1:]), kernel, strides, [1] * spatial)
        s = ap - 1
        if any(kernel[a] != 1 or strides[a] != 1 or p[a] or p[a + spatial] for a in range(spatial) if a != s):
            raise _Unsupported(op)
        length = out_shape[ap]
        if length != (L + p[s] + p[s + spatial] - kernel[s]) // strides[s] + 1:
            raise _Unsupported(op)
        # the pool keeps each channel: its entries hold the channels its input held, place by place
        index = (np.take(r.index, np.zeros(length, np.int64), axis=ap) % C) + _grid_index(out_shape, ap, None, C)
        self.add_node(Node(POOLS[op], [edge], C, length, kernel[s], strides[s], 1, p[s],
                           count_include_pad=bool(attr(node, "count_include_pad", 0)), label=label, tensor=out,
                           index=index), out)

    def dense(self, node: onnx.NodeProto, r: Ref) -> None:
        lin = linear(self.g, node)
        out = node.output[0]
        if lin is None or lin[0] != node.input[0] or (r.node == 0 and r.index.ndim != 1):
            raise _Unsupported(node.op_type)
        _, w, b = lin
        C = self.nodes[r.node].channels
        H = w.shape[0]
        if r.index.ndim == 1:  # a dense layer on the flattened rows
            if r.index.size != w.shape[1] or len(np.unique(r.index)) != r.index.size:
                raise _Unsupported("dense")
            rows = r.index // C
            offset = int(rows.min())
            L = int(rows.max()) - offset + 1
            weight = np.zeros((H, L * C), np.float32)
            weight[:, r.index - offset * C] = w
            label = node.name or node.op_type
            if r.node == 0:  # on the one-hot input itself (MMSplice's modules): a conv as wide as the input, one row
                self.add_node(Node("conv", [_edge(r, offset, L)], H, 1, L, weight=weight.reshape(H, L, C).transpose(0, 2, 1),
                                   bias=np.asarray(b, np.float32), label=label, tensor=out, index=np.arange(H)), out)
                return
            self.add_node(Node("dense", [_edge(r, offset, L)], H, 1, weight=weight, bias=np.asarray(b, np.float32),
                               label=label, tensor=out, index=np.arange(H)), out)
            return
        if r.index.ndim != 2 or node.op_type != "MatMul":
            raise _Unsupported("MatMul")
        ap, ac, offset, L, cols = _rows(r.index, C)
        if ap != 0 or ac not in (1, None):
            raise _Unsupported("MatMul not over channels")
        weight = np.zeros((H, C, 1), np.float32)  # the same map at every position: a 1-wide conv
        weight[:, cols, 0] = w
        self.add_node(Node("conv", [_edge(r, offset, L)], H, L, weight=weight,
                           bias=np.asarray(b, np.float32), label=node.name or "MatMul", tensor=out,
                           index=_grid_index((L, H), 0, 1, H)), out)

    def parts(self) -> Parts | None:
        for node in self.model.graph.node:
            try:
                self.visit(node)
            except _Unsupported:
                continue  # its outputs stay unknown
        phi = self.model.graph.output[0].name
        r = self.refs.get(phi)
        if r is not None and r.node != 0 and r.pad == (0, 0):
            C = self.nodes[r.node].channels
            rows = r.index.reshape(-1) // C
            offset = int(rows.min())
            output = _edge(r, offset, int(rows.max()) - offset + 1)
            return self._pruned(output, list((r.index.reshape(-1) - offset * C).astype(int)), b"", [], ())
        for k in range(len(self.nodes) - 1, 0, -1):
            node = self.nodes[k]
            if depends_only_on(self.g, phi, node.tensor, self.source):
                tail = cut(self.model, [node.tensor], phi).SerializeToString()
                return self._pruned(Edge(k, 0, node.length), [], tail, list(node.index.reshape(-1).astype(int)),
                                    tuple(self.shapes[node.tensor]))
        return None

    def _pruned(self, output: Edge, phi_index, tail, tail_index, tail_shape) -> Parts:
        """Parts with only the nodes the output depends on, renumbered."""
        keep, todo = set(), [output.node]
        while todo:
            k = todo.pop()
            if k not in keep:
                keep.add(k)
                todo.extend(e.node for e in self.nodes[k].inputs)
        number = {k: i for i, k in enumerate(sorted(keep | {0}))}
        nodes = []
        for k in sorted(number):
            n = self.nodes[k]
            n.inputs = [Edge(number[e.node], e.offset, e.length, e.steps) for e in n.inputs]
            nodes.append(n)
        output = Edge(number[output.node], output.offset, output.length, output.steps)
        return Parts(nodes, output, phi_index, tail, tail_index, tail_shape)


def extract(phi_model: onnx.ModelProto, layout: str, length: int) -> Parts | None:
    """The incremental parts of a Phi model, or None if the core cannot start at its input."""
    try:
        walk = _Walk(phi_model, layout, length)
    except Exception:  # shapes could not be read: no incremental path
        return None
    return walk.parts()
