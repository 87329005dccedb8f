"""A trained network exported to ONNX, seen as one-hot DNA -> Phi -> the explained output.

Phi is what the head (the final linear map of the chosen output, :mod:`seqmaxent.network.heads`) reads
to produce the chosen units at the chosen output positions, and s its weights for them, so that
``s . Phi + b`` is the selected logit (or, for a pair of units, log-odds). For a vector head
(Gemm/MatMul on a vector) Phi is that vector; for a head applied at every position it is, for
each chosen position, the window of rows the map reads there (stacked over positions).
"""

from __future__ import annotations

import hashlib
import numbers
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import onnx
from onnx import helper

from .. import _core
from ..io import bundled
from . import graph, heads, layouts, runtime, windows
from ..errors import ModelError
from .engines import Engines
from .heads import Positions, Units
from ..io.sequences import DEFAULT_ALPHABET, check_alphabet, onehot



@dataclass(frozen=True)
class ModelInfo:
    """What seqmaxent sees in a model; returned by :func:`inspect`."""

    path: str
    input_name: str
    layout: str
    length: int | None
    alphabet: str
    head: str
    outputs: dict[str, str]  # every graph output: its shape and what was found for it
    phi: str
    phi_dim: int | None  # None where it depends on the chosen positions
    units: int | None  # units of the head (None if Phi was named by hand off it)
    output_activation: str | None
    positions: int | None  # output positions of a per-position head
    evaluation: str  # which path the sampler takes
    gpu: str  # what a step of the resident path (provider="cuda") computes
    nodes: list[dict]  # how the core evaluates each node
    kernels: str  # the instruction-set level of the core's kernels
    reads: tuple[int, int] | None = None  # input positions (1-based, first and last) that Phi depends on

    def __str__(self) -> str:
        length = self.length if self.length is not None else "any (fully convolutional)"
        if self.units is None:
            explained = "unknown: Phi was named off the final linear map; d is unweighted"
        else:
            explained = f"{self.units} unit{'s' * (self.units != 1)} ({self.output_activation})"
            if self.positions:
                explained += f" at each of {self.positions} output positions (choose with positions=, 1-based)"
        phi = f"{self.phi_dim} units" if self.phi_dim else "its rows at the chosen positions"
        lines = [
            f"model       {self.path}",
            f"input       {self.input_name!r}, layout {self.layout} {layouts.LAYOUTS[self.layout]}, alphabet {self.alphabet}",
            f"length      {length}",
            "outputs     " + "\n            ".join(f"{k}: {v}" for k, v in self.outputs.items()),
            f"explained   {self.head!r}: {explained}",
            f"Phi         {self.phi!r}, {phi}",
            *([f"reads       input positions {self.reads[0]}-{self.reads[1]} (1-based) of {length}: the rest cannot "
               f"change Phi, and --region {self.reads[0]}-{self.reads[1]} samples only these"]
              if self.reads and self.length and self.reads != (1, self.length) else []),
            f"evaluation  {self.evaluation}",
            f"on a GPU    {self.gpu}",
            f"kernels     {self.kernels}",
        ]
        if self.nodes:
            lines.append("nodes       " + "\n            ".join(
                f"{n['kind']:<12} {n['how']:<32} rows kept {n['rows_kept']:>6,} of {n['length']:>6,}, "
                f"one change moves <= {n['window']:,}  {n['label']}" for n in self.nodes))
        return "\n".join(lines)


