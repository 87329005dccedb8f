"""The network and sequences bundled with seqmaxent for examples and the demo.

ctcf.onnx: the paper's CTCF architecture trained on the Zeng et al. 2016 CTCF ChIP-seq data
(examples/train_ctcf.py). ctcf_examples.fa: JASPAR MA0139 CTCF sites planted into random
background (examples/make_ctcf_examples.py).
"""

from __future__ import annotations

from importlib.resources import files
from pathlib import Path


def ctcf_model_path() -> Path:
    return Path(str(files("seqmaxent") / "data" / "ctcf.onnx"))


MODELS = {"ctcf": ctcf_model_path}  # bundled models by name


def resolve(model: str | Path) -> Path:
    """A model file, or the file of a bundled model named so (``"ctcf"``)."""
    path = Path(model)
    if path.is_file() or str(model) not in MODELS:
        return path
    return MODELS[str(model)]()


def ctcf_examples_path() -> Path:
    return Path(str(files("seqmaxent") / "data" / "ctcf_examples.fa"))


def ctcf_examples() -> tuple[list[str], list[str]]:
    """Names and sequences of the bundled CTCF examples."""
    from .inputs import read_fasta

    return read_fasta(ctcf_examples_path())
