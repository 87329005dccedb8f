"""ONNX graph surgery: find the final linear layer and cut the graph at Phi (the layers for the
core's incremental path are read in :mod:`seqmaxent.incremental`)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper, numpy_helper

from .errors import ModelError

# Ops that may follow the final linear layer without changing which unit is which.
OUTPUT_OPS = {"Softmax", "LogSoftmax", "Sigmoid", "Identity", "Dropout"}
# Ops that only rearrange the one-hot input before the first convolution.
LAYOUT_OPS = {"Transpose", "Reshape", "Unsqueeze", "Squeeze", "Identity", "Cast", "Flatten"}
# Ops that pass Phi through unchanged at inference.
PASS_OPS = {"Identity", "Dropout"}


def load(path: str | Path) -> onnx.ModelProto:
    """Read and check an ONNX file; errors name the file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"ONNX model not found: {path}")
    try:
        model = onnx.load(str(path))
        onnx.checker.check_model(model)
    except Exception as e:  # protobuf and checker errors have many types
        raise ModelError(f"{path} is not a valid ONNX model: {e}") from None
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
        self.consts = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
        for n in model.graph.node:
            if n.op_type == "Constant" and n.attribute and n.attribute[0].name == "value":
                self.consts[n.output[0]] = numpy_helper.to_array(n.attribute[0].t)

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
        outputs = {o.name for o in self.model.graph.output}
        return users[0] if len(users) == 1 and name not in outputs else None


def attr(node: onnx.NodeProto, name: str, default=None):
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


@dataclass(frozen=True)
class Head:
    """The final linear layer: outputs = weight @ Phi + bias (before any softmax/sigmoid)."""

    phi: str  # name of its input tensor, Phi
    weight: np.ndarray  # (outputs, phi_dim)
    bias: np.ndarray  # (outputs,)
    activation: str  # op after it (Softmax, Sigmoid...) or "Identity"


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


def find_head(model: onnx.ModelProto) -> Head | None:
    """The final linear layer feeding the model's (first) output, through softmax/sigmoid/dropout."""
    g = Graph(model)
    name, activation = model.graph.output[0].name, "Identity"
    node = g.producer.get(name)
    while node is not None and node.op_type in OUTPUT_OPS:
        if node.op_type not in PASS_OPS:
            activation = node.op_type
        node = g.producer.get(node.input[0])
    if node is None:
        return None
    lin = linear(g, node)
    if lin is None:
        return None
    phi, w, b = lin
    return Head(phi=phi, weight=np.asarray(w, np.float64), bias=np.asarray(b, np.float64), activation=activation)


def tensor_names(model: onnx.ModelProto) -> list[str]:
    return [o for n in model.graph.node for o in n.output]


def cut(model: onnx.ModelProto, inputs: list[str], output: str, flatten: bool = False) -> onnx.ModelProto:
    """The subgraph from `inputs` to `output`, with a symbolic batch axis; `flatten` makes the output (N, -1)."""
    inferred = infer_shapes(model)
    sub = onnx.utils.Extractor(inferred).extract_model(inputs, [output])
    if flatten:
        flat = output + "/seqmaxent_flat"
        sub.graph.node.append(helper.make_node("Flatten", [output], [flat], axis=1))
        out = helper.make_tensor_value_info(flat, sub.graph.output[0].type.tensor_type.elem_type, None)
        del sub.graph.output[:]
        sub.graph.output.append(out)
    del sub.graph.value_info[:]
    for v in list(sub.graph.input) + list(sub.graph.output):
        shape = v.type.tensor_type.shape
        if len(shape.dim):
            shape.dim[0].Clear()
            shape.dim[0].dim_param = "batch"
    return sub


def rank(model: onnx.ModelProto, name: str) -> int | None:
    inferred = infer_shapes(model)
    for v in list(inferred.graph.value_info) + list(inferred.graph.output) + list(inferred.graph.input):
        if v.name == name and v.type.tensor_type.HasField("shape"):
            return len(v.type.tensor_type.shape.dim)
    return None
