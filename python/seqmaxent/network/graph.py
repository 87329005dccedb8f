"""ONNX graph helpers: loading, constants, cutting a graph at a tensor, the shapes of its
tensors, following where the entries of a tensor go through ops that only move them, and writing
new graphs node by node.

Moves are tracked with an *index array*: an integer array of a tensor's per-sequence shape whose
entries say which entry of some source each element holds. Reshape, Transpose, Slice, Gather and
friends apply to it exactly as to the tensor, so any chain of them an exporter emits is followed
without special cases.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper, numpy_helper

from ..errors import ModelError

# Ops that only move entries (or pass them on unchanged at inference).
MOVE_OPS = {"Identity", "Dropout", "Cast", "Reshape", "Flatten", "Squeeze", "Unsqueeze", "Transpose", "Slice", "Gather"}
# Ops that apply one function to every entry, in the order they are applied.
ELEMENTWISE = {"Relu": "relu", "LeakyRelu": "leaky_relu", "Sigmoid": "sigmoid", "Tanh": "tanh", "Exp": "exp",
               "Softplus": "softplus", "Elu": "elu", "Erf": "erf", "Mish": "mish", "Gelu": "gelu"}
ALPHA = {"LeakyRelu": 0.01, "Elu": 1.0}  # ONNX's defaults


MAX_LOOP = 1_000_000  # iterations of a Loop with a constant trip count


def load(path: str | Path) -> onnx.ModelProto:
    """Read and check an ONNX file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        from ..io.bundled import MODELS

        raise FileNotFoundError(f"ONNX model not found: {path} (bundled models, by name: {', '.join(MODELS)})")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:  # protobuf and checker errors have many types
        raise ModelError(f"{path} is not a valid ONNX model: {e}") from None
    constants = {t.name: t for t in model.graph.initializer}
    constants.update({n.output[0]: n.attribute[0].t for n in model.graph.node if n.op_type == "Constant" and n.attribute
                      and n.attribute[0].name == "value"})
    for node in model.graph.node:
        if node.op_type == "Loop" and node.input and node.input[0] in constants:
            trips = int(numpy_helper.to_array(constants[node.input[0]]).max())
            if trips > MAX_LOOP:
                raise ModelError(f"{path}: Loop {node.name or node.output[0]!r} runs {trips:,} iterations per "
                                 f"evaluation (at most {MAX_LOOP:,} are accepted)")
    return model


def infer_shapes(model: onnx.ModelProto) -> onnx.ModelProto:
    try:
        return onnx.shape_inference.infer_shapes(model)
    except Exception:
        return model


def dims(value: onnx.ValueInfoProto) -> list[int | str | None]:
    """A value's dimensions: int, symbolic name, or None."""
    shape = value.type.tensor_type.shape
    return [d.dim_value if d.HasField("dim_value") else (d.dim_param or None) for d in shape.dim]


def graph_input(model: onnx.ModelProto, path: str) -> onnx.ValueInfoProto:
    inits = {i.name for i in model.graph.initializer}
    inputs = [i for i in model.graph.input if i.name not in inits]
    if len(inputs) != 1:
        raise ModelError(f"{path}: expected one input (one-hot DNA), found {len(inputs)}: {[i.name for i in inputs]}")
    return inputs[0]


class Graph:
    """Producer/consumer maps and constant values of a model."""

    def __init__(self, model: onnx.ModelProto):
        self.model = model
        self.producer = {o: n for n in model.graph.node for o in n.output}
        self.consumers: dict[str, list[onnx.NodeProto]] = {}
        for n in model.graph.node:
            for i in n.input:
                self.consumers.setdefault(i, []).append(n)
        self.outputs = {o.name for o in model.graph.output}
        self.consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        for n in model.graph.node:
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
                self.consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)

    def add_values(self, values: dict[str, np.ndarray]) -> None:
        """Treat these computed tensors (shape arithmetic, read off a run) as constants."""
        for name, value in values.items():
            self.consts.setdefault(name, value)

    def const(self, name: str) -> np.ndarray | None:
        """Value of a constant tensor (initializer, Constant node, or a Transpose of one)."""
        if name in self.consts:
            return self.consts[name]
        node = self.producer.get(name)
        if node is not None and node.op_type == "Transpose":
            inner = self.const(node.input[0])
            if inner is not None:
                return np.transpose(inner, attr(node, "perm", None))
        return None

    def only_consumer(self, name: str) -> onnx.NodeProto | None:
        users = self.consumers.get(name, [])
        return users[0] if len(users) == 1 and name not in self.outputs else None


