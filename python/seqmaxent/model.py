"""A trained network exported to ONNX, seen as one-hot DNA -> Phi (penultimate layer) -> outputs."""

from __future__ import annotations

import hashlib
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Union

import numpy as np
import onnxruntime as ort

from . import _core, graph, incremental, layouts, runtime
from .errors import ModelError
from .sequences import DEFAULT_ALPHABET, check_alphabet, onehot

Units = Union[int, tuple[int], tuple[int, int], None]


@dataclass(frozen=True)
class ModelInfo:
    """What seqmaxent sees in a model; returned by :func:`inspect`."""

    path: str
    input_name: str
    layout: str
    length: int | None
    alphabet: str
    phi: str
    phi_dim: int
    outputs: int | None  # units of the final linear layer (None if Phi was named by hand off it)
    output_activation: str | None
    evaluation: str  # which path the sampler takes

    def __str__(self) -> str:
        length = self.length if self.length is not None else "any (fully convolutional)"
        outputs = (
            f"{self.outputs} ({self.output_activation})"
            if self.outputs is not None
            else "unknown: Phi was named off the final linear layer; d is unweighted"
        )
        return "\n".join(
            [
                f"model       {self.path}",
                f"input       {self.input_name!r}, layout {self.layout} {layouts.LAYOUTS[self.layout]}, "
                f"alphabet {self.alphabet}",
                f"length      {length}",
                f"Phi         {self.phi!r}, {self.phi_dim} units",
                f"outputs     {outputs}",
                f"evaluation  {self.evaluation}",
            ]
        )


