"""The resident step: one Metropolis step of a batch of chains as one ONNX graph, so the chains'
state stays where ONNX Runtime runs the network (on the CUDA provider, in GPU memory) and only
random numbers, betas and each step's distances and accept flags cross to and from the host.

The step model reads the state x (B, L, 4) (one-hot, canonical layout) and d (B,), Phi of each
chain's input phi0 (B, P), the distance weights s (P,), the per-base weights w (4,) = mu times the
constrained bases, each chain's beta (B,), and the step's random draws: a position pos (B,), a
shift (B,) in 1..3 (the new base is the old one plus the shift, mod 4) and log u (B,). It applies
the mutation, computes Phi of the proposals, and accepts where log u < -beta (d' - d) + w[new] -
w[old], exactly the CPU sampler's rule. The heat-bath step draws pos and a uniform u (B,) instead,
evaluates the 3 other bases at pos as 3 proposals per chain, and keeps one of the 4 bases as the
CPU sampler picks it. Phi comes from the whole network, or, where the core's
graph reaches Phi, from only the windows each change reaches (:mod:`seqmaxent.network.windows`); the
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


def step_model(phi_model: onnx.ModelProto, layout: str, parts: Parts | None = None, length: int = 0,
               moves: str = "metropolis") -> onnx.ModelProto:
    """The step of B chains around a Phi model (one-hot input in `layout` -> Phi (B, P)): the
    whole network on every proposal, or, given the core's graph `parts` of sequences of `length`
    (without a tail), only the windows a change reaches (:mod:`seqmaxent.network.windows`), with each
    cached node's rows as state. `moves`: "metropolis" (draws shift and logu) or "heat-bath" (the
    3 other bases at pos all evaluated, one of the 4 drawn with a uniform u as the CPU sampler does)."""
    if opset(phi_model) < 13:
        raise ValueError("the resident path needs a model exported with opset 13 or newer")
    b = Builder(PREFIX)
    c = b.const
    heat = moves == "heat-bath"
    pos11 = b("Unsqueeze", ["pos", c(np.array([1, 2]), "axes")], "pos11")  # (B, 1, 1)
    old_row = b("GatherND", ["x", pos11], "old_row", batch_dims=1)  # x[b, pos[b]], (B, 1, 4)
    old = b("ArgMax", [old_row], "old", axis=2, keepdims=0)  # (B, 1)
    batch = b("Range", [c(np.array(0), "zero"), b("Squeeze", [b("Shape", ["pos"], "b")], "n"), c(np.array(1), "one")],
              "batch")
    chains = b("Reshape", [batch, c(np.array([-1, 1, 1]), "chain_shape")], "chains")  # (B, 1, 1): each chain's index
    index = b("Concat", [chains, pos11], "index", axis=2)  # (B, 1, 2): the mutated row of x
    slots, new = _proposals(b, heat, old, batch, chains)
    new_row = _one_hot(b, new, "new")  # (S, 1, 4)
    of_chain = b("Reshape", [slots.chain, c(np.array([-1]))], "slot_chain") if heat else None  # (S,): each slot's chain
    state = [("x", ["B", "L", 4]), ("d", ["B"])]
    if parts is None:
        x = b("Gather", ["x", of_chain], "x_slots", axis=0) if heat else "x"
        proposal = b("ScatterND", [x, b("Concat", [slots.slot, b("Unsqueeze", [slots.pos, c(np.array([1, 2]))], "slot_pos")],
                                        "slot_index", axis=2), new_row], "proposal")
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
        writer = windows.Writer(b, parts, windows.plan(parts, length), "x", slots, new_row)
        phi = writer.phi()
        state += [(writer.cache[k], ["B", r.kept, parts.nodes[k].channels])
                  for k, r in enumerate(writer.rows) if k and r.cached]
    phi0 = b("Gather", ["phi0", of_chain], "phi0_slots", axis=0) if heat else "phi0"
    diff = b("Mul", [b("Sub", [phi, phi0], "dphi"), "s"], "scaled")
    d_new = b("Sqrt", [b("ReduceSum", [b("Mul", [diff, diff], "squares"), c(np.array([1]), "axis")], "sum_sq",
                         keepdims=0)], "d_new")  # (S,)
    w_new = b("Gather", ["w", b("Squeeze", [new, c(np.array([1]))], "new1")], "w_new")
    w_old = b("Gather", ["w", b("Squeeze", [old, c(np.array([1]))], "old1")], "w_old")
    if heat:
        choice, chosen = _heat_bath(b, d_new, w_new, w_old, opset(phi_model) if parts is None else 14)
        accept = b.out("Greater", [choice, c(np.int64(0))], "accepted")
        x_row = _one_hot(b, b("Mod", [b("Add", [old, b("Unsqueeze", [choice, c(np.array([1]))], "choice1")], "chosen_base"),
                                      c(np.array(4), "four")], "kept_base"), "kept")

        def choose(old_window: str, new_windows: str, tag: str) -> str:  # of old, alternative 1, 2, 3
            shape = b("Concat", [b("Shape", ["pos"], tag + "_b"), c(np.array([3]), "three"),
                                 b("Slice", [b("Shape", [new_windows], tag + "_ws"), c(np.array([1])), c(np.array([3]))],
                                   tag + "_wc")], tag + "_shape3", axis=0)
            four = b("Concat", [b("Unsqueeze", [old_window, c(np.array([1]))], tag + "_o"),
                                b("Reshape", [new_windows, shape], tag + "_n")], tag + "_four", axis=1)
            return b("GatherND", [four, b("Unsqueeze", [choice, c(np.array([1]))], tag + "_c")], tag + "_chosen", batch_dims=1)
    else:
        log_ratio = b("Add", [b("Mul", [b("Neg", ["beta"], "minus_beta"), b("Sub", [d_new, "d"], "dd")], "bd"),
                              b("Sub", [w_new, w_old], "dnc")], "log_ratio")
        accept = b.out("Less", ["logu", log_ratio], "accepted")
        chosen = b.out("Where", [accept, d_new, "d"], "d_copy")
        accept11 = b("Unsqueeze", [accept, c(np.array([1, 2]), "axes")], "accept11")
        x_row = b("Where", [accept11, new_row, old_row], "x_row")

        def choose(old_window: str, new_window: str, tag: str) -> str:
            return b("Where", [accept11, new_window, old_window], tag + "_chosen")
    # every state tensor is rewritten by a ScatterND from itself, so it can be bound in place
    b.out("ScatterND", ["x", index, x_row], "x_next")
    b.out("ScatterND", ["d", b("Unsqueeze", [batch, c(np.array([1]), "axis")], "batch1"), chosen], "d_next")
    for name, _ in state[2:]:
        writer.commit(int(name.split("/")[1]), choose)
    f, i = TensorProto.FLOAT, TensorProto.INT64
    draws = [("u", f, ["B"])] if heat else [("shift", i, ["B"]), ("logu", f, ["B"])]
    inputs = [helper.make_tensor_value_info(name, f, shape) for name, shape in state]
    inputs += [helper.make_tensor_value_info(name, kind, shape) for name, kind, shape in (
        ("phi0", f, ["B", "P"]), ("s", f, ["P"]), ("w", f, [4]), ("beta", f, ["B"]), ("pos", i, ["B"]), *draws)]
    outputs = [helper.make_tensor_value_info(name + "_next", f, shape) for name, shape in state]
    outputs += [helper.make_tensor_value_info("d_copy", f, ["B"]),
                helper.make_tensor_value_info("accepted", TensorProto.BOOL, ["B"])]
    inits = list(phi_model.graph.initializer) if parts is None else []
    graph = helper.make_graph(b.nodes, "seqmaxent_step", inputs, outputs, inits + b.initializers())
    model = _model(graph, 14, phi_model if parts is None else None)
    onnx.checker.check_model(model)
    return model


def _one_hot(b: Builder, base: str, tag: str) -> str:
    """Bases (n, 1) as one-hot rows (n, 1, 4)."""
    c = b.const
    return b("Cast", [b("Equal", [b("Unsqueeze", [base, c(np.array([2]))], tag + "11"), c(np.arange(4), "bases")], tag + "_is")],
             tag + "_row", to=TensorProto.FLOAT)


def _proposals(b: Builder, heat: bool, old: str, batch: str, chains: str) -> tuple[windows.Slots, str]:
    """The proposals of a step (slots) and the base each proposes (S, 1): base old + shift for
    Metropolis; for heat-bath, slot 3 i + k - 1 of chain i proposes base old + k, k = 1..3."""
    c = b.const
    if not heat:
        new = b("Mod", [b("Add", [old, b("Unsqueeze", ["shift", c(np.array([1]))], "shift1")], "sum"), c(np.array(4), "four")],
                "new")
        return windows.Slots("pos", chains, chains, "pos", chains), new
    triple = b("Concat", [b("Shape", ["pos"], "b3"), c(np.array([3]), "three")], "triple", axis=0)

    def thrice(t: str, tag: str) -> str:  # (B,) -> (3B,): each entry 3 times
        return b("Reshape", [b("Expand", [b("Unsqueeze", [t, c(np.array([1]))], tag + "_1"), triple], tag + "_3"),
                             c(np.array([-1]))], tag + "_slots")

    slot_pos, slot_chain = thrice("pos", "pos"), thrice(batch, "chain")
    shift = b("Reshape", [b("Expand", [c(np.array([[1, 2, 3]]), "shifts"), triple], "shift3"), c(np.array([-1, 1]))], "shift")
    new = b("Mod", [b("Add", [b("Gather", [old, slot_chain], "old_slots", axis=0), shift], "sum"), c(np.array(4), "four")], "new")
    slot = b("Range", [c(np.array(0)), b("Squeeze", [b("Shape", [slot_pos], "s")], "ns"), c(np.array(1))], "slot")
    column = c(np.array([-1, 1, 1]))
    return windows.Slots(slot_pos, b("Reshape", [slot_chain, column], "slot_chain3"), b("Reshape", [slot, column], "slots"),
                         "pos", chains), new


def _heat_bath(b: Builder, d_new: str, w_new: str, w_old: str, version: int) -> tuple[str, str]:
    """Which of a chain's 4 bases it keeps (0: its own, k: old + k) and its distance, (B,) each:
    base k with probability proportional to exp(-beta d_k + w_k), found as the CPU sampler finds
    it: the number of cumulative weights that u times their total reaches."""
    c = b.const
    d4 = b("Concat", [b("Unsqueeze", ["d", c(np.array([1]))], "d1"), b("Reshape", [d_new, c(np.array([-1, 3]))], "d3")],
           "d4", axis=1)
    w4 = b("Concat", [b("Unsqueeze", [w_old, c(np.array([1]))], "w1"), b("Reshape", [w_new, c(np.array([-1, 3]))], "w3")],
           "w4", axis=1)
    logw = b("Add", [b("Mul", [b("Neg", [b("Unsqueeze", ["beta", c(np.array([1]))], "beta1")], "minus_beta"), d4], "bd4"), w4],
             "logw")
    top = (b("ReduceMax", [logw, c(np.array([1]))], "top", keepdims=1) if version >= 18
           else b("ReduceMax", [logw], "top", axes=[1], keepdims=1))
    weights = b("Exp", [b("Sub", [logw, top], "shifted")], "weights")
    cumulative = b("CumSum", [weights, c(np.int64(1), "axis1")], "cumulative")
    total = b("Slice", [cumulative, c(np.array([3])), c(np.array([4])), c(np.array([1]))], "total")
    target = b("Mul", [b("Unsqueeze", ["u", c(np.array([1]))], "u1"), total], "target")
    below = b("Slice", [cumulative, c(np.array([0])), c(np.array([3])), c(np.array([1]))], "below")
    passed = b("Cast", [b("GreaterOrEqual", [target, below], "passed_bool")], "passed", to=TensorProto.FLOAT)
    choice = b("Cast", [b("ReduceSum", [passed, c(np.array([1]))], "count", keepdims=0)], "choice", to=TensorProto.INT64)
    chosen = b.out("Squeeze", [b("GatherElements", [d4, b("Unsqueeze", [choice, c(np.array([1]))], "choice_1")], "d_kept",
                                 axis=1), c(np.array([1]))], "d_copy")
    return choice, chosen


def init_model(parts: Parts, length: int) -> onnx.ModelProto:
    """x (B, L, 4) -> the rows of every node the incremental step caches (its state inputs), and
    Phi: the whole network, once, when chains start."""
    b = Builder("seqmaxent_init/")
    batch = b("Slice", [b("Shape", ["x"], "shape"), b.const(np.array([0]), "zero"), b.const(np.array([1]), "one")], "b")
    zeros = b("ConstantOfShape", [batch], "zeros",
              value=numpy_helper.from_array(np.array([0], np.int64)))
    rows = windows.plan(parts, length)
    chains = b("Reshape", [b("Range", [b.const(np.array(0)), b("Squeeze", [batch], "n"), b.const(np.array(1))], "batch"),
                           b.const(np.array([-1, 1, 1]))], "chains")
    writer = windows.Writer(b, parts, windows.whole(rows), "x", windows.Slots(zeros, chains, chains, zeros, chains), None)
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