class Builder:
    """Writes a graph node by node: each node's output is named prefix + its name, and constants
    become initializers (one per distinct value)."""

    def __init__(self, prefix: str):
        self.prefix = prefix
        self.nodes: list[onnx.NodeProto] = []
        self.inits: dict[str, np.ndarray] = {}
        self._named: dict[tuple, str] = {}

    def __call__(self, op: str, inputs: list[str], output: str, **attrs) -> str:
        name = self.prefix + output
        self.nodes.append(helper.make_node(op, inputs, [name], name=name, **attrs))
        return name

    def out(self, op: str, inputs: list[str], name: str, **attrs) -> str:
        """A node writing the graph output `name`."""
        self.nodes.append(helper.make_node(op, inputs, [name], name=self.prefix + "out/" + name, **attrs))
        return name

    def const(self, value: np.ndarray | float | int, name: str = "c") -> str:
        value = np.asarray(value)
        key = (value.dtype.str, value.shape, value.tobytes())
        if key not in self._named:
            self._named[key] = f"{self.prefix}{name}_{len(self._named)}"
            self.inits[self._named[key]] = value
        return self._named[key]

    def initializers(self) -> list[onnx.TensorProto]:
        return [numpy_helper.from_array(v, k) for k, v in self.inits.items()]


def attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def linear(g: Graph, node: onnx.NodeProto) -> tuple[str, np.ndarray, np.ndarray] | None:
    """(input, weight (out, in), bias) if `node` is Gemm, MatMul, or Add(MatMul, const) with constant weights."""
    if node.op_type == "Gemm" and not attr(node, "transA", 0):
        w = g.const(node.input[1])
        if w is None or w.ndim != 2:
            return None
        w = w if attr(node, "transB", 0) else w.T
        w = w * attr(node, "alpha", 1.0)
        b = g.const(node.input[2]) if len(node.input) > 2 and node.input[2] else np.zeros(w.shape[0])
        if b is None:
            return None
        return node.input[0], w, np.broadcast_to(b * attr(node, "beta", 1.0), (w.shape[0],))
    if node.op_type == "MatMul":
        w = g.const(node.input[1])
        if w is None or w.ndim != 2:
            return None
        return node.input[0], w.T, np.zeros(w.shape[1])
    if node.op_type == "Add":
        for mm, other in ((0, 1), (1, 0)):
            inner = g.producer.get(node.input[mm])
            b = g.const(node.input[other])
            if inner is not None and inner.op_type == "MatMul" and b is not None:
                lin = linear(g, inner)
                if lin is not None and b.size in (1, lin[1].shape[0]):
                    return lin[0], lin[1], np.broadcast_to(b.reshape(-1), (lin[1].shape[0],))
    return None


def opset(model: onnx.ModelProto) -> int:
    """The model's version of the default ONNX operator set."""
    return max((o.version for o in model.opset_import if o.domain in ("", "ai.onnx")), default=13)


def tensor_names(model: onnx.ModelProto) -> list[str]:
    return [o for n in model.graph.node for o in n.output]


def session(model: onnx.ModelProto) -> ort.InferenceSession:
    """A single-threaded CPU session whose errors reach the caller as exceptions, not log lines."""
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 4
    return ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])


def run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    s = session(model)
    return s.run(None, {s.get_inputs()[0].name: x})[0]


def tensor_shapes(model: onnx.ModelProto, x: np.ndarray) -> tuple[dict[str, tuple[int, ...]], dict[str, np.ndarray]]:
    """From one run on input x (batch of 1): the per-sequence shape of every float tensor the model
    computes, and the values of its small integer tensors (the shape arithmetic an exporter writes
    for crops and reshapes, which is constant once the length is)."""
    inferred = infer_shapes(model)
    kinds = {v.name: v.type.tensor_type.elem_type for v in inferred.graph.value_info}
    wanted = {onnx.TensorProto.FLOAT, onnx.TensorProto.INT64}
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    present = {o.name for o in probe.graph.output}
    probe.graph.output.extend(helper.make_tensor_value_info(n, kinds[n], None)
                              for n in tensor_names(model) if kinds.get(n) in wanted and n not in present)
    s = session(probe)
    values = s.run(None, {s.get_inputs()[0].name: x})
    shapes, ints = {}, {}
    for o, v in zip(s.get_outputs(), values):
        if isinstance(v, np.ndarray) and v.dtype == np.float32 and v.ndim >= 1:
            shapes[o.name] = v.shape[1:]
        elif isinstance(v, np.ndarray) and v.dtype == np.int64 and v.size <= 64:
            ints[o.name] = v
    return shapes, ints


def cut(model: onnx.ModelProto, inputs: list[str], output: str) -> onnx.ModelProto:
    """The subgraph from `inputs` to `output`, with a symbolic batch axis."""
    inferred = infer_shapes(model)
    sub = onnx.utils.Extractor(inferred).extract_model(inputs, [output])
    del sub.graph.value_info[:]
    for v in list(sub.graph.input) + list(sub.graph.output):
        shape = v.type.tensor_type.shape
        if len(shape.dim):
            shape.dim[0].Clear()
            shape.dim[0].dim_param = "batch"
    return sub


def append(model: onnx.ModelProto, nodes: list[onnx.NodeProto], output: str,
           consts: dict[str, np.ndarray] | None = None) -> onnx.ModelProto:
    """The model with `nodes` added after it and `output` as its only output."""
    out = onnx.ModelProto()
    out.CopyFrom(model)
    out.graph.node.extend(nodes)
    out.graph.initializer.extend(numpy_helper.from_array(v, k) for k, v in (consts or {}).items())
    del out.graph.output[:]
    out.graph.output.append(helper.make_tensor_value_info(output, onnx.TensorProto.FLOAT, None))
    return out


