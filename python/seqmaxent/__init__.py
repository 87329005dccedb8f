"""seqmaxent: maximum-entropy sampling of the sequence features a DNA neural network has learned.

Finnegan & Song, "Maximum entropy methods for extracting the learned features of deep neural
networks", PLoS Comput Biol 13(10): e1005836 (2017).
"""

from importlib.metadata import PackageNotFoundError, version

from .calibrate import calibrate_beta
from .errors import ModelError, SequenceError
from .export import export_keras, export_torch
from .inputs import read_bed, read_fasta
from .logos import plot_logo
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
    "calibrate_beta", "decode", "encode", "export_keras", "export_torch", "gc_mu", "inspect", "plot_logo",
    "read_bed", "read_fasta", "sample", "__version__",
]
