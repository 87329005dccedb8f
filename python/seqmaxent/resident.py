"""The resident step: one Metropolis step of a batch of chains as one ONNX graph, so the chains'
state stays where ONNX Runtime runs the network (on the CUDA provider, in GPU memory) and only
random numbers, betas and each step's distances and accept flags cross to and from the host.

The step model reads the state x (B, L, 4) (one-hot, canonical layout) and d (B,), Phi of each
chain's input phi0 (B, P), the distance weights s (P,), the per-base weights w (4,) = mu times the
constrained bases, each chain's beta (B,), and the step's random draws: a position pos (B,), a
shift (B,) in 1..3 (the new base is the old one plus the shift, mod 4) and log u (B,). It applies
the mutation, runs the Phi network on the proposals, and accepts where log u < -beta (d' - d) +
w[new] - w[old], exactly the CPU sampler's rule. The codes model turns x into base codes (4 for an
all-zero N row), and the copy model moves a tensor between host and device memory.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from .graph import opset

PREFIX = "seqmaxent_step/"


def _model(graph: onnx.GraphProto, version: int, like: onnx.ModelProto | None = None) -> onnx.ModelProto:
    opsets = list(like.opset_import) if like is not None else [helper.make_opsetid("", version)]
    m = helper.make_model(graph, opset_imports=opsets)
    m.ir_version = like.ir_version if like is not None else 8
    return m


def step_model(phi_model: onnx.ModelProto, layout: str) -> onnx.ModelProto:
    """The step of B chains around a Phi model (one-hot input in `layout` -> Phi (B, P))."""
    if opset(phi_model) < 13:
        raise ValueError("the resident path needs a model exported with opset 13 or newer")
    p = PREFIX
    nodes: list[onnx.NodeProto] = []
    consts = {p + "four": np.array(4, np.int64), p + "one_axis": np.array([1], np.int64),
              p + "axes12": np.array([1, 2], np.int64), p + "flat": np.array([0, -1], np.int64)}

    def node(op: str, inputs: list[str], output: str, **attrs) -> str:
        nodes.append(helper.make_node(op, inputs, [p + output], name=p + output, **attrs))
        return p + output

    consts[p + "row_shape"] = np.array([1, 4], np.int64)
    pos1 = node("Unsqueeze", ["pos", p + "one_axis"], "pos1")  # (B, 1)
    shape = node("Concat", [node("Shape", ["pos"], "b"), p + "row_shape"], "b14", axis=0)
    index = node("Expand", [node("Unsqueeze", ["pos", p + "axes12"], "pos11"), shape], "index")  # (B, 1, 4) of pos
    row = node("GatherElements", ["x", index], "row", axis=1)  # x[b, pos[b], :], (B, 1, 4)
    node("Shape", ["x"], "x_shape")
    old = node("ArgMax", [row], "old", axis=2, keepdims=0)  # (B, 1)
    new = node("Mod", [node("Add", [old, node("Unsqueeze", ["shift", p + "one_axis"], "shift1")], "sum"), p + "four"],
               "new")
    base4 = node("Mul", [pos1, p + "four"], "base4")
    flat = node("Reshape", ["x", p + "flat"], "xflat")
    ones = node("ConstantOfShape", [node("Shape", [old], "one_shape")], "ones",
                value=numpy_helper.from_array(np.array([1.0], np.float32)))
    zeros = node("ConstantOfShape", [node("Shape", [old], "zero_shape")], "zeros",
                 value=numpy_helper.from_array(np.array([0.0], np.float32)))
    cleared = node("ScatterElements", [flat, node("Add", [base4, old], "i_old"), zeros], "cleared", axis=1)
    proposed = node("Reshape", [node("ScatterElements", [cleared, node("Add", [base4, new], "i_new"), ones], "set",
                                     axis=1), p + "x_shape"], "proposal")
    source = phi_model.graph.input[0].name
    model_in = {"NLC": lambda: proposed, "NCL": lambda: node("Transpose", [proposed], "to_ncl", perm=[0, 2, 1]),
                "N1LC": lambda: node("Unsqueeze", [proposed, p + "one_axis"], "to_n1lc")}[layout]()
    for n in phi_model.graph.node:
        copy = onnx.NodeProto()
        copy.CopyFrom(n)
        copy.input[:] = [model_in if i == source else i for i in n.input]
        nodes.append(copy)
    phi = phi_model.graph.output[0].name
    diff = node("Mul", [node("Sub", [phi, "phi0"], "dphi"), "s"], "scaled")
    d_new = node("Sqrt", [node("ReduceSum", [node("Mul", [diff, diff], "squares"), p + "one_axis"], "sum_sq",
                               keepdims=0)], "d_new")
    new1, old1 = node("Squeeze", [new, p + "one_axis"], "new1"), node("Squeeze", [old, p + "one_axis"], "old1")
    dnc = node("Sub", [node("Gather", ["w", new1], "w_new"), node("Gather", ["w", old1], "w_old")], "dnc")
    log_ratio = node("Add", [node("Mul", [node("Neg", ["beta"], "minus_beta"), node("Sub", [d_new, "d"], "dd")], "bd"),
                             dnc], "log_ratio")
    accept = node("Less", ["logu", log_ratio], "accept")
    nodes += [helper.make_node("Where", [node("Unsqueeze", [accept, p + "axes12"], "accept11"), proposed, "x"],
                               ["x_next"]),
              helper.make_node("Where", [accept, d_new, "d"], ["d_next"]),
              helper.make_node("Identity", ["d_next"], ["d_copy"]),
              helper.make_node("Identity", [accept], ["accepted"])]
    f, i = TensorProto.FLOAT, TensorProto.INT64
    inputs = [helper.make_tensor_value_info(name, kind, shape) for name, kind, shape in (
        ("x", f, ["B", "L", 4]), ("d", f, ["B"]), ("phi0", f, ["B", "P"]), ("s", f, ["P"]), ("w", f, [4]),
        ("beta", f, ["B"]), ("pos", i, ["B"]), ("shift", i, ["B"]), ("logu", f, ["B"]))]
    outputs = [helper.make_tensor_value_info("x_next", f, ["B", "L", 4]),
               helper.make_tensor_value_info("d_next", f, ["B"]), helper.make_tensor_value_info("d_copy", f, ["B"]),
               helper.make_tensor_value_info("accepted", TensorProto.BOOL, ["B"])]
    inits = list(phi_model.graph.initializer) + [numpy_helper.from_array(v, k) for k, v in consts.items()]
    graph = helper.make_graph(nodes, "seqmaxent_step", inputs, outputs, inits)
    model = _model(graph, 13, phi_model)
    onnx.checker.check_model(model)
    return model


def codes_model() -> onnx.ModelProto:
    """x (B, L, 4) one-hot -> base codes (B, L) uint8, 4 where a row is all zero (N)."""
    nodes = [helper.make_node("ArgMax", ["x"], ["code"], axis=2, keepdims=0),
             helper.make_node("ReduceMax", ["x"], ["present"], axes=[2], keepdims=0),
             helper.make_node("Greater", ["present", "half"], ["known"]),
             helper.make_node("Where", ["known", "code", "four"], ["chosen"]),
             helper.make_node("Cast", ["chosen"], ["codes"], to=TensorProto.UINT8)]
    graph = helper.make_graph(nodes, "seqmaxent_codes",
                              [helper.make_tensor_value_info("x", TensorProto.FLOAT, ["B", "L", 4])],
                              [helper.make_tensor_value_info("codes", TensorProto.UINT8, ["B", "L"])],
                              [numpy_helper.from_array(np.array(0.5, np.float32), "half"),
                               numpy_helper.from_array(np.array(4, np.int64), "four")])
    return _model(graph, 13)


def copy_model() -> onnx.ModelProto:
    """A float tensor of any shape, unchanged: run with its input and output bound in different
    memories, ONNX Runtime copies it across."""
    graph = helper.make_graph([helper.make_node("Identity", ["in"], ["out"])], "seqmaxent_copy",
                              [helper.make_tensor_value_info("in", TensorProto.FLOAT, None)],
                              [helper.make_tensor_value_info("out", TensorProto.FLOAT, None)])
    return _model(graph, 13)