def depends_only_on(g: Graph, output: str, source: str, start: str) -> bool:
    """Whether every path from the graph input `start` to `output` passes through `source`."""
    seen, todo = set(), [output]
    while todo:
        name = todo.pop()
        if name == source or name in seen or name in g.consts:
            continue
        if name == start:
            return False
        seen.add(name)
        node = g.producer.get(name)
        if node is not None:
            todo.extend(i for i in node.input if i)
    return True


def pads(node: onnx.NodeProto, size: list[int], kernel: list[int], strides: list[int], dilations: list[int]) -> list[int]:
    """Explicit pads (begins, then ends) of a conv or pool over spatial sizes `size`, auto_pad resolved."""
    spatial = len(size)
    auto_pad = attr(node, "auto_pad", b"NOTSET")
    auto_pad = auto_pad.decode() if isinstance(auto_pad, bytes) else auto_pad
    out = list(attr(node, "pads", [0] * (2 * spatial)))
    if auto_pad == "VALID":
        return [0] * (2 * spatial)
    if auto_pad in ("SAME_UPPER", "SAME_LOWER"):
        for s in range(spatial):
            length = -(-size[s] // strides[s])
            total = max((length - 1) * strides[s] + (kernel[s] - 1) * dilations[s] + 1 - size[s], 0)
            small, large = total // 2, total - total // 2
            out[s], out[s + spatial] = (small, large) if auto_pad == "SAME_UPPER" else (large, small)
    return out


def ints(g: Graph, node: onnx.NodeProto, index: int, name: str) -> list[int] | None:
    """An int list given as input `index` (newer opsets) or attribute `name` (older ones)."""
    if len(node.input) > index and node.input[index]:
        v = g.const(node.input[index])
        return None if v is None else [int(x) for x in np.asarray(v).reshape(-1)]
    v = attr(node, name)
    return None if v is None else [int(x) for x in v]


def move(g: Graph, node: onnx.NodeProto, index: np.ndarray, shapes: dict[str, tuple[int, ...]]) -> np.ndarray | None:
    """The index array of a move op's output from that of its (first) input; None if the op is not
    a move of this input along the per-sequence axes."""
    op, out = node.op_type, shapes.get(node.output[0])
    if op in ("Identity", "Dropout", "Cast"):
        return index
    if op in ("Reshape", "Flatten", "Squeeze", "Unsqueeze"):
        return None if out is None or int(np.prod(out)) != index.size else index.reshape(out)
    if op == "Transpose":
        perm = attr(node, "perm", list(range(index.ndim + 1))[::-1])
        if perm[0] != 0:
            return None
        return np.transpose(index, [p - 1 for p in perm[1:]])
    if op == "Slice":
        starts, ends = ints(g, node, 1, "starts"), ints(g, node, 2, "ends")
        axes, steps = ints(g, node, 3, "axes"), ints(g, node, 4, "steps")
        if starts is None or ends is None:
            return None
        axes = list(range(len(starts))) if axes is None else axes
        steps = [1] * len(starts) if steps is None else steps
        cut = [slice(None)] * index.ndim
        for a, s, e, st in zip(axes, starts, ends, steps):
            a = a % (index.ndim + 1)
            if a == 0:  # the batch axis: only a slice that keeps it whole
                if (s, st) != (0, 1) or e < 2**31 - 1:
                    return None
                continue
            cut[a - 1] = slice(s, e, st)
        return index[tuple(cut)]
    if op == "Gather":
        indices = g.const(node.input[1])
        axis = attr(node, "axis", 0) % (index.ndim + 1)
        if indices is None or axis == 0:
            return None
        return np.take(index, np.asarray(indices, np.int64), axis=axis - 1)
    return None


def grid(index: np.ndarray, size: int) -> tuple[int | None, int | None, np.ndarray, np.ndarray] | None:
    """Read an index array whose entries are row * size + column as a grid: (the axis along which
    rows change, the axis along which columns change (None where only one), the rows along the
    first, the columns along the second); None if other axes are longer than 1 or it is no grid."""
    rows, cols = index // size, index % size
    row_axes = [a for a in range(index.ndim) if np.any(np.diff(rows, axis=a) != 0)]
    col_axes = [a for a in range(index.ndim) if np.any(np.diff(cols, axis=a) != 0)]
    if len(row_axes) > 1 or len(col_axes) > 1 or (row_axes and row_axes == col_axes):
        return None
    ra, ca = (row_axes or [None])[0], (col_axes or [None])[0]
    if any(index.shape[a] != 1 for a in range(index.ndim) if a not in (ra, ca)):
        return None
    first = tuple(0 for _ in range(index.ndim))

    def along(values: np.ndarray, axis: int | None) -> np.ndarray:
        if axis is None:
            return np.asarray([values[first]]) if values.size else np.zeros(0, np.int64)
        at = list(first)
        at[axis] = slice(None)
        return values[tuple(at)]

    return ra, ca, along(rows, ra), along(cols, ca)
