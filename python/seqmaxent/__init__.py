"""seqmaxent: maximum-entropy sampling of the sequence features a DNA neural network has learned.

Finnegan & Song, "Maximum entropy methods for extracting the learned features of deep neural
networks", PLoS Comput Biol 13(10): e1005836 (2017).
"""

from importlib.metadata import PackageNotFoundError, version

from .errors import ModelError, SequenceError
from .export import export_keras, export_torch
from .model import Model, ModelInfo, inspect
from .result import Result
from .sampling import gc_mu, sample
from .sequences import decode, encode

try:
    __version__ = version("seqmaxent")
except PackageNotFoundError:  # running from a source tree
    __version__ = "0+unknown"

__all__ = [
    "Model", "ModelInfo", "ModelError", "Result", "SequenceError",
    "decode", "encode", "export_keras", "export_torch", "gc_mu", "inspect", "sample", "__version__",
]
