"""The resident step: one Metropolis step of a batch of chains as one ONNX graph, so the chains'
state stays where ONNX Runtime runs the network (on the CUDA provider, in GPU memory) and only
random numbers, betas and each step's distances and accept flags cross to and from the host.

The step model reads the state x (B, L, 4) (one-hot, canonical layout) and d (B,), Phi of each
chain's input phi0 (B, P), the distance weights s (P,), the per-base weights w (4,) = mu times the
constrained bases, each chain's beta (B,), and the step's random draws: a position pos (B,), a
shift (B,) in 1..3 (the new base is the old one plus the shift, mod 4) and log u (B,). It applies
the mutation, computes Phi of the proposals, and accepts where log u < -beta (d' - d) + w[new] -
w[old], exactly the CPU sampler's rule. Phi comes from the whole network, or, where the core's
graph reaches Phi, from only the windows each change reaches (:mod:`seqmaxent.windows`); the
nodes it keeps are more state, filled by the init model when chains start. Every state tensor S
comes back as S_next, a ScatterND from S itself, so the core binds both to one buffer and the
step rewrites only the rows that changed. The codes model turns x into base codes (4 for an
all-zero N row), and the copy model moves a tensor between host and device memory.
"""

from __future__ import annotations

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from . import windows
from .graph import Builder, opset
from .incremental import Parts

PREFIX = "seqmaxent_step/"


def _model(graph: onnx.GraphProto, version: int, like: onnx.ModelProto | None = None) -> onnx.ModelProto:
    opsets = list(like.opset_import) if like is not None else [helper.make_opsetid("", version)]
    m = helper.make_model(graph, opset_imports=opsets)
    m.ir_version = like.ir_version if like is not None else 8
    return m


