"""seqmaxent: maximum-entropy sampling of the sequence features a DNA neural network has learned.

Finnegan & Song, "Maximum entropy methods for extracting the learned features of deep neural
networks", PLoS Comput Biol 13(10): e1005836 (2017).

The public names load on first use, so the command line starts (and handles Ctrl-C) at once.
"""

from __future__ import annotations

from importlib import import_module
from importlib.metadata import PackageNotFoundError, version
from typing import TYPE_CHECKING

try:
    __version__ = version("seqmaxent")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

_HOMES = {
    "calibrate_beta": "sampling.calibrate", "ModelError": "errors", "SequenceError": "errors",
    "export_keras": "network.export", "export_torch": "network.export", "read_bed": "io.inputs",
    "read_fasta": "io.inputs", "plot_logo": "explain.logos", "Model": "network.model", "ModelInfo": "network.model",
    "inspect": "network.model", "Result": "explain.result", "gc_mu": "sampling.settings", "sample": "sampling.sampler",
    "decode": "io.sequences", "encode": "io.sequences", "read_variants": "explain.variants",
    "score_variants": "explain.variants", "Variant": "explain.variants", "compare": "sampling.compare",
    "Comparison": "sampling.compare", "sample_file": "sampling.pipeline",
}
__all__ = [
    "Comparison", "Model", "ModelInfo", "ModelError", "Result", "SequenceError", "compare",
    "calibrate_beta", "decode", "encode", "export_keras", "export_torch", "gc_mu", "inspect", "plot_logo",
    "read_bed", "read_fasta", "read_variants", "sample", "sample_file", "score_variants", "Variant", "__version__",
]

if TYPE_CHECKING:
    from .sampling.calibrate import calibrate_beta
    from .sampling.compare import Comparison, compare
    from .errors import ModelError, SequenceError
    from .network.export import export_keras, export_torch
    from .io.inputs import read_bed, read_fasta
    from .explain.logos import plot_logo
    from .network.model import Model, ModelInfo, inspect
    from .sampling.pipeline import sample_file
    from .explain.result import Result
    from .sampling.sampler import sample
    from .sampling.settings import gc_mu
    from .explain.variants import Variant, read_variants, score_variants
    from .io.sequences import decode, encode


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'seqmaxent' has no attribute {name!r}")
    value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
