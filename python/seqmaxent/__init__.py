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
    "calibrate_beta": "calibrate", "ModelError": "errors", "SequenceError": "errors", "export_keras": "export",
    "export_torch": "export", "read_bed": "inputs", "read_fasta": "inputs", "plot_logo": "logos", "Model": "model",
    "ModelInfo": "model", "inspect": "model", "Result": "result", "gc_mu": "sampling", "sample": "sampling",
    "decode": "sequences", "encode": "sequences", "read_variants": "variants", "score_variants": "variants",
    "Variant": "variants", "compare": "compare", "Comparison": "compare",
    "sample_file": "pipeline",
}
__all__ = [
    "Comparison", "Model", "ModelInfo", "ModelError", "Result", "SequenceError", "compare",
    "calibrate_beta", "decode", "encode", "export_keras", "export_torch", "gc_mu", "inspect", "plot_logo",
    "read_bed", "read_fasta", "read_variants", "sample", "sample_file", "score_variants", "Variant", "__version__",
]

if TYPE_CHECKING:
    from .calibrate import calibrate_beta
    from .compare import Comparison, compare
    from .errors import ModelError, SequenceError
    from .export import export_keras, export_torch
    from .inputs import read_bed, read_fasta
    from .logos import plot_logo
    from .model import Model, ModelInfo, inspect
    from .pipeline import sample_file
    from .result import Result
    from .sampling import gc_mu, sample
    from .variants import Variant, read_variants, score_variants
    from .sequences import decode, encode


def __getattr__(name: str):
    if name not in _HOMES:
        raise AttributeError(f"module 'seqmaxent' has no attribute {name!r}")
    value = getattr(import_module(f".{_HOMES[name]}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *_HOMES})
