"""Reading a network: ONNX graphs and their layouts, Phi and the head's weights, the layers the
core updates incrementally, the windowed and resident step graphs, exports from PyTorch and
Keras, the core's plans and checked engines (:mod:`~seqmaxent.network.engines`), and
:class:`~seqmaxent.network.model.Model`, which ties them together. Imports the base
modules and :mod:`seqmaxent.io`."""
