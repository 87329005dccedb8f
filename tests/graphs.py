"""Small ONNX networks built layer by layer with onnx.helper (random weights, no PyTorch), for
testing the incremental path on any mix of convs, pools and elementwise ops."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

# A layer: (op, options). Ops: conv, maxpool, avgpool, gmaxpool, gavgpool, relu, sigmoid, tanh,
# leakyrelu, exp, softplus, batchnorm, mul, add.
Spec = tuple[str, dict]


class _Builder:
    def __init__(self, seed: int, two_d: bool):
        self.rng = np.random.default_rng(seed)
        self.two_d = two_d
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, value: np.ndarray) -> str:
        name = self.name("w")
        self.inits.append(numpy_helper.from_array(np.asarray(value, np.float32), name))
        return name

    def const_int(self, value: list[int]) -> str:
        name = self.name("axes")
        self.inits.append(numpy_helper.from_array(np.asarray(value, np.int64), name))
        return name

    def node(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        return out

    def spatial(self, values: list[int], fill: int) -> list[int]:
        """Per-axis attribute over positions, with the unit axis first in 2-D."""
        return [fill, *values] if self.two_d else values

    def pads(self, left: int, right: int) -> list[int]:
        return [0, left, 0, right] if self.two_d else [left, right]

    def layer(self, x: str, channels: int, op: str, o: dict) -> tuple[str, int]:
        unit = (1,) if self.two_d else ()
        per_channel = (1, channels, *unit, 1)
        if op == "conv":
            out, width = o["out"], o["width"]
            w = self.rng.normal(0, 1 / np.sqrt(channels * width), (out, channels, *unit, width))
            attrs = dict(kernel_shape=self.spatial([width], 1), strides=self.spatial([o.get("stride", 1)], 1),
                         dilations=self.spatial([o.get("dilation", 1)], 1))
            if "auto_pad" in o:
                attrs["auto_pad"] = o["auto_pad"]
            else:
                attrs["pads"] = self.pads(*o.get("pads", (0, 0)))
            return self.node("Conv", [x, self.const(w), self.const(self.rng.normal(0, 0.3, out))], **attrs), out
        if op in ("maxpool", "avgpool"):
            attrs = dict(kernel_shape=self.spatial([o["width"]], 1), strides=self.spatial([o.get("stride", o["width"])], 1),
                         pads=self.pads(*o.get("pads", (0, 0))))
            if op == "avgpool":
                attrs["count_include_pad"] = o.get("count_include_pad", 0)
            return self.node("MaxPool" if op == "maxpool" else "AveragePool", [x], **attrs), channels
        if op in ("gmaxpool", "gavgpool"):
            return self.node("GlobalMaxPool" if op == "gmaxpool" else "GlobalAveragePool", [x]), channels
        if op == "batchnorm":
            params = [self.rng.uniform(0.5, 1.5, channels), self.rng.normal(0, 0.3, channels),
                      self.rng.normal(0, 0.3, channels), self.rng.uniform(0.5, 2.0, channels)]
            return self.node("BatchNormalization", [x, *map(self.const, params)], epsilon=1e-3), channels
        if op in ("mul", "add"):
            c = self.const(self.rng.uniform(0.5, 1.5, per_channel) if op == "mul" else self.rng.normal(0, 0.3, per_channel))
            return self.node(op.capitalize(), [x, c]), channels
        if op == "leakyrelu":
            return self.node("LeakyRelu", [x], alpha=0.1), channels
        names = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "softplus": "Softplus"}
        return self.node(names[op], [x]), channels


def network(length: int, layers: list[Spec], hidden: int = 6, dense: int = 1, two_d: bool = False,
            seed: int = 0) -> onnx.ModelProto:
    """x (N, 4, L) -> layers -> Flatten -> `dense` x [Gemm(hidden) -> Relu] (the last is Phi) -> Gemm(2) -> y."""
    b = _Builder(seed, two_d)
    x = b.node("Unsqueeze", ["x", b.const_int([2])]) if two_d else "x"
    channels = 4
    for op, options in layers:
        x, channels = b.layer(x, channels, op, options)
    flat = b.node("Flatten", [x], axis=1)
    body = helper.make_graph(b.nodes, "body", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, length])],
                             [helper.make_tensor_value_info(flat, TensorProto.FLOAT, None)], b.inits)
    size = _run(_model(body), np.zeros((1, 4, length), np.float32)).shape[1]
    phi = flat
    for _ in range(dense):
        w = b.rng.normal(0, 1 / np.sqrt(size), (hidden, size))
        phi = b.node("Relu", [b.node("Gemm", [phi, b.const(w), b.const(b.rng.normal(0, 0.3, hidden))], transB=1)])
        size = hidden
    y = b.node("Gemm", [phi, b.const(b.rng.normal(0, 1, (2, hidden))), b.const(np.zeros(2))], transB=1)
    graph = helper.make_graph(b.nodes, "net", [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", 4, length])],
                              [helper.make_tensor_value_info(y, TensorProto.FLOAT, ["N", 2])], b.inits)
    model = _model(graph)
    onnx.checker.check_model(model)
    return model


def _model(graph: onnx.GraphProto) -> onnx.ModelProto:
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    return model


def _run(model: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]
