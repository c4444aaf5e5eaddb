"""New-user scenarios that once broke: each test is the smallest model showing the problem."""

import keras
import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import to_keras3, to_tf_keras


def _k3_activations_model():
    L = keras.layers
    i = keras.Input((6,))
    h = L.Dense(8, activation="hard_sigmoid", name="d1")(i)
    h = L.Activation("hard_silu", name="act")(h)
    h = L.Dense(8, activation="celu", name="d2")(h)
    h = L.Reshape((2, 4))(h)
    return keras.Model(i, L.LSTM(3, recurrent_activation="hard_sigmoid", name="lstm")(h))


@pytest.mark.slow
def test_keras3_only_activations_translate_with_keras3_outputs(tmp_path):
    # hard_silu (Keras 3 MobileNetV3) was a raw tf_keras "Unknown activation" TypeError;
    # hard_sigmoid translated silently to tf_keras' different clip(0.2x + 0.5).
    m = _k3_activations_model()
    x = np.random.default_rng(0).normal(0, 3, (8, 6)).astype("float32")
    want = np.asarray(m(x))
    t = to_tf_keras(m)
    np.testing.assert_allclose(np.asarray(t(x)), want, atol=1e-6)
    back = to_keras3(t)
    assert back.get_layer("d1").get_config()["activation"] == "hard_sigmoid"
    assert back.get_layer("act").get_config()["activation"] == "hard_silu"
    np.testing.assert_allclose(np.asarray(back(x)), want, atol=1e-6)
    t.save(tmp_path / "t.keras")
    np.testing.assert_allclose(np.asarray(tfprune.compat.load_model(tmp_path / "t.keras")[0](x)),
                               want, atol=1e-6)
    small = tfprune.strip(tfprune.prune(m, sparsity=0.5))
    assert isinstance(small, keras.Model)
    assert small.get_layer("act").get_config()["activation"] == "hard_silu"


def test_tf_keras_hard_sigmoid_to_keras3_is_refused():
    import tf_keras

    m = tf_keras.Sequential([tf_keras.Input((3,)), tf_keras.layers.Dense(2, "hard_sigmoid")])
    with pytest.raises(errors.UnsupportedLayerError, match="hard_sigmoid"):
        to_keras3(m)


def test_model_file_paths_are_loaded_or_named_missing(tmp_path):
    # a missing path was "`model` must be a tf_keras.Model, got str"; a tf_keras file path too
    import tf_keras

    with pytest.raises(errors.ConfigError, match="missing.keras' does not exist"):
        tfprune.prune(str(tmp_path / "missing.keras"), sparsity=0.5)
    m = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(8, name="d")])
    m.save(tmp_path / "m.keras")
    pruned = tfprune.one_shot(str(tmp_path / "m.keras"), 0.5)
    assert float(np.mean(tfprune.strip(pruned).get_layer("d").kernel.numpy() == 0)) == 0.5


@pytest.mark.slow
def test_keras3_shrink_keeps_its_report():
    # shrink of a Keras 3 model returned Keras 3 without small.shrink_report (AttributeError)
    inp = keras.Input((8, 8, 3))
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inp)
    model = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GlobalAveragePooling2D()(h)))
    small = tfprune.shrink(tfprune.strip(tfprune.one_shot(model, 0.5, granularity="channel")))
    assert isinstance(small, keras.Model) and small.get_layer("conv").filters == 4
    assert "4/8 kept" in str(small.shrink_report)


@pytest.mark.slow  # 41 s at load 4.6 on 2 cores (RNN tracing)
def test_channel_pruning_around_recurrent_layers():
    # LSTM / Bidirectional had no graph rule: granularity="channel" refused the whole model
    # (suggesting passthrough, which would be wrong for a layer that mixes channels)
    from tfprune.compat import keras as K

    L = K.layers
    i = K.Input((6,), dtype="int32")
    h = L.Embedding(20, 8)(i)
    h = L.Bidirectional(L.LSTM(4, return_sequences=True), name="bi")(h)
    h = L.Conv1D(12, 3, activation="relu", name="c1")(h)
    h = L.GRU(5, return_sequences=True, name="gru")(h)
    h = L.Conv1D(6, 1, name="c2")(h)
    model = K.Model(i, L.Dense(3, name="out")(L.GlobalAveragePooling1D()(h)))
    ids = np.random.default_rng(0).integers(0, 20, (16, 6)).astype("int32")
    masked = tfprune.strip(tfprune.one_shot(model, 0.5, granularity="channel"))
    small = tfprune.shrink(masked)
    assert small.get_layer("c1").filters == 12  # feeds the GRU: kept
    assert small.get_layer("c2").filters == 3
    assert small.get_layer("gru").units == 5 and small.get_layer("bi").forward_layer.units == 4
    np.testing.assert_allclose(small.predict(ids, verbose=0), masked.predict(ids, verbose=0),
                               atol=1e-5)


@pytest.mark.slow
def test_hidden_softmax_units_are_kept():
    # Dense(activation="softmax") mixes its units: removing one changes the others' outputs
    from tfprune.compat import keras as K

    i = K.Input((6,))
    h = K.layers.Dense(8, activation="relu", name="a")(i)
    h = K.layers.Dense(8, activation="softmax", name="sm")(h)
    model = K.Model(i, K.layers.Dense(3, name="out")(h))
    x = np.random.default_rng(0).normal(size=(16, 6)).astype("float32")
    masked = tfprune.strip(tfprune.one_shot(model, 0.5, granularity="channel"))
    small = tfprune.shrink(masked)
    assert small.get_layer("sm").units == 8 and small.get_layer("a").units == 4
    np.testing.assert_allclose(small.predict(x, verbose=0), masked.predict(x, verbose=0),
                               atol=1e-5)