class Model:
    """An ONNX network whose input is one-hot DNA.

    Parameters
    ----------
    path : ONNX file.
    layout : "NLC" (N, L, 4), "NCL" (N, 4, L) or "N1LC" (N, 1, L, 4); detected from the input shape if None.
    alphabet : order of the bases in the one-hot channels ("ACGT"; the paper's data used "GCAT").
    phi : name of the penultimate tensor; by default the input of the final linear layer.
    """

    def __init__(self, path: str | Path, layout: str | None = None, alphabet: str = DEFAULT_ALPHABET,
                 phi: str | None = None):
        self.path = Path(path)
        proto = graph.load(self.path)
        self.sha256 = hashlib.sha256(self.path.read_bytes()).hexdigest()
        self.alphabet = check_alphabet(alphabet)
        source = graph.graph_input(proto, str(self.path))
        self.input_name = source.name
        self.layout, self.length = layouts.detect(graph.dims(source), layout, str(self.path))
        head = graph.find_head(proto)
        if phi is None:
            if head is None:
                raise ModelError(
                    f"{self.path}: no final linear layer (Gemm, or MatMul + Add) found before the output "
                    f"{proto.graph.output[0].name!r}; name the penultimate tensor with phi=... "
                    f"(tensors: {', '.join(graph.tensor_names(proto)[-8:])})"
                )
            phi = head.phi
        elif phi not in graph.tensor_names(proto) and phi != self.input_name:
            raise ModelError(f"{self.path}: no tensor named {phi!r} (tensors: {', '.join(graph.tensor_names(proto))})")
        self.phi_name = phi
        self.head = head if head is not None and head.phi == phi else None
        phi_rank = graph.rank(proto, phi)
        self._phi_model = graph.cut(proto, [self.input_name], phi, flatten=phi_rank not in (None, 2))
        self._full_model = graph.cut(proto, [self.input_name], proto.graph.output[0].name)
        self._sessions: dict[str, ort.InferenceSession] = {}
        self._plans: dict[int, _core.Plan] = {}
        self._engines: dict[tuple, _core.Engine] = {}
        test = self._default_length()
        self.phi_dim = int(self.phi(np.zeros((2, test), np.uint8)).shape[1])
        if self.head is not None and self.head.weight.shape[1] != self.phi_dim:
            raise ModelError(f"{self.path}: final layer weight {self.head.weight.shape} does not match Phi size {self.phi_dim}")

    # -- what the model is ---------------------------------------------------------------
    @property
    def n_outputs(self) -> int | None:
        return None if self.head is None else self.head.weight.shape[0]

    def info(self) -> ModelInfo:
        length = self.length or self._default_length()
        return ModelInfo(
            path=str(self.path), input_name=self.input_name, layout=self.layout, length=self.length,
            alphabet=self.alphabet, phi=self.phi_name, phi_dim=self.phi_dim, outputs=self.n_outputs,
            output_activation=None if self.head is None else self.head.activation,
            evaluation=self.engine(length, "cpu", 1, True).path,
        )

    def __repr__(self) -> str:
        return f"<seqmaxent.Model\n{self.info()}\n>"

    def units(self, units: Units = None) -> tuple[int, ...] | None:
        """The output unit(s) d is weighted by: (k,) or (k1, k2); defaults (0,) or (1, 0) for one or two outputs."""
        if self.head is None:
            if units is not None:
                raise ModelError(f"{self.path}: units need the final linear layer, but Phi {self.phi_name!r} is not its input")
            return None
        n = self.head.weight.shape[0]
        if units is None:
            if n > 2:
                raise ValueError(f"the model has {n} output units: choose units=k or units=(k1, k2)")
            return (0,) if n == 1 else (1, 0)
        units = (units,) if isinstance(units, (int, np.integer)) else tuple(units)
        if len(units) not in (1, 2) or any(not isinstance(u, (int, np.integer)) for u in units):
            raise ValueError(f"units must be an output index k or a pair (k1, k2), not {units!r}")
        bad = [u for u in units if not 0 <= u < n]
        if bad:
            raise ValueError(f"output unit {bad[0]} is out of range: the model has {n} output units (0..{n - 1})")
        return tuple(int(u) for u in units)

    def scale(self, units: Units = None) -> np.ndarray:
        """s: W[k] for one unit k, W[k1] - W[k2] for a pair; all ones when Phi was named off the head."""
        chosen = self.units(units)
        if chosen is None:
            return np.ones(self.phi_dim, np.float32)
        w = self.head.weight
        s = w[chosen[0]] if len(chosen) == 1 else w[chosen[0]] - w[chosen[1]]
        return np.asarray(s, np.float32)

    # -- evaluation with onnxruntime's Python API (reference values, outputs for x0) -------
    def _session(self, which: str) -> ort.InferenceSession:
        if which not in self._sessions:
            model = self._phi_model if which == "phi" else self._full_model
            options = ort.SessionOptions()
            options.log_severity_level = 4  # errors reach the user as exceptions, not log lines
            self._sessions[which] = ort.InferenceSession(model.SerializeToString(), options,
                                                         providers=["CPUExecutionProvider"])
        return self._sessions[which]

    def _run(self, which: str, codes: np.ndarray) -> np.ndarray:
        x = layouts.to_model(onehot(np.atleast_2d(codes)), self.layout)
        try:
            return self._session(which).run(None, {self.input_name: x})[0]
        except Exception as e:
            raise ModelError(
                f"{self.path}: ONNX Runtime could not run the model on a batch of {len(x)} sequences of length "
                f"{x.shape[2] if self.layout == 'NCL' else x.shape[-2]} (was it exported with a fixed batch size? "
                f"export with a dynamic batch axis): {e}"
            ) from None

    def phi(self, codes: np.ndarray) -> np.ndarray:
        """Phi (n, phi_dim) of base codes (n, L), by onnxruntime's Python API."""
        return self._run("phi", codes).reshape(len(np.atleast_2d(codes)), -1)

    def predict(self, codes: np.ndarray) -> np.ndarray:
        """The network's (first) output for base codes (n, L)."""
        out = self._run("full", codes)
        return out.reshape(len(out), -1)

    # -- the core --------------------------------------------------------------------------
    def _default_length(self) -> int:
        """The model's length, or 100 bp for a fully convolutional model (for checks and plans)."""
        return self.length if self.length is not None else 100

    def plan(self, length: int) -> _core.Plan:
        """The core's description of this network for sequences of `length` bases."""
        if length not in self._plans:
            parts = incremental.extract(self._phi_model, self.layout, length)
            layers, dense, tail, tail_shape = [], None, b"", []
            if parts is not None:
                layers = [_core_layer(y) for y in parts.layers]
                if parts.dense is not None:
                    d = parts.dense
                    dense = _core.DenseLayer(d.weight, d.bias, [_core_step(s) for s in d.after])
                tail, tail_shape = parts.tail, list(parts.tail_shape)
            pos, base = layouts.strides(self.layout, length)
            self._plans[length] = _core.Plan(
                length=length, phi_dim=self.phi_dim, input_shape=list(layouts.item_shape(self.layout, length)),
                position_stride=pos, base_stride=base, phi_model=self._phi_model.SerializeToString(),
                layers=layers, dense=dense, tail_model=tail, tail_shape=tail_shape,
            )
        return self._plans[length]

    def engine(self, length: int, provider: str, threads: int, incremental: bool) -> _core.Engine:
        """A cached core engine (ONNX Runtime sessions, one per thread) for sequences of `length`."""
        key = (length, provider, threads, incremental)
        if key not in self._engines:
            runtime.ensure_loaded()
            engine = _core.Engine(self.plan(length), provider, threads, incremental)
            if engine.incremental:
                engine = self._checked(engine, length, provider, threads)
            self._engines[key] = engine
        return self._engines[key]

    def _checked(self, engine: _core.Engine, length: int, provider: str, threads: int) -> _core.Engine:
        """The incremental engine if it reproduces ONNX Runtime's Phi; else the full path, with a warning."""
        codes = np.random.default_rng(0).integers(0, 4, (8, length), dtype=np.uint8)
        expected = self.phi(codes)
        got = engine.phi(codes)
        tol = 1e-4 * max(1.0, float(np.abs(expected).max()))
        if np.abs(got - expected).max() <= tol:
            return engine
        warnings.warn(
            f"{self.path}: the incremental path does not reproduce ONNX Runtime's Phi "
            f"(max difference {np.abs(got - expected).max():.3g}); using full evaluation",
            RuntimeWarning, stacklevel=3,
        )
        return _core.Engine(self.plan(length), provider, threads, False)

    def save_plan(self, folder: str | Path, units: Units = None, length: int | None = None) -> None:
        """Write the plan folder that the ``seqmaxent-bench`` binary reads."""
        self.plan(length or self._default_length()).save(self.scale(units), str(folder))


def _core_step(step: incremental.Step) -> _core.Step:
    return _core.Step(step.kind, step.alpha, step.scale, step.shift)


def _core_layer(y: incremental.Layer) -> _core.Layer:
    return _core.Layer(
        y.kind, y.in_channels, y.out_channels, y.width, y.stride, y.dilation, y.pad_left, y.in_length, y.out_length,
        y.count_include_pad, y.weight, y.bias, [_core_step(s) for s in y.after],
    )


def inspect(model: Model | str | Path, **kwargs) -> ModelInfo:
    """Input layout, length, Phi tensor and size, output units and evaluation path of a model."""
    m = model if isinstance(model, Model) else Model(model, **kwargs)
    return m.info()
