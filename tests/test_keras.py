"""The Keras route on real TensorFlow: a Keras model built here, exported with sm.export_keras
(tf2onnx), read by the core layer by layer and checked against Keras's own numbers. Skipped
without TensorFlow (pip install '.[keras]'); CI installs it (.ci/install-checks)."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest

import seqmaxent as sm
from seqmaxent.errors import ModelError

L = 120


@pytest.fixture(scope="module")
def keras_model():
    """Conv1D, BatchNorm (random statistics), a dilated residual block, Flatten, Dense, Softmax."""
    keras = pytest.importorskip("keras", reason="needs TensorFlow and tf2onnx: pip install '.[keras]'")
    pytest.importorskip("tf2onnx", reason="needs tf2onnx: pip install '.[keras]'")
    keras.utils.set_random_seed(0)
    x = keras.Input((L, 4), name="x")
    h = keras.layers.Conv1D(16, 9, padding="same")(x)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU()(h)
    r = keras.layers.Conv1D(16, 5, dilation_rate=2, padding="same", activation="relu")(h)
    h = keras.layers.Add()([h, r])
    h = keras.layers.MaxPooling1D(4)(h)
    phi = keras.layers.Dense(24, activation="relu", name="hidden")(keras.layers.Flatten()(h))
    out = keras.layers.Dense(2, activation="softmax", name="p")(phi)
    model = keras.Model(x, out)
    rng = np.random.default_rng(0)
    bn = model.get_layer("bn")
    bn.set_weights([rng.uniform(0.5, 2.0, 16), rng.normal(0, 0.5, 16), rng.normal(0, 0.5, 16), rng.uniform(0.5, 2, 16)])
    return model, keras.Model(x, phi)


def test_a_keras_model_exports_and_runs_in_the_core(keras_model, tmp_path):
    model, phi_model = keras_model
    path = sm.export_keras(model, L, tmp_path / "k.onnx")
    m = sm.Model(path)
    assert m.layout == "NLC" and m.length == L
    seqs = ["".join(np.random.default_rng(i).choice(list("ACGT"), L)) for i in range(3)]
    onehot = np.eye(4, dtype=np.float32)[sm.encode(seqs)]
    np.testing.assert_allclose(m.phi(sm.encode(seqs)), phi_model(onehot, training=False), rtol=1e-4, atol=1e-5)
    np.testing.assert_allclose(m.predict(sm.encode(seqs)), model(onehot, training=False), rtol=1e-4, atol=1e-5)
    res = sm.sample(m, seqs[:1], beta=20.0, chains=4, steps=400, period=40, max_rounds=1, threads=2)
    assert res.params["evaluation"].startswith("incremental") and "ONNX Runtime" not in res.params["evaluation"]
    exact = np.linalg.norm(m.scale() * (m.phi(res.samples[0]) - res.phi0[0]), axis=1)
    np.testing.assert_allclose(res.distances[0], exact, rtol=1e-4, atol=1e-4)
    assert res.acceptance.mean() > 0.05 and (res.samples[0] != sm.encode(seqs[:1])).any()


def test_a_keras_conv_head_has_its_bias_folded(tmp_path):
    """tf2onnx leaves a Conv1D's bias as an Add after the Squeeze: the head (SpliceAI's last layer)
    takes it as its bias, so outputs computed from Phi match Keras's."""
    keras = pytest.importorskip("keras", reason="needs TensorFlow and tf2onnx: pip install '.[keras]'")
    pytest.importorskip("tf2onnx", reason="needs tf2onnx: pip install '.[keras]'")
    keras.utils.set_random_seed(1)
    x = keras.Input((L, 4), name="x")
    h = keras.layers.Conv1D(8, 11, padding="same", activation="relu")(x)
    out = keras.layers.Conv1D(3, 1, activation="softmax", bias_initializer="random_normal")(h)
    model = keras.Model(x, keras.layers.Cropping1D(50)(out))
    path = sm.export_keras(model, L, tmp_path / "head.onnx")
    m = sm.Model(path)
    assert m.head.op == "Conv" and m.n_positions == L - 100 and np.abs(m.head.bias).min() > 0
    codes = sm.encode(["".join(np.random.default_rng(2).choice(list("ACGT"), L))])
    read = m.phi(codes, positions=range(1, L - 99))[0].reshape(L - 100, 8)  # the row each output position reads
    logits = read @ m.head.weight[:, :, 0].T + m.head.bias
    expected = np.asarray(model(np.eye(4, dtype=np.float32)[codes], training=False))[0]
    np.testing.assert_allclose(np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True), expected, rtol=1e-4, atol=1e-5)


def test_an_export_that_differs_is_removed(keras_model, tmp_path, monkeypatch):
    model, _ = keras_model
    from seqmaxent.network import export
    real = export._check
    monkeypatch.setattr(export, "_check", lambda path, expected, x, rtol, atol: real(path, [e + 0.1 for e in expected],
                                                                                     x, rtol, atol))
    with pytest.raises(ModelError, match=r"differs from the original model's \(max \|difference\| 0.1"):
        sm.export_keras(model, L, tmp_path / "bad.onnx")
    assert not (tmp_path / "bad.onnx").exists()


def test_without_tensorflow_the_extra_is_named(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "tensorflow", None)
    with pytest.raises(ImportError, match=r"pip install 'seqmaxent\[keras\]'"):
        sm.export_keras(object(), L, tmp_path / "k.onnx")


def test_mmsplice_donor_module_published_weights(tmp_path):
    """MMSplice's donor module (PyPI mmsplice, its own trained Keras file): 18 bp, a dense layer on the
    flattened one-hot input. Exported and checked against Keras, followed by the core (the first
    dense layer as a conv as wide as the input), and on a consensus donor (CAG|GTAAGT) its samples
    keep the GT."""
    keras = pytest.importorskip("keras", reason="needs TensorFlow and tf2onnx: pip install '.[keras]'")
    pytest.importorskip("tf2onnx", reason="needs tf2onnx: pip install '.[keras]'")
    from importlib.util import find_spec

    spec = find_spec("mmsplice")  # its package imports heavy extras; the weights are plain files
    if spec is None:
        pytest.skip("needs MMSplice's weights: pip install --no-deps mmsplice")
    donor = keras.models.load_model(str(Path(spec.origin).parent / "models" / "Donor.h5"), compile=False)
    m = sm.Model(sm.export_keras(donor, 18, tmp_path / "donor.onnx"))
    seq = "TGCAGGTAAGTTGGTGGG"  # 5 exonic bases, then the intron: GT at 6-7
    assert m.predict(sm.encode([seq]))[0, 0] > 0.99
    res = sm.sample(m, [seq], beta=20.0, units=0, chains=8, steps=2000, max_rounds=1, threads=2, tolerance=0.2)
    assert res.params["evaluation"] == "incremental: conv 18+relu, dense updated in the core"
    exact = np.linalg.norm(m.scale(0) * (m.phi(res.samples[0]) - res.phi0[0]), axis=1)
    np.testing.assert_allclose(res.distances[0], exact, rtol=1e-4, atol=1e-4)
    imp = res.importance()[0]
    assert imp[5:7].min() > 1.5 and imp[[0, 1, 12, 13, 14]].max() < 0.5