class Model:
    """An ONNX network whose input is one-hot DNA.

    Parameters
    ----------
    path : ONNX file, or the name of a bundled model (``"ctcf"``).
    layout : "NLC" (N, L, 4), "NCL" (N, 4, L) or "N1LC" (N, 1, L, 4); detected from the input shape if None.
    alphabet : order of the bases in the one-hot channels ("ACGT"; the paper's data used "GCAT").
    head : name of the graph output to explain (default: the first output).
    phi : name of a tensor to use as Phi instead of the head's input (d is then unweighted).
    class_names : a name per unit of the head, in output order (default: the model's
        ``class_names`` metadata, comma-separated, if it has one).
    """

    def __init__(self, path: str | Path, layout: str | None = None, alphabet: str = DEFAULT_ALPHABET,
                 phi: str | None = None, head: str | None = None, class_names: list[str] | None = None):
        self.path = bundled.resolve(path)
        proto = graph.load(self.path)
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.alphabet = check_alphabet(alphabet)
        source = graph.graph_input(proto, str(self.path))
        self.input_name = source.name
        self.layout, self.length = layouts.detect(graph.dims(source), layout, str(self.path))
        self._proto = proto
        names = [o.name for o in proto.graph.output]
        self.head_name = names[0] if head is None else head
        if self.head_name not in names:
            raise ModelError(f"{self.path}: no output named {head!r} (outputs: {', '.join(map(repr, names))})")
        g = graph.Graph(proto)
        x = layouts.to_model(np.zeros((1, self._default_length(), 4), np.float32), self.layout)
        try:
            self._shapes, ints = graph.tensor_shapes(proto, x)
            g.add_values(ints)
        except Exception as e:
            raise ModelError(f"{self.path}: ONNX Runtime could not run the model on one sequence of length "
                             f"{self._default_length()}: {e}") from None
        self.heads = {name: heads.find(g, name, self._shapes) for name in names}
        found = self.heads[self.head_name]
        if phi is None:
            if isinstance(found, str):
                raise ModelError(
                    f"{self.path}: output {self.head_name!r}: {found}; name the penultimate tensor with phi=... "
                    f"(tensors: {', '.join(graph.tensor_names(proto)[-8:])})"
                )
            phi = found.phi
        elif phi not in graph.tensor_names(proto) and phi != self.input_name:
            raise ModelError(f"{self.path}: no tensor named {phi!r} (tensors: {', '.join(graph.tensor_names(proto))})")
        self.phi_name = phi
        self.head = found if isinstance(found, heads.Head) and found.phi == phi else None
        if self.head is not None and self.head.per_position and self.length is None:
            raise ModelError(f"{self.path}: a head applied at every position needs a fixed input length; "
                             f"export the model with a fixed length")
        meta = {p.key: p.value for p in proto.metadata_props}
        if class_names is None and "class_names" in meta:
            class_names = [c.strip() for c in meta["class_names"].split(",")]
        self.class_names = list(class_names) if class_names is not None else None
        if self.class_names is not None and self.head is not None and len(self.class_names) != self.head.n_units:
            raise ValueError(f"{len(self.class_names)} class names for the {self.head.n_units} units of "
                             f"{self.head_name!r}: {self.class_names}")
        self._full_model = graph.cut(proto, [self.input_name], self.head_name)
        self._phi_models: dict[tuple, onnx.ModelProto] = {}
        self._phi_sizes: dict[tuple, int] = {}
        self._sessions: dict[object, object] = {}
        self._engines = Engines(self)
        self.predict(np.zeros((2, self._default_length()), np.uint8))  # a batch of 2 runs, or a clear error

    # -- what the model is ---------------------------------------------------------------
    @property
    def n_outputs(self) -> int | None:
        """Units of the explained head (None if Phi was named off it)."""
        return None if self.head is None else self.head.n_units

    @property
    def n_positions(self) -> int | None:
        """Output positions of a per-position head (None for a vector head)."""
        return self.head.n_positions if self.head is not None and self.head.per_position else None

    @property
    def phi_dim(self) -> int:
        """Size of Phi (for a per-position head with one output position; else see :meth:`phi_size`)."""
        return self.phi_size()

    def phi_size(self, positions: Positions = None) -> int:
        """Size of Phi for the chosen output positions (1-based)."""
        return self._phi_size(self.positions(positions))

    def _phi_size(self, where: tuple[int, ...] | None) -> int:
        if where not in self._phi_sizes:
            self._phi_sizes[where] = int(self._run(("phi", where), np.zeros((1, self._default_length()), np.uint8)).size)
        return self._phi_sizes[where]

    def info(self, positions: Positions = None) -> ModelInfo:
        """What seqmaxent sees in the model; `positions` (1-based) choose where a per-position head
        is explained, which decides the evaluation path."""
        length = self.length or self._default_length()
        try:
            engine = self.engine(length, "cpu", 1, True, positions)
            evaluation, nodes = engine.path, engine.nodes
            parts = self._engines.windowed(length, positions)
            gpu = "resident, " + (windows.describe(parts, windows.plan(parts, length)) if parts
                                  else "the whole network per step")
        except ValueError as e:  # positions must be chosen first
            evaluation, nodes = f"decided once positions are chosen (--positions; {e})", []
            gpu = "decided once positions are chosen"
        outputs = {}
        for name, found in self.heads.items():
            shape = "(N, " + ", ".join(map(str, self._shapes.get(name, ()))) + ")"
            outputs[name] = f"{shape} " + (found.describe() if isinstance(found, heads.Head) else f"no head: {found}")
        per_position = self.n_positions is not None
        return ModelInfo(
            path=str(self.path), input_name=self.input_name, layout=self.layout, length=self.length,
            alphabet=self.alphabet, head=self.head_name, outputs=outputs, phi=self.phi_name,
            phi_dim=self.phi_size(positions) if positions is not None or not per_position or self.n_positions == 1
            else None,
            units=self.n_outputs, output_activation=None if self.head is None else self.head.activation,
            positions=self.n_positions if per_position else None, evaluation=evaluation, gpu=gpu, nodes=nodes,
            kernels=runtime.kernels(), reads=self.reads(positions) if nodes else None,
        )

    def __repr__(self) -> str:
        return f"<seqmaxent.Model\n{self.info()}\n>"

    def units(self, units: Units = None) -> tuple[int, ...] | None:
        """The head unit(s) d is weighted by: (k,) or (k1, k2); defaults (0,) or (1, 0) for one or two units."""
        if self.head is None:
            if units is not None:
                raise ModelError(f"{self.path}: units need the final linear map, but Phi {self.phi_name!r} is not its input")
            return None
        n = self.head.n_units
        if units is None:
            if n == 1:
                return (0,)
            if n == 2 and (not self.head.per_position or self.head.softmax_over == "units"):  # log-odds
                return (1, 0)
            raise ValueError(f"output {self.head_name!r} has {n} units: choose units=k or units=(k1, k2) (0..{n - 1})")
        units = (units,) if isinstance(units, (int, np.integer)) else tuple(units)
        if len(units) not in (1, 2) or any(not isinstance(u, (int, np.integer)) for u in units):
            raise ValueError(f"units must be an output index k or a pair (k1, k2), not {units!r}")
        bad = [u for u in units if not 0 <= u < n]
        if bad:
            raise ValueError(f"output unit {bad[0]} is out of range: {self.head_name!r} has {n} units (0..{n - 1})")
        return tuple(int(u) for u in units)

    def positions(self, positions: Positions = None) -> tuple[int, ...] | None:
        """The chosen output positions as 0-based indices (from 1-based ones); None for a vector head."""
        n = self.n_positions
        if n is None:
            if positions is not None:
                raise ValueError(f"output {self.head_name!r} has no positions (a vector head); leave positions unset")
            return None
        if positions is None:
            if n == 1:
                return (0,)
            raise ValueError(f"output {self.head_name!r} gives {n} output positions: choose positions=p, [p, ...] "
                             f"or a range (1-based, 1..{n})")
        chosen = [positions] if isinstance(positions, numbers.Integral) else list(positions)
        if not chosen or any(not isinstance(p, numbers.Integral) for p in chosen):
            raise ValueError(f"positions must be 1-based output positions (an int, a list or a range), not {positions!r}")
        bad = [p for p in chosen if not 1 <= p <= n]
        if bad:
            raise ValueError(f"output position {bad[0]} is out of range: {self.head_name!r} has positions 1..{n} (1-based)")
        if len(set(chosen)) != len(chosen):
            raise ValueError(f"positions repeat: {positions!r}")
        return tuple(int(p) - 1 for p in chosen)

    def scale(self, units: Units = None, positions: Positions = None) -> np.ndarray:
        """s: W[k] for one unit k, W[k1] - W[k2] for a pair, over Phi (per chosen position, each tap's
        channels); all ones when Phi was named off the head."""
        chosen, where = self.units(units), self.positions(positions)
        if chosen is None:
            return np.ones(self.phi_size(), np.float32)
        unit = self.head.units
        w = self.head.weight[unit[chosen[0]]]
        if len(chosen) == 2:
            w = w - self.head.weight[unit[chosen[1]]]
        if where is None:
            return np.asarray(w[:, 0], np.float32)
        return np.concatenate([w[:, t] for p in where for _, t in self.head.window(p)]).astype(np.float32)

    # -- evaluation with onnxruntime's Python API (reference values, outputs for x0) -------
    def _phi_model(self, where: tuple[int, ...] | None) -> onnx.ModelProto:
        """One-hot batch -> Phi (n, phi_dim) as ONNX: the head's input cut out of the graph, for a
        per-position head its rows at the chosen positions gathered and flattened."""
        if where not in self._phi_models:
            proto, phi = self._proto, self.phi_name
            cut = graph.cut(proto, [self.input_name], phi)
            shape = self._shapes.get(phi)
            if where is not None:
                rows = np.asarray([r for p in where for r, _ in self.head.window(p)], np.int64)
                ap, ac = self.head.phi_axes
                rest = [a for a in range(len(shape)) if a not in (ap, ac)]
                nodes = [helper.make_node("Gather", [phi, "seqmaxent_rows"], ["seqmaxent_window"], axis=ap + 1),
                         helper.make_node("Transpose", ["seqmaxent_window"], ["seqmaxent_ordered"],
                                          perm=[0, ap + 1, ac + 1, *[a + 1 for a in rest]]),
                         helper.make_node("Flatten", ["seqmaxent_ordered"], ["seqmaxent_phi"], axis=1)]
                cut = graph.append(cut, nodes, "seqmaxent_phi", {"seqmaxent_rows": rows})
            elif shape is not None and len(shape) != 1:
                cut = graph.append(cut, [helper.make_node("Flatten", [phi], ["seqmaxent_phi"], axis=1)], "seqmaxent_phi")
            self._phi_models[where] = cut
        return self._phi_models[where]

    def _session(self, key):
        if key not in self._sessions:
            model = self._full_model if key == "full" else self._phi_model(key[1])
            self._sessions[key] = graph.session(model)
        return self._sessions[key]

    def _run(self, key, codes: np.ndarray) -> np.ndarray:
        x = layouts.to_model(onehot(np.atleast_2d(codes)), self.layout)
        try:
            return self._session(key).run(None, {self.input_name: x})[0]
        except Exception as e:
            raise ModelError(
                f"{self.path}: ONNX Runtime could not run the model on a batch of {len(x)} sequences of length "
                f"{x.shape[2] if self.layout == 'NCL' else x.shape[-2]} (was it exported with a fixed batch size? "
                f"export with a dynamic batch axis): {e}"
            ) from None

    def phi(self, codes: np.ndarray, positions: Positions = None) -> np.ndarray:
        """Phi (n, phi_dim) of base codes (n, L), by onnxruntime's Python API."""
        return self._run(("phi", self.positions(positions)), codes).reshape(len(np.atleast_2d(codes)), -1)

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """The explained output for base codes (n, L), flattened to (n, -1)."""
        out = self._run("full", codes)
        return out.reshape(len(out), -1)

    def predict_at(self, codes: np.ndarray, positions: Positions = None) -> np.ndarray:
        """The explained output at the chosen positions (1-based), as (n, positions, units); one
        position for a vector head."""
        where = self.positions(positions) or (0,)
        return self.predict_units(codes)[:, :, list(where)].transpose(0, 2, 1)

    def predict_units(self, codes: np.ndarray) -> np.ndarray:
        """The explained output for base codes (n, L) as (n, units, positions): one position for a
        vector head; units in the order of the output (what ``units=k`` counts)."""
        out = self._run("full", codes)
        if self.head is None:
            return out.reshape(len(out), -1, 1)
        moved = [a + 1 for a in self.head.output_axes[::-1] if a is not None]  # units, then positions, last
        out = np.moveaxis(out, moved, list(range(-len(moved), 0)))
        return out.reshape(len(out), self.head.n_units, self.head.n_positions)

    # -- the core --------------------------------------------------------------------------
    def _default_length(self) -> int:
        """The model's length, or 100 bp for a fully convolutional model (for checks and plans)."""
        return self.length if self.length is not None else 100

    def plan(self, length: int, positions: Positions = None, resident: bool = False, incremental: bool = True) -> _core.Plan:
        """The core's description of this network for sequences of `length` bases
        (:meth:`seqmaxent.network.engines.Engines.plan`)."""
        return self._engines.plan(length, positions, resident, incremental)

    def reads(self, positions: Positions = None, length: int | None = None) -> tuple[int, int] | None:
        """The input positions (1-based, first and last) that Phi, and so the explained outputs at
        `positions`, can depend on (inputs of `length` where the model takes any); None where the
        core does not follow the network up to Phi."""
        return self._engines.reads(length or self.length or self._default_length(), positions)

    def engine(self, length: int, provider: str, threads: int, incremental: bool, positions: Positions = None,
               resident: bool = False) -> _core.Engine:
        """A cached core engine (ONNX Runtime sessions, one per thread) for sequences of `length`,
        checked against ONNX Runtime (:meth:`seqmaxent.network.engines.Engines.engine`)."""
        return self._engines.engine(length, provider, threads, incremental, positions, resident)

    def save_plan(self, folder: str | Path, units: Units = None, length: int | None = None,
                  positions: Positions = None) -> None:
        """Write the plan folder that the ``seqmaxent-bench`` binary reads."""
        self.plan(length or self._default_length(), positions).save(self.scale(units, positions), str(folder))


def inspect(model: Model | str | Path, **kwargs) -> ModelInfo:
    """Input layout, length, outputs and their heads, Phi, and the evaluation path of a model."""
    m = model if isinstance(model, Model) else Model(model, **kwargs)
    return m.info()
