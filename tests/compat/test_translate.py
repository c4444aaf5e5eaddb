"""Keras 3 <-> tf_keras translation: parity, names, structure, and what is refused."""

import keras as keras3
import numpy as np
import pytest
import tf_keras

from tests.keras3._models import keras3_cnn, randomize_bn, rel_err
from tfprune import compat, errors

L = keras3.layers


def encoder_block():
    inp = keras3.Input((6, 16), name="tokens")
    a = L.MultiHeadAttention(num_heads=2, key_dim=8, name="mha")(inp, inp)
    x = L.LayerNormalization(name="ln1")(L.Add(name="add1")([inp, a]))
    f = L.Dense(32, activation="gelu", name="ff1")(x)
    f = L.Dropout(0.1, name="drop")(L.Dense(16, name="ff2")(f))
    x = L.LayerNormalization(name="ln2")(L.Add(name="add2")([x, f]))
    out = L.Dense(3, name="cls")(L.GlobalAveragePooling1D(name="pool")(x))
    return keras3.Model(inp, out, name="encoder")


def lstm_classifier():
    return keras3.Sequential([keras3.Input((7, 5)), L.LSTM(8, return_sequences=True, name="l1"),
                              L.GRU(6, name="g1"), L.Dense(3, name="out")], name="rnn")


def preprocessing_model():
    inp = keras3.Input((10,), name="x")
    x = L.Normalization(mean=2.0, variance=4.0, name="norm")(inp)
    x = L.Rescaling(0.5, offset=0.1, name="resc")(x)
    return keras3.Model(inp, L.Dense(2, name="out")(x), name="prep")


def adapted_normalization_model():
    norm = L.Normalization(name="norm")
    norm.adapt(np.random.default_rng(0).normal(3, 2, (50, 4)).astype("float32"))
    return keras3.Sequential([keras3.Input((4,)), norm, L.Dense(2, name="out")], name="adapted")


def nested_shared_ops_model():
    inner_in = keras3.Input((4,))
    inner = keras3.Model(inner_in, L.Dense(4, activation="tanh", name="inner_d")(inner_in),
                         name="inner")
    shared = L.Dense(4, name="shared")
    inp = keras3.Input((4,), name="x")
    h = inner(inp)
    a, b = shared(h), shared(inp)  # one layer, two nodes
    y = a + b  # bare Keras 3 ops become tf_keras layers
    y = y * 0.5 - 1.0
    seq = keras3.Sequential([L.Dense(3, name="s1")], name="seq")
    return keras3.Model(inp, seq(y), name="nested")


CASES = {
    "cnn": (lambda: randomize_bn(keras3_cnn()), (2, 8, 8, 3)),
    "encoder": (encoder_block, (2, 6, 16)),
    "lstm": (lstm_classifier, (2, 7, 5)),
    "preprocessing": (preprocessing_model, (2, 10)),
    "adapted": (adapted_normalization_model, (2, 4)),
    "nested": (nested_shared_ops_model, (2, 4)),
}


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(CASES))
def test_round_trip_parity_and_names(case):
    build, shape = CASES[case]
    m3 = build()
    x = np.random.default_rng(1).uniform(0, 2, shape).astype("float32")
    ref = np.asarray(m3(x))
    m2 = compat.to_tf_keras(m3)
    assert isinstance(m2, tf_keras.Model)
    assert rel_err(m2(x), ref) <= 1e-5
    back = compat.to_keras3(m2)
    assert isinstance(back, keras3.Model) and not compat.is_keras3_object(m2)
    assert rel_err(back(x), ref) <= 1e-5
    assert [layer.name for layer in back.layers] == [layer.name for layer in m3.layers] or (
        case == "nested")  # bare ops come back as layers
    assert m3.count_params() == m2.count_params() == back.count_params()


def test_nested_shared_layer_keeps_two_nodes():
    m2 = compat.to_tf_keras(nested_shared_ops_model())
    assert len(m2.get_layer("shared")._inbound_nodes) == 2
    assert isinstance(m2.get_layer("inner"), tf_keras.Model)
    kinds = [type(layer).__name__ for layer in m2.layers]
    assert kinds.count("Add") == 1 and kinds.count("Rescaling") == 2


def test_translation_does_not_touch_the_input_model():
    m3 = keras3_cnn()
    before = [np.array(w) for w in m3.get_weights()]
    m2 = compat.to_tf_keras(m3)
    m2.get_layer("head").set_weights([np.zeros((16, 4)), np.zeros(4)])
    assert all((a == np.asarray(b)).all() for a, b in zip(before, m3.get_weights(), strict=True))


class Subclassed(keras3.Model):
    def __init__(self):
        super().__init__()
        self.d = L.Dense(2)

    def call(self, x):
        return self.d(x)


class MyLayer(L.Layer):
    def call(self, x):
        return x * 2


def test_subclassed_model_refused_naming_class():
    m = Subclassed()
    m(np.zeros((1, 3), "float32"))
    with pytest.raises(errors.ModelTypeError, match=r"subclassed Keras 3 model \(Subclassed\).*"
                       r"keras\.Model\(inputs, outputs\)"):
        compat.to_tf_keras(m)


def test_custom_layer_refused_naming_layer_and_fix():
    inp = keras3.Input((3,))
    m = keras3.Model(inp, L.Dense(2)(MyLayer(name="mine")(inp)))
    with pytest.raises(errors.UnsupportedLayerError,
                       match=r"'mine' \(.*MyLayer\) has no tf_keras counterpart.*"
                       r"register_counterpart"):
        compat.to_tf_keras(m)


def test_unsupported_bare_op_refused():
    inp = keras3.Input((3,))
    m = keras3.Model(inp, keras3.ops.sin(inp))
    with pytest.raises(errors.UnsupportedLayerError,
                       match=r"'sin' \(keras.src.ops.numpy.Sin\).*bare Keras 3 op"):
        compat.to_tf_keras(m)


def test_non_tensorflow_backend_refused(monkeypatch):
    m = keras3_cnn()
    monkeypatch.setattr(keras3.backend, "backend", lambda: "jax")
    with pytest.raises(errors.KerasVersionError, match=r"'jax' backend.*KERAS_BACKEND=tensorflow"):
        compat.to_tf_keras(m)


def test_registered_counterpart_is_used():
    class Twice3(L.Layer):
        def call(self, x):
            return x * 2

    class Twice2(tf_keras.layers.Layer):
        def call(self, x):
            return x * 2

    compat.register_counterpart(Twice3, Twice2)
    inp = keras3.Input((3,))
    m = keras3.Model(inp, Twice3(name="twice")(inp))
    m2 = compat.to_tf_keras(m)
    assert type(m2.get_layer("twice")) is Twice2
    np.testing.assert_allclose(m2(np.ones((1, 3), "float32")), 2.0)