def step_model(phi_model: onnx.ModelProto, layout: str, parts: Parts | None = None, length: int = 0) -> onnx.ModelProto:
    """The step of B chains around a Phi model (one-hot input in `layout` -> Phi (B, P)): the
    whole network on every proposal, or, given the core's graph `parts` of sequences of `length`
    (without a tail), only the windows a change reaches (:mod:`seqmaxent.windows`), with each
    cached node's rows as state."""
    if opset(phi_model) < 13:
        raise ValueError("the resident path needs a model exported with opset 13 or newer")
    b = Builder(PREFIX)
    c = b.const
    pos11 = b("Unsqueeze", ["pos", c(np.array([1, 2]), "axes")], "pos11")  # (B, 1, 1)
    old_row = b("GatherND", ["x", pos11], "old_row", batch_dims=1)  # x[b, pos[b]], (B, 1, 4)
    old = b("ArgMax", [old_row], "old", axis=2, keepdims=0)  # (B, 1)
    new = b("Mod", [b("Add", [old, b("Unsqueeze", ["shift", c(np.array([1]), "axis")], "shift1")], "sum"),
                    c(np.array(4), "four")], "new")
    new_row = b("Cast", [b("Equal", [b("Unsqueeze", [new, c(np.array([2]), "axis")], "new11"), c(np.arange(4), "bases")],
                           "is_new")], "new_row", to=TensorProto.FLOAT)  # (B, 1, 4)
    batch = b("Range", [c(np.array(0), "zero"), b("Squeeze", [b("Shape", ["pos"], "b")], "n"), c(np.array(1), "one")],
              "batch")
    chain = b("Reshape", [batch, c(np.array([-1, 1, 1]), "chain_shape")], "chain")  # (B, 1, 1): each chain's index
    index = b("Concat", [chain, pos11], "index", axis=2)  # (B, 1, 2): the mutated row of x
    state = [("x", ["B", "L", 4]), ("d", ["B"])]
    if parts is None:
        proposal = b("ScatterND", ["x", index, new_row], "proposal")
        model_in = {"NLC": lambda: proposal, "NCL": lambda: b("Transpose", [proposal], "to_ncl", perm=[0, 2, 1]),
                    "N1LC": lambda: b("Unsqueeze", [proposal, c(np.array([1]), "axis")], "to_n1lc")}[layout]()
        source = phi_model.graph.input[0].name
        for n in phi_model.graph.node:
            copy = onnx.NodeProto()
            copy.CopyFrom(n)
            copy.input[:] = [model_in if i == source else i for i in n.input]
            b.nodes.append(copy)
        phi, writer = phi_model.graph.output[0].name, None
    else:
        writer = windows.Writer(b, parts, windows.plan(parts, length), "x", "pos", new_row, chain)
        phi = writer.phi()
        state += [(writer.cache[k], ["B", r.kept, parts.nodes[k].channels])
                  for k, r in enumerate(writer.rows) if k and r.cached]
    diff = b("Mul", [b("Sub", [phi, "phi0"], "dphi"), "s"], "scaled")
    d_new = b("Sqrt", [b("ReduceSum", [b("Mul", [diff, diff], "squares"), c(np.array([1]), "axis")], "sum_sq",
                         keepdims=0)], "d_new")
    new1, old1 = b("Squeeze", [new, c(np.array([1]), "axis")], "new1"), b("Squeeze", [old, c(np.array([1]), "axis")], "old1")
    dnc = b("Sub", [b("Gather", ["w", new1], "w_new"), b("Gather", ["w", old1], "w_old")], "dnc")
    log_ratio = b("Add", [b("Mul", [b("Neg", ["beta"], "minus_beta"), b("Sub", [d_new, "d"], "dd")], "bd"), dnc],
                  "log_ratio")
    accept = b.out("Less", ["logu", log_ratio], "accepted")
    accept11 = b("Unsqueeze", [accept, c(np.array([1, 2]), "axes")], "accept11")
    # every state tensor is rewritten by a ScatterND from itself, so it can be bound in place
    b.out("ScatterND", ["x", index, b("Where", [accept11, new_row, old_row], "x_row")], "x_next")
    chosen = b.out("Where", [accept, d_new, "d"], "d_copy")
    b.out("ScatterND", ["d", b("Unsqueeze", [batch, c(np.array([1]), "axis")], "batch1"), chosen], "d_next")
    for name, _ in state[2:]:
        writer.commit(int(name.split("/")[1]), accept11)
    f, i = TensorProto.FLOAT, TensorProto.INT64
    inputs = [helper.make_tensor_value_info(name, f, shape) for name, shape in state]
    inputs += [helper.make_tensor_value_info(name, kind, shape) for name, kind, shape in (
        ("phi0", f, ["B", "P"]), ("s", f, ["P"]), ("w", f, [4]), ("beta", f, ["B"]), ("pos", i, ["B"]),
        ("shift", i, ["B"]), ("logu", f, ["B"]))]
    outputs = [helper.make_tensor_value_info(name + "_next", f, shape) for name, shape in state]
    outputs += [helper.make_tensor_value_info("d_copy", f, ["B"]),
                helper.make_tensor_value_info("accepted", TensorProto.BOOL, ["B"])]
    inits = list(phi_model.graph.initializer) if parts is None else []
    graph = helper.make_graph(b.nodes, "seqmaxent_step", inputs, outputs, inits + b.initializers())
    model = _model(graph, 13, phi_model if parts is None else None)
    onnx.checker.check_model(model)
    return model


def init_model(parts: Parts, length: int) -> onnx.ModelProto:
    """x (B, L, 4) -> the rows of every node the incremental step caches (its state inputs), and
    Phi: the whole network, once, when chains start."""
    b = Builder("seqmaxent_init/")
    batch = b("Slice", [b("Shape", ["x"], "shape"), b.const(np.array([0]), "zero"), b.const(np.array([1]), "one")], "b")
    zeros = b("ConstantOfShape", [batch], "zeros",
              value=numpy_helper.from_array(np.array([0], np.int64)))
    rows = windows.plan(parts, length)
    writer = windows.Writer(b, parts, windows.whole(rows), "x", zeros, None)
    cached = [k for k, r in enumerate(rows) if k and r.cached]
    for k in cached:
        b.out("Identity", [writer.new[k]], windows.cache_name(k))
    b.out("Identity", [writer.phi()], "phi")
    f = TensorProto.FLOAT
    outputs = [helper.make_tensor_value_info(windows.cache_name(k), f, ["B", rows[k].kept, parts.nodes[k].channels])
               for k in cached] + [helper.make_tensor_value_info("phi", f, ["B", len(parts.phi_index)])]
    graph = helper.make_graph(b.nodes, "seqmaxent_init", [helper.make_tensor_value_info("x", f, ["B", length, 4])],
                              outputs, b.initializers())
    model = _model(graph, 13)
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
