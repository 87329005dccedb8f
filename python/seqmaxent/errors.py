"""Exceptions raised for bad models and bad sequences."""


class ModelError(ValueError):
    """The ONNX model cannot be used as given (unreadable, wrong input, no final linear layer...)."""


class SequenceError(ValueError):
    """An input sequence is unusable; the message names the sequence and the position."""
