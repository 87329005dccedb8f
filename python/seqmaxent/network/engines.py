"""The core's view of a :class:`~seqmaxent.network.model.Model`: the graph it follows for an input
length and output positions (:mod:`seqmaxent.network.incremental`), the plans it runs (with the
resident path's step graphs, :mod:`seqmaxent.network.resident`), and engines checked against ONNX
Runtime before use. A Model owns one :class:`Engines`, which caches each of these."""

from __future__ import annotations

import warnings

import numpy as np

from .. import _core
from . import layouts, runtime, windows
from ..errors import ModelError
from .heads import Positions
from .incremental import Edge, Node, Parts, Step, extract


class Engines:
    """Plans and engines of one model, cached by length, positions and path."""

    def __init__(self, model):  # a seqmaxent.network.model.Model
        self.model = model
        self._plans: dict[tuple, _core.Plan] = {}
        self._parts: dict[tuple, Parts | None] = {}
        self._engines: dict[tuple, _core.Engine] = {}

    def graph(self, length: int, positions: Positions = None) -> Parts | None:
        """The core's graph of the Phi model at `positions` (None where it follows no layer)."""
        where = self.model.positions(positions)
        if (length, where) not in self._parts:
            self._parts[length, where] = extract(self.model._phi_model(where), self.model.layout, length)
        return self._parts[length, where]

    def windowed(self, length: int, positions: Positions = None) -> Parts | None:
        """The graph the resident step evaluates in windows: one that reaches Phi (no tail) and keeps
        some node's rows between steps (a dense layer on the input keeps none: the whole network's step)."""
        parts = self.graph(length, positions)
        if parts is None or parts.tail or not any(r.cached for r in windows.plan(parts, length)[1:]):
            return None
        return parts

    def reads(self, length: int, positions: Positions = None) -> tuple[int, int] | None:
        """The input positions (1-based, first and last) Phi can depend on; None where the core does
        not follow the network up to Phi."""
        parts = self.graph(length, positions)
        if parts is None or parts.tail:
            return None
        first, last = windows.reads(parts)
        return first + 1, last + 1

    def plan(self, length: int, positions: Positions = None, resident: bool = False, incremental: bool = True) -> _core.Plan:
        """The core's description of the network for sequences of `length` bases (with the models of
        the resident path, :mod:`seqmaxent.network.resident`, if asked: its step evaluates only the
        windows a change reaches, :mod:`seqmaxent.network.windows`, where the core's graph reaches Phi
        and `incremental`)."""
        m, where = self.model, self.model.positions(positions)
        key = (length, where, resident, resident and incremental)
        if key not in self._plans:
            phi_model, phi_dim, parts = m._phi_model(where), m._phi_size(where), self.graph(length, positions)
            pos, base = layouts.strides(m.layout, length)
            common = dict(length=length, phi_dim=phi_dim, input_shape=list(layouts.item_shape(m.layout, length)),
                          position_stride=pos, base_stride=base, phi_model=phi_model.SerializeToString())
            if parts is not None:
                common.update(nodes=[_core_node(n) for n in parts.nodes], output=_core_edge(parts.output),
                              phi_index=parts.phi_index, tail_model=parts.tail, tail_index=parts.tail_index,
                              tail_shape=list(parts.tail_shape))
            if resident:
                windowed = self.windowed(length, positions) if incremental else None
                common.update(self._resident(phi_model, windowed, length, phi_dim))
            self._plans[key] = _core.Plan(**common)
        return self._plans[key]

    def _resident(self, phi_model, parts: Parts | None, length: int, phi_dim: int) -> dict:
        """The resident path's models and its memory per chain (bytes, enough for heat-bath steps,
        which evaluate 3 proposals per chain)."""
        from . import resident as step

        layout = self.model.layout
        try:
            models = dict(codes_model=step.codes_model().SerializeToString(), copy_model=step.copy_model().SerializeToString(),
                          **{f"{name}_model": step.step_model(phi_model, layout, parts, length, moves).SerializeToString()
                             for name, moves in (("step", "metropolis"), ("heat_bath", "heat-bath"))})
        except ValueError as e:
            raise ModelError(f"{self.model.path}: {e}") from None
        state = 2 * (4 * length + phi_dim)
        if parts is None:
            shapes = self.model._shapes.values()
            return dict(models, resident_chain_bytes=4 * (state + 3 * sum(int(np.prod(s)) for s in shapes)))
        rows = windows.plan(parts, length)
        return dict(models, init_model=step.init_model(parts, length).SerializeToString(),
                    step_path=windows.describe(parts, rows), resident_chain_bytes=4 * (state + windows.cache_floats(parts, rows, slots=3)))

    def engine(self, length: int, provider: str, threads: int, incremental: bool, positions: Positions = None,
               resident: bool = False) -> _core.Engine:
        """A cached core engine (ONNX Runtime sessions, one per thread) for sequences of `length`."""
        key = (length, provider, threads, incremental, self.model.positions(positions), resident)
        if key not in self._engines:
            runtime.ensure_loaded()
            engine = _core.Engine(self.plan(length, positions, resident, incremental), provider, threads, incremental,
                                  resident)
            if engine.incremental:
                engine = self._checked(engine, length, provider, threads, positions)
            self._engines[key] = engine
        return self._engines[key]

    def _checked(self, engine: _core.Engine, length: int, provider: str, threads: int,
                 positions: Positions) -> _core.Engine:
        """The incremental engine if it reproduces ONNX Runtime's Phi; else the full path, with a warning."""
        codes = np.random.default_rng(0).integers(0, 4, (8, length), dtype=np.uint8)
        expected = self.model.phi(codes, positions)
        got = engine.phi(codes)
        if not np.isfinite(expected).all():  # nothing to compare; :func:`seqmaxent.sample` names the inputs
            return engine
        tol = 1e-4 * max(1.0, float(np.abs(expected).max()))
        if np.abs(got - expected).max() <= tol:
            return engine
        warnings.warn(
            f"{self.model.path}: the incremental path does not reproduce ONNX Runtime's Phi "
            f"(max difference {np.abs(got - expected).max():.3g}); using full evaluation",
            RuntimeWarning, stacklevel=4,
        )
        return _core.Engine(self.plan(length, positions), provider, threads, False)


def _core_step(step: Step) -> _core.Step:
    return _core.Step(step.kind, step.alpha, step.scale, step.shift)


def _core_edge(e: Edge) -> _core.Edge:
    return _core.Edge(e.node, e.offset, e.length, [_core_step(s) for s in e.steps])


def _core_node(n: Node) -> _core.Node:
    return _core.Node(n.kind, [_core_edge(e) for e in n.inputs], n.channels, n.length, n.width, n.stride, n.dilation,
                      n.pad_left, n.count_include_pad, n.weight, n.bias, n.label)
