"""Small ONNX networks built op by op with onnx.helper (random weights, no PyTorch), for testing
the incremental path on any mix of convs, pools, sums, crops, transposes, dense layers and heads.

`Net` tracks each tensor's (channels, positions) so weights can be drawn; `network` builds the
chain-shaped networks of a list of layer specs, and the other functions build graphs.
"""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
from onnx import TensorProto, helper, numpy_helper

# A layer: (op, options). Ops: conv, maxpool, avgpool, gmaxpool, gavgpool, relu, sigmoid, tanh,
# leakyrelu, exp, softplus, softsign (which the core does not follow), batchnorm, mul, add.
Spec = tuple[str, dict]


class Net:
    """An ONNX graph under construction; tensors are names, with known per-sequence shapes."""

    def __init__(self, seed: int, length: int, layout: str = "NCL", opset: int = 17):
        self.rng = np.random.default_rng(seed)
        self.nodes: list[onnx.NodeProto] = []
        self.inits: list[onnx.TensorProto] = []
        self.count = 0
        self.layout, self.opset = layout, opset
        shape = {"NCL": [4, length], "NLC": [length, 4], "N1LC": [1, length, 4]}[layout]
        self.input = helper.make_tensor_value_info("x", TensorProto.FLOAT, ["N", *shape])
        self.shapes = {"x": tuple(shape)}

    def name(self, stem: str) -> str:
        self.count += 1
        return f"{stem}{self.count}"

    def const(self, value: np.ndarray, dtype=np.float32) -> str:
        name = self.name("c")
        self.inits.append(numpy_helper.from_array(np.asarray(value, dtype), name))
        return name

    def op(self, op: str, inputs: list[str], **attrs) -> str:
        out = self.name(op.lower())
        self.nodes.append(helper.make_node(op, inputs, [out], **attrs))
        self.shapes[out] = self._infer(out)
        return out

    def _infer(self, out: str) -> tuple[int, ...]:
        graph = helper.make_graph(self.nodes, "probe", [self.input],
                                  [helper.make_tensor_value_info(out, TensorProto.FLOAT, None)], self.inits)
        return tuple(run(model(graph, self.opset), np.zeros((1, *self.shapes["x"]), np.float32)).shape[1:])

    def channels(self, x: str) -> int:
        return self.shapes[x][0]

    # -- layers on (N, C, L) tensors -------------------------------------------------------
    def conv(self, x: str, out: int, width: int, stride: int = 1, dilation: int = 1, pads=(0, 0), same: bool = False,
             two_d: bool = False) -> str:
        c = self.channels(x)
        unit = (1,) if two_d else ()
        w = self.rng.normal(0, 1 / np.sqrt(c * width), (out, c, *unit, width))
        if same:
            pads = ((width - 1) * dilation // 2, (width - 1) * dilation - (width - 1) * dilation // 2)
        spatial = (lambda v, fill: [fill, v]) if two_d else (lambda v, fill: [v])
        return self.op("Conv", [x, self.const(w), self.const(self.rng.normal(0, 0.3, out))],
                       kernel_shape=spatial(width, 1), strides=spatial(stride, 1), dilations=spatial(dilation, 1),
                       pads=[0, pads[0], 0, pads[1]] if two_d else list(pads))

    def batchnorm(self, x: str) -> str:
        c = self.channels(x)
        params = [self.rng.uniform(0.5, 1.5, c), self.rng.normal(0, 0.3, c), self.rng.normal(0, 0.3, c),
                  self.rng.uniform(0.5, 2.0, c)]
        return self.op("BatchNormalization", [x, *map(self.const, params)], epsilon=1e-3)

    def act(self, x: str, op: str = "Relu") -> str:
        return self.op(op, [x], alpha=0.1) if op == "LeakyRelu" else self.op(op, [x])

    def crop(self, x: str, left: int, right: int, axis: int = 2) -> str:
        end = self.shapes[x][axis - 1] - right
        return self.op("Slice", [x, self.const([left], np.int64), self.const([end], np.int64), self.const([axis], np.int64)])

    def pad(self, x: str, left: int, right: int, axis: int = 2, value: float = 0.0) -> str:
        """An explicit Pad op (PyTorch's F.pad) of `left` and `right` entries along `axis`."""
        rank = len(self.shapes[x]) + 1
        amounts = [0] * (2 * rank)
        amounts[axis], amounts[rank + axis] = left, right
        return self.op("Pad", [x, self.const(amounts, np.int64), self.const(value)])

    def transpose(self, x: str, perm: list[int]) -> str:
        return self.op("Transpose", [x], perm=perm)

    def gemm(self, x: str, out: int) -> str:
        size = int(np.prod(self.shapes[x]))
        w = self.rng.normal(0, 1 / np.sqrt(size), (out, size))
        return self.op("Gemm", [x, self.const(w), self.const(self.rng.normal(0, 0.3, out))], transB=1)

    def matmul(self, x: str, out: int) -> str:
        c = self.shapes[x][-1]
        y = self.op("MatMul", [x, self.const(self.rng.normal(0, 1 / np.sqrt(c), (c, out)))])
        return self.op("Add", [y, self.const(self.rng.normal(0, 0.3, out))])

    def layer(self, x: str, op: str, o: dict, two_d: bool = False) -> str:
        """One layer of a `network` spec."""
        unit = (1,) if two_d else ()
        spatial = (lambda v, fill: [fill, v]) if two_d else (lambda v, fill: [v])
        pads = (lambda l, r: [0, l, 0, r]) if two_d else (lambda l, r: [l, r])
        channels = self.channels(x)
        if op == "conv":
            if "auto_pad" in o:
                w = self.rng.normal(0, 1 / np.sqrt(channels * o["width"]), (o["out"], channels, *unit, o["width"]))
                return self.op("Conv", [x, self.const(w), self.const(self.rng.normal(0, 0.3, o["out"]))],
                               kernel_shape=spatial(o["width"], 1), strides=spatial(o.get("stride", 1), 1),
                               auto_pad=o["auto_pad"])
            return self.conv(x, o["out"], o["width"], o.get("stride", 1), o.get("dilation", 1), o.get("pads", (0, 0)),
                             two_d=two_d)
        if op in ("maxpool", "avgpool"):
            attrs = dict(kernel_shape=spatial(o["width"], 1), strides=spatial(o.get("stride", o["width"]), 1),
                         pads=pads(*o.get("pads", (0, 0))))
            if op == "avgpool":
                attrs["count_include_pad"] = o.get("count_include_pad", 0)
            return self.op("MaxPool" if op == "maxpool" else "AveragePool", [x], **attrs)
        if op in ("gmaxpool", "gavgpool"):
            return self.op("GlobalMaxPool" if op == "gmaxpool" else "GlobalAveragePool", [x])
        if op == "batchnorm":
            return self.batchnorm(x)
        if op in ("mul", "add"):
            shape = (1, channels, *unit, 1)
            c = self.rng.uniform(0.5, 1.5, shape) if op == "mul" else self.rng.normal(0, 0.3, shape)
            return self.op(op.capitalize(), [x, self.const(c)])
        names = {"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "softplus": "Softplus",
                 "softsign": "Softsign", "leakyrelu": "LeakyRelu"}
        return self.act(x, names[op])

    def finish(self, *outputs: str) -> onnx.ModelProto:
        graph = helper.make_graph(self.nodes, "net", [self.input],
                                  [helper.make_tensor_value_info(o, TensorProto.FLOAT, ["N", *self.shapes[o]])
                                   for o in outputs], self.inits)
        m = model(graph, self.opset)
        onnx.checker.check_model(m)
        return m


def network(length: int, layers: list[Spec], hidden: int = 6, dense: int = 1, two_d: bool = False,
            seed: int = 0) -> onnx.ModelProto:
    """x (N, 4, L) -> layers -> Flatten -> `dense` x [Gemm(hidden) -> Relu] (the last is Phi) -> Gemm(2) -> y."""
    net = Net(seed, length)
    x = net.op("Unsqueeze", ["x", net.const([2], np.int64)]) if two_d else "x"
    for op, options in layers:
        x = net.layer(x, op, options, two_d)
    phi = net.op("Flatten", [x], axis=1)
    for _ in range(dense):
        phi = net.act(net.gemm(phi, hidden))
    return net.finish(net.gemm(phi, 2))


# -- graphs ----------------------------------------------------------------------------------
def residual(length: int, seed: int = 0) -> onnx.ModelProto:
    """A dilated residual tower (BPNet-like): conv, then x + relu(conv_dilated(x)) twice, global
    average pooling and a dense head."""
    net = Net(seed, length)
    x = net.act(net.conv("x", 8, 5, same=True))
    for d in (2, 4):
        x = net.op("Add", [x, net.act(net.conv(x, 8, 3, dilation=d, same=True))])
    pooled = net.op("Flatten", [net.op("GlobalAveragePool", [x])], axis=1)
    return net.finish(net.gemm(pooled, 2))


def cropped_residual(length: int, seed: int = 0) -> onnx.ModelProto:
    """Valid (unpadded) dilated convs whose residual branch is cropped to match (ChromBPNet-like),
    BatchNorm after the ReLU, and a flattened dense head."""
    net = Net(seed, length)
    x = net.act(net.conv("x", 8, 5))
    for d in (1, 2):
        y = net.batchnorm(net.act(net.conv(x, 8, 3, dilation=d)))
        x = net.op("Add", [net.crop(x, d, d), y])
    phi = net.act(net.gemm(net.op("Flatten", [x], axis=1), 6))
    return net.finish(net.gemm(phi, 2))


def spliceai_like(length: int, crop: int, seed: int = 0) -> onnx.ModelProto:
    """SpliceAI's layout in small: a 1x1 conv, pre-activation residual blocks (BatchNorm-ReLU-conv
    twice) with a skip sum of 1x1 convs after each group, a crop, a 1x1 conv head of 3 units and a
    softmax over units, transposed to (N, positions, 3)."""
    net = Net(seed, length)
    x = net.conv("x", 8, 1)
    skip = net.conv(x, 8, 1)
    for width, dilation in ((3, 1), (3, 2)):
        for _ in range(2):
            y = net.conv(net.act(net.batchnorm(x)), 8, width, dilation=dilation, same=True)
            y = net.conv(net.act(net.batchnorm(y)), 8, width, dilation=dilation, same=True)
            x = net.op("Add", [x, y])
        skip = net.op("Add", [skip, net.conv(x, 8, 1)])
    logits = net.conv(net.crop(skip, crop, crop), 3, 1)
    return net.finish(net.transpose(net.op("Softmax", [logits], axis=1), [0, 2, 1]))


def profile_and_counts(length: int, crop: int, seed: int = 0) -> onnx.ModelProto:
    """BPNet's two heads over a residual tower: a width-7 conv profile head cropped to the middle
    positions (2 tracks), and a counts head (mean over positions, then Gemm)."""
    net = Net(seed, length)
    x = net.act(net.conv("x", 8, 5, same=True))
    x = net.op("Add", [x, net.act(net.conv(x, 8, 3, dilation=2, same=True))])
    profile = net.crop(net.conv(x, 2, 7, same=True), crop, crop)
    mean = net.op("ReduceMean", [x], axes=[2], keepdims=0)
    return net.finish(profile, net.gemm(mean, 1))


def tiny_profile(length: int = 5, seed: int = 3) -> onnx.ModelProto:
    """Small enough to enumerate (4^5 sequences): a residual tower and a width-3 conv head of 2
    units at every position."""
    net = Net(seed, length)
    x = net.act(net.conv("x", 4, 3, same=True))
    x = net.op("Add", [x, net.act(net.conv(x, 4, 3, dilation=2, same=True))])
    return net.finish(net.conv(x, 2, 3, same=True))


def keras_channels_last(length: int, seed: int = 0) -> onnx.ModelProto:
    """A Keras (tf2onnx) style export: (N, L, 4) input, each Conv1D as a 2-D conv between
    Unsqueeze/Transpose and Transpose/Squeeze, channels-last tensors in between, a channels-last
    Flatten, two dense layers."""
    net = Net(seed, length, layout="NLC")
    x = "x"
    for out, width in ((8, 5), (8, 3)):
        four = net.transpose(net.op("Unsqueeze", [x, net.const([1], np.int64)]), [0, 3, 1, 2])  # (N, C, 1, L)
        y = net.conv(four, out, width, two_d=True)
        x = net.act(net.op("Squeeze", [net.transpose(y, [0, 2, 3, 1]), net.const([1], np.int64)]))  # (N, L, C)
    phi = net.act(net.gemm(net.act(net.gemm(net.op("Flatten", [x], axis=1), 6)), 5))
    return net.finish(net.op("Softmax", [net.gemm(phi, 2)], axis=1))


def padded(length: int, seed: int = 0) -> onnx.ModelProto:
    """Explicit zero Pad ops in front of convs, as PyTorch exports F.pad: 'same' for an even width
    (asymmetric), two Pads in a row before a dilated residual branch, a Pad of channels-last rows
    between two transposes added to a conv's own padding, and a Pad before a strided SAME_UPPER
    conv (whose padding depends on the padded length)."""
    net = Net(seed, length)
    x = net.act(net.conv(net.pad("x", 1, 2), 8, 4))
    x = net.op("Add", [x, net.act(net.conv(net.pad(net.pad(x, 2, 0), 1, 3), 8, 4, dilation=2))])
    rows = net.pad(net.transpose(x, [0, 2, 1]), 0, 1, axis=1)
    x = net.op("Add", [x, net.act(net.conv(net.transpose(rows, [0, 2, 1]), 8, 3, pads=(1, 0)))])
    x = net.layer(net.pad(x, 1, 0), "conv", dict(out=8, width=3, stride=2, auto_pad="SAME_UPPER"))
    return net.finish(net.gemm(net.op("Flatten", [x], axis=1), 2))


def padded_tail(length: int, seed: int = 0) -> onnx.ModelProto:
    """A Pad with a nonzero value, which the core does not follow: the tail starts there."""
    net = Net(seed, length)
    x = net.act(net.conv("x", 8, 5, same=True))
    x = net.conv(net.pad(x, 1, 1, value=0.5), 8, 3)
    return net.finish(net.gemm(net.op("Flatten", [x], axis=1), 2))


def gelu(net: Net, x: str, form: str = "torchscript") -> str:
    """Exact GELU as PyTorch's exporters write it: x * (1 + erf(x / sqrt 2)) * 0.5 (TorchScript), or
    x * (0.5 * (1 + erf(x / sqrt 2))) (dynamo); or the Gelu op of opset 20 (form "op")."""
    if form == "op":
        return net.op("Gelu", [x])
    gate = net.op("Add", [net.op("Erf", [net.op("Div", [x, net.const(np.float32(2**0.5))])]), net.const(np.float32(1))])
    if form == "torchscript":
        return net.op("Mul", [net.op("Mul", [x, gate]), net.const(np.float32(0.5))])
    return net.op("Mul", [x, net.op("Mul", [net.const(np.float32(0.5)), gate])])


def activations(length: int, seed: int = 0) -> onnx.ModelProto:
    """Newer networks' activations as exporters write them: GELU in both exporters' forms, the
    second on a BatchNorm of the residual stream (Basenji's pre-activation blocks); SiLU as
    x * sigmoid(x), Enformer's GELU as x * sigmoid(1.702 x), Mish as x * tanh(softplus(x)), and
    Elu (given alpha and ONNX's default), Softplus and Erf ops."""
    net = Net(seed, length)
    x = gelu(net, net.conv("x", 8, 5, same=True))
    x = net.op("Add", [x, net.conv(gelu(net, net.batchnorm(x), "dynamo"), 8, 3, dilation=2, same=True)])
    y = net.conv(x, 8, 3, same=True)
    x = net.op("Add", [x, net.op("Mul", [y, net.op("Sigmoid", [y])])])
    y = net.conv(x, 8, 3, same=True)
    x = net.op("Add", [x, net.op("Mul", [y, net.op("Tanh", [net.act(y, "Softplus")])])])
    y = net.conv(x, 8, 3, same=True)
    x = net.op("Add", [x, net.op("Mul", [y, net.op("Sigmoid", [net.op("Mul", [y, net.const(np.float32(1.702))])])])])
    x = net.act(net.op("Elu", [net.op("Elu", [net.conv(x, 8, 3, same=True)], alpha=0.7)]), "Softplus")  # alpha 1
    x = net.act(net.conv(x, 8, 3, same=True), "Erf")
    return net.finish(net.gemm(net.op("Flatten", [net.op("GlobalAveragePool", [x])], axis=1), 2))


def per_position_matmul(length: int, seed: int = 0) -> onnx.ModelProto:
    """A head applied at every position as MatMul + Add over the channels of a (N, L, C) tensor."""
    net = Net(seed, length)
    x = net.act(net.conv("x", 8, 3, same=True))
    x = net.op("Add", [x, net.act(net.conv(x, 8, 3, same=True))])
    return net.finish(net.op("Sigmoid", [net.matmul(net.transpose(x, [0, 2, 1]), 2)]))


def residual_tail(length: int, seed: int = 0) -> onnx.ModelProto:
    """A residual tower with a Softsign the core does not follow after it: the tail."""
    net = Net(seed, length)
    x = net.act(net.conv("x", 8, 5, same=True))
    x = net.op("Add", [x, net.act(net.conv(x, 8, 3, dilation=2, same=True))])
    x = net.conv(net.act(x, "Softsign"), 8, 3)
    return net.finish(net.gemm(net.op("Flatten", [x], axis=1), 2))


def model(graph: onnx.GraphProto, opset: int = 17) -> onnx.ModelProto:
    m = helper.make_model(graph, opset_imports=[helper.make_opsetid("", opset)])
    m.ir_version = 8 if opset <= 17 else 9
    return m


def run(m: onnx.ModelProto, x: np.ndarray) -> np.ndarray:
    session = ort.InferenceSession(m.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(None, {"x": x})[0]
