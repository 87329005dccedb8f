"""Phi of a batch of chains with one base changed in each, from only the rows that change can
reach: the core's graph (:mod:`seqmaxent.network.incremental`: convs, pools, sums, dense layers) written as
ONNX ops on windows of fixed width, so the resident step (:mod:`seqmaxent.network.resident`) runs it on
any provider, the GPU's included.

Each node keeps the rows Phi needs (its backward cone). A node where one base changes fewer rows
than it keeps is *cached*: its rows live in a state tensor (B, rows, channels), and a step
recomputes only a window of `width` rows that starts at a row given by the mutated position
alone (a table per node). A consumer reads its producer's proposed rows from the window where the
window covers them and from the cache elsewhere. Other nodes (dense layers, global pools, nodes
that every change covers) are recomputed whole. All chains share each window's width, so every
node is one batched op over the block, and accepted windows are written back into the caches in
place (ScatterND onto a tensor bound as both input and output). A step may evaluate several
proposals per chain (:class:`Slots`: heat-bath's 3 other bases), all reading the chain's caches.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from ..formatting import si
from .graph import Builder
from .incremental import Edge, Parts, Step

_EMPTY = 1 << 40  # an empty interval of rows is [_EMPTY, -_EMPTY]


@dataclass(frozen=True)
class Rows:
    """What a step computes of one node: it keeps rows [base, base + kept), and a change at
    position p recomputes rows [start[p], start[p] + width)."""

    base: int
    kept: int
    width: int
    start: np.ndarray  # (L,) int64

    @property
    def cached(self) -> bool:
        return self.width < self.kept


def _ceil_div(a: np.ndarray, b: int) -> np.ndarray:
    return -((-a) // b)


def _needed(parts: Parts) -> list[tuple[int, int]]:
    """Per node, the first and last of its rows that Phi depends on (node 0: the input positions)."""
    nodes, out = parts.nodes, parts.output
    need: list[tuple[int, int] | None] = [None] * len(nodes)
    rows = out.offset + np.asarray(parts.phi_index) // nodes[out.node].channels
    need[out.node] = (int(rows.min()), int(rows.max()))
    for k in range(len(nodes) - 1, 0, -1):
        node = nodes[k]
        if need[k] is None:
            continue
        a, b = need[k]
        for e in node.inputs:
            if node.kind == "dense":
                lo, hi = 0, e.length - 1
            elif node.kind == "add":
                lo, hi = a, b
            else:
                lo, hi = a * node.stride - node.pad_left, b * node.stride - node.pad_left + node.dilation * (node.width - 1)
            lo, hi = max(lo, 0) + e.offset, min(hi, e.length - 1) + e.offset
            if lo <= hi:
                old = need[e.node]
                need[e.node] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
    return [n if n is not None else (0, 0) for n in need]


def reads(parts: Parts) -> tuple[int, int]:
    """The first and last input position (0-based) that Phi can depend on: the backward cone of the
    explained outputs through every layer (a strided dilated conv may skip some positions inside)."""
    return _needed(parts)[0]


def plan(parts: Parts, length: int) -> list[Rows]:
    """The rows a step computes of each node (node 0, the input, changes one row)."""
    nodes, need = parts.nodes, _needed(parts)
    p = np.arange(length, dtype=np.int64)
    lo, hi = [p], [p]
    rows = [Rows(0, length, 1, p)]
    for node, (base, last) in zip(nodes[1:], need[1:]):
        a_all, b_all = np.full(length, _EMPTY), np.full(length, -_EMPTY)
        for e in node.inputs:
            a = np.maximum(lo[e.node] - e.offset, 0)
            b = np.minimum(hi[e.node] - e.offset, e.length - 1)
            if node.kind == "dense":
                a, b = np.where(a <= b, 0, _EMPTY), np.where(a <= b, 0, -_EMPTY)
            elif node.kind != "add":
                a = _ceil_div(a + node.pad_left - node.dilation * (node.width - 1), node.stride)
                b = (b + node.pad_left) // node.stride
            a_all, b_all = np.minimum(a_all, a), np.maximum(b_all, b)
        a_all, b_all = np.maximum(a_all, base), np.minimum(b_all, last)
        lo.append(a_all)
        hi.append(b_all)
        kept = last - base + 1
        changed = a_all <= b_all
        width = int((b_all - a_all + 1)[changed].max()) if changed.any() else 1
        if width >= kept:
            rows.append(Rows(base, kept, kept, np.full(length, base, np.int64)))
        else:
            rows.append(Rows(base, kept, width, np.where(changed, np.clip(a_all, base, last + 1 - width), base)))
    return rows


def whole(rows: list[Rows]) -> list[Rows]:
    """The same nodes computed whole, as the pass that fills the caches does."""
    return [Rows(r.base, r.kept, r.kept, np.full_like(r.start, r.base)) for r in rows]


def flops(parts: Parts, rows: list[Rows]) -> int:
    """Multiply-adds times 2 that one step computes per chain (convs and dense layers)."""
    total = 0
    for node, r in zip(parts.nodes[1:], rows[1:]):
        if node.kind in ("conv", "dense"):
            total += 2 * r.width * node.weight.size
    return total


def describe(parts: Parts, rows: list[Rows]) -> str:
    """What the incremental step computes, in words."""
    cached = sum(r.cached for r in rows[1:])
    return (f"incremental: {cached} of {len(rows) - 1} nodes kept and updated in windows; {si(flops(parts, rows))} FLOPs "
            f"per proposal, against {si(flops(parts, whole(rows)))} for the whole network")


def cache_floats(parts: Parts, rows: list[Rows], slots: int = 1) -> int:
    """Floats one chain needs: its caches, and per proposal it evaluates (`slots`) what a step
    computes (its windows and their inputs, a copy of a cache where a consumer reads all its rows)."""
    return sum((r.kept * n.channels if r.cached else 0) + slots * ((r.kept * n.channels if r.cached else 0) + 3 * r.width * n.channels)
               for n, r in zip(parts.nodes, rows))


@dataclass(frozen=True)
class Slots:
    """The proposals a step evaluates (slots) and the chains they belong to: one slot per chain
    for Metropolis, 3 for heat-bath (each alternative base). Tensors of the step graph, int64:
    `pos` (S,) each slot's mutated position, `chain` (S, 1, 1) its chain and `slot` (S, 1, 1) its
    own index; `chain_pos` (B,) and `chains` (B, 1, 1) the same per chain."""

    pos: str
    chain: str
    slot: str
    chain_pos: str
    chains: str

    @property
    def shared(self) -> bool:
        return self.pos == self.chain_pos


class Writer:
    """Writes one evaluation of `parts` into a graph: each node's new rows from its producers'.

    `x` is the chains' one-hot state (B, L, 4) and `new_row` (S, 1, 4) each slot's proposed base,
    one-hot, at its position (`slots`). With rows from :func:`whole`, nothing is mutated: pass the
    input as `x`, no `new_row` and slots whose positions are zeros."""

    def __init__(self, b: Builder, parts: Parts, rows: list[Rows], x: str, slots: Slots, new_row: str | None):
        self.b, self.parts, self.rows, self.slots = b, parts, rows, slots
        self.cache: dict[int, str] = {0: x} if new_row is not None else {}
        self.new: dict[int, str] = {0: new_row if new_row is not None else x}
        self._at: dict[tuple[str, str], str] = {}
        self._window: dict[int, str] = {}
        self._span: dict[tuple[str, int, str], str] = {}
        self._valid: dict[tuple[str, int, int], str] = {}
        self._slot_chain: str | None = None
        for k, r in enumerate(rows[1:], 1):
            if r.cached:
                self.cache[k] = cache_name(k)
            self.new[k] = self._node(k)

    def at(self, table: np.ndarray, name: str, where: str | None = None) -> str:
        """Entry pos of a per-position table (L,) for every slot (or chain, where = chain_pos), as
        a column: (S, 1)."""
        t, where = self.b.const(table, name), where or self.slots.pos
        if (t, where) not in self._at:
            tag = f"{t[len(self.b.prefix):]}_at{len(self._at)}"
            self._at[t, where] = self.b("Unsqueeze", [self.b("Gather", [t, where], tag, axis=0), self.b.const(np.array([1]))],
                                        tag + "_col")
        return self._at[t, where]

    def span(self, origin: np.ndarray, n: int, where: str | None = None) -> str:
        """Rows origin[pos] + 0..n-1 of every slot (or chain): (S, n) int64."""
        where = where or self.slots.pos
        key = (self.b.const(origin, "origin"), n, where)
        if key not in self._span:
            self._span[key] = self.b("Add", [self.at(origin, "origin", where), self.b.const(np.arange(n), "iota")],
                                     f"span{len(self._span)}")
        return self._span[key]

    def pairs(self, index: str, rows: str, tag: str) -> str:
        """GatherND/ScatterND indices (n_index, n, 2) of (index, row) pairs; `index` (n_index, 1, 1)."""
        local = self.b("Unsqueeze", [rows, self.b.const(np.array([2]))], tag + "_prows")
        return self.b("Concat", [self.b("Expand", [index, self.b("Shape", [local], tag + "_pshape")], tag + "_pof"), local],
                      tag + "_pairs", axis=2)

    def to_slots(self, t: str, tag: str) -> str:
        """A per-chain tensor (B, ...) repeated for each of its slots: (S, ...)."""
        if self.slots.shared:
            return t
        if self._slot_chain is None:
            self._slot_chain = self.b("Reshape", [self.slots.chain, self.b.const(np.array([-1]))], "windows_slot_chain")
        return self.b("Gather", [t, self._slot_chain], tag + "_slots", axis=0)

    def read(self, j: int, rows: str | np.ndarray, tag: str) -> str:
        """Proposed rows of node j (absolute, within its kept rows), a (S, n) tensor or the same n
        rows for every slot: (S, n, channels)."""
        r, b, c = self.rows[j], self.b, self.b.const
        fixed = isinstance(rows, np.ndarray)
        if fixed:
            local = rows - r.base
            every = np.array_equal(local, np.arange(r.kept))
            if every and r.cached:  # the cache with the window written in
                return b("ScatterND", [self.to_slots(self.cache[j], tag), self.window(j), self.new[j]], tag + "_all")
            if every:
                return self.new[j]
            if not r.cached:
                return b("Gather", [self.new[j], c(local, "rows")], tag + "_rows", axis=1)
            old = self.to_slots(b("Gather", [self.cache[j], c(local, "rows")], tag + "_rows", axis=1), tag)
        else:
            local = b("Sub", [rows, c(np.int64(r.base))], tag + "_local")
            if not r.cached or self.slots.shared:  # a tensor with one entry per slot
                source = self.cache[j] if r.cached else self.new[j]
                old = b("GatherND", [source, b("Unsqueeze", [local, c(np.array([2]))], tag + "_index")], tag + "_rows",
                        batch_dims=1)
                if not r.cached:
                    return old
            else:
                old = b("GatherND", [self.cache[j], self.pairs(self.slots.chain, local, tag)], tag + "_rows")
        rel = b("Sub", [c(rows[None], "rows") if fixed else rows, self.at(r.start, "start")], tag + "_rel")
        inside = b("And", [b("GreaterOrEqual", [rel, c(np.int64(0))], tag + "_ge"), b("Less", [rel, c(np.int64(r.width))], tag + "_lt")],
                   tag + "_inside")
        clipped = b("Min", [b("Max", [rel, c(np.int64(0))], tag + "_max"), c(np.int64(r.width - 1))], tag + "_clip")
        new = b("GatherND", [self.new[j], b("Unsqueeze", [clipped, c(np.array([2]))], tag + "_at")], tag + "_new", batch_dims=1)
        return b("Where", [b("Unsqueeze", [inside, c(np.array([2]))], tag + "_in"), new, old], tag + "_read")

    def window(self, k: int) -> str:
        """The rows node k's window writes in each slot, as ScatterND indices (S, width, 2): (slot, row)."""
        if k not in self._window:
            r = self.rows[k]
            self._window[k] = self.pairs(self.slots.slot, self.span(r.start - r.base, r.width), f"w{k}")
        return self._window[k]

    def valid(self, e: Edge, origin: np.ndarray, n: int, tag: str) -> str | None:
        """Whether rows origin[pos] + 0..n-1 of edge e lie in it, (B or 1, n, 1); None if always."""
        b, c = self.b, self.b.const
        if origin.min() >= 0 and origin.max() + n <= e.length:
            return None
        if (origin == origin[0]).all():
            rows = origin[0] + np.arange(n)
            return c(((rows >= 0) & (rows < e.length))[None, :, None], "valid")
        key = (c(origin, "origin"), n, e.length)
        if key not in self._valid:
            rows = self.span(origin, n)
            inside = b("And", [b("GreaterOrEqual", [rows, c(np.int64(0))], tag + "_vge"),
                               b("Less", [rows, c(np.int64(e.length))], tag + "_vlt")], tag + "_valid")
            self._valid[key] = b("Unsqueeze", [inside, c(np.array([2]))], tag + "_mask")
        return self._valid[key]

    def edge(self, e: Edge, origin: np.ndarray, n: int, tag: str, fill: float = 0.0) -> str:
        """Rows origin[pos] + 0..n-1 of edge e (edge coordinates; rows outside [0, length) are
        padding of value fill), through its steps: (B, n, channels)."""
        b, c = self.b, self.b.const
        if (origin == origin[0]).all():
            rows = np.clip(origin[0] + np.arange(n), 0, e.length - 1) + e.offset
        else:
            rows = b("Add", [b("Min", [b("Max", [self.span(origin, n), c(np.int64(0))], tag + "_lo"), c(np.int64(e.length - 1))],
                               tag + "_hi"), c(np.int64(e.offset))], tag + "_abs")
        t = self.steps(self.read(e.node, rows, tag), e.steps, tag)
        valid = self.valid(e, origin, n, tag)
        return t if valid is None else b("Where", [valid, t, c(np.float32(fill), "fill")], tag + "_pad")

    def steps(self, t: str, steps: tuple[Step, ...], tag: str) -> str:
        b = self.b
        for i, s in enumerate(steps):
            name = f"{tag}_s{i}"
            if s.kind == "affine":
                t = b("Add", [b("Mul", [t, b.const(s.scale, "scale")], name + "m"), b.const(s.shift, "shift")], name)
            elif s.kind in ("leaky_relu", "elu"):
                t = b("LeakyRelu" if s.kind == "leaky_relu" else "Elu", [t], name, alpha=s.alpha)
            elif s.kind == "silu":
                gate = t if s.alpha == 1 else b("Mul", [t, b.const(np.float32(s.alpha), "beta")], name + "b")
                t = b("Mul", [t, b("Sigmoid", [gate], name + "g")], name)
            elif s.kind == "mish":
                t = b("Mul", [t, b("Tanh", [b("Softplus", [t], name + "p")], name + "g")], name)
            elif s.kind == "gelu":
                erf = b("Erf", [b("Mul", [t, b.const(np.float32(0.5**0.5), "rsqrt2")], name + "d")], name + "e")
                t = b("Mul", [b("Mul", [t, b.const(np.float32(0.5), "half")], name + "h"),
                              b("Add", [erf, b.const(np.float32(1), "one")], name + "g")], name)
            else:
                t = b({"relu": "Relu", "sigmoid": "Sigmoid", "tanh": "Tanh", "exp": "Exp", "softplus": "Softplus",
                       "erf": "Erf"}[s.kind], [t], name)
        return t

    def _node(self, k: int) -> str:
        node, r, b, c, tag = self.parts.nodes[k], self.rows[k], self.b, self.b.const, f"n{k}"
        if node.kind == "add":
            terms = [self.edge(e, r.start, r.width, f"{tag}_e{i}") for i, e in enumerate(node.inputs)]
            return terms[0] if len(terms) == 1 else b("Sum", terms, tag)
        (e,) = node.inputs
        if node.kind == "dense":
            t = self.edge(e, np.zeros(1, np.int64), e.length, tag)
            t = b("Reshape", [t, c(np.array([0, -1]), "flat")], tag + "_flat")
            t = b("Add", [b("MatMul", [t, c(node.weight.T.copy(), "w")], tag + "_mm"), c(node.bias, "b")], tag + "_b")
            return b("Unsqueeze", [t, c(np.array([1]))], tag)
        n = (r.width - 1) * node.stride + node.dilation * (node.width - 1) + 1
        origin = r.start * node.stride - node.pad_left
        fill = -np.inf if node.kind == "max_pool" else 0.0
        t = b("Transpose", [self.edge(e, origin, n, tag, fill)], tag + "_ncl", perm=[0, 2, 1])
        window = dict(kernel_shape=[node.width], strides=[node.stride])
        if node.kind == "conv":
            return b("Transpose", [b("Conv", [t, c(node.weight, "w"), c(node.bias, "b")], tag + "_conv", dilations=[node.dilation],
                                     **window)], tag, perm=[0, 2, 1])
        if node.kind == "max_pool":
            return b("Transpose", [b("MaxPool", [t], tag + "_pool", **window)], tag, perm=[0, 2, 1])
        t = b("AveragePool", [t], tag + "_pool", **window)
        valid = self.valid(e, origin, n, tag)
        if valid is not None and not node.count_include_pad:  # divide by the taps inside, not by the width
            share = b("Cast", [b("Transpose", [valid], tag + "_taps", perm=[0, 2, 1])], tag + "_share", to=1)
            t = b("Div", [t, b("AveragePool", [share], tag + "_share_avg", **window)], tag + "_avg")
        return b("Transpose", [t], tag, perm=[0, 2, 1])

    def phi(self) -> str:
        """Phi (B, P) of the proposals."""
        out, C = self.parts.output, self.parts.nodes[self.parts.output.node].channels
        index = np.asarray(self.parts.phi_index)
        used = np.unique(index // C)
        t = self.steps(self.read(out.node, out.offset + used, "phi"), out.steps, "phi")
        t = self.b("Reshape", [t, self.b.const(np.array([0, -1]), "flat")], "phi_flat")
        columns = np.searchsorted(used, index // C) * C + index % C
        return self.b("Gather", [t, self.b.const(columns, "units")], "phi", axis=1)

    def commit(self, k: int, choose: Callable[[str, str, str], str]) -> str:
        """Node k's cache with each chain's chosen window written in (graph output <cache>_next):
        choose(old, new, tag) picks it from the chain's old window (B, width, C) and its slots'
        new ones (S, width, C)."""
        r, b, s, tag = self.rows[k], self.b, self.slots, f"c{k}"
        rows = self.span(r.start - r.base, r.width, s.chain_pos)
        index = self.pairs(s.chains, rows, tag)
        old = b("GatherND", [self.cache[k], index], tag + "_old")
        return b.out("ScatterND", [self.cache[k], index, choose(old, self.new[k], tag)], self.cache[k] + "_next")


def cache_name(k: int) -> str:
    return f"cache/{k}"
