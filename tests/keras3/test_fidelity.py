"""Models a new user brings, through the Keras 3 <-> tf_keras seam: wrapped layers whose inner
layer has Keras 3-only options (TimeDistributed(Dense)), named (dict) outputs, mixed
precision both ways and to TFLite, and a compiled tf_keras model's compile state."""

import keras as keras3
import numpy as np
import pytest
import tensorflow as tf
import tf_keras

import tfprune

X = np.random.default_rng(0).random((16, 6, 4)).astype("float32")
Y = np.random.default_rng(1).integers(0, 3, 16)


def _kernel_sparsity(model):
    return {w.path: float((w.numpy() == 0).mean()) for w in model.weights if "kernel" in w.path}


def test_time_distributed_dense_and_bidirectional_gru_prune_inside_and_go_back_to_keras3():
    i = keras3.Input((6, 4))
    h = keras3.layers.TimeDistributed(keras3.layers.Dense(8))(i)  # Dense has quantization_config
    h = keras3.layers.Bidirectional(keras3.layers.GRU(4))(h)
    m = keras3.Model(i, keras3.layers.Dense(3)(h))
    s = tfprune.strip(tfprune.one_shot(m, 0.5))
    assert isinstance(s, keras3.Model)
    kernels = _kernel_sparsity(s)
    assert len(kernels) == 6 and all(v == pytest.approx(0.5, abs=0.02) for v in kernels.values())
    inner = [w.path for w in s.weights if w.path.startswith("time_distributed")]
    assert inner, "the TimeDistributed inner Dense kept its weights"


@pytest.mark.slow
def test_dict_outputs_keep_their_names_compile_state_and_train():
    i = keras3.Input((6, 4))
    h = keras3.layers.BatchNormalization()(keras3.layers.Dense(8)(keras3.layers.Flatten()(i)))
    m = keras3.Model(i, {"cls": keras3.layers.Dense(3, name="cls")(h),
                         "reg": keras3.layers.Dense(1, name="reg")(h)})
    m.compile(optimizer=keras3.optimizers.Adam(), metrics={"cls": ["accuracy"], "reg": ["mae"]},
              loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    p = tfprune.prune(m, schedule=tfprune.schedules.Constant(0.5, frequency=1))
    hist = p.fit(X, {"cls": Y, "reg": X[:, 0, :1]}, epochs=1, batch_size=8, verbose=0,
                 callbacks=[tfprune.PruningCallback()])
    assert {"cls_accuracy", "reg_mae", "cls_loss", "reg_loss"} <= set(hist.history)
    s = tfprune.strip(p)
    out = s(X[:2])
    assert isinstance(s, keras3.Model) and sorted(out) == ["cls", "reg"]
    assert out["cls"].shape == (2, 3) and out["reg"].shape == (2, 1)


@pytest.mark.slow
def test_mixed_precision_keras3_model_prunes_trains_and_keeps_its_policy():
    keras3.mixed_precision.set_global_policy("mixed_float16")
    try:
        i = keras3.Input((6, 4))
        h = keras3.layers.GlobalAveragePooling1D()(keras3.layers.Conv1D(8, 3)(i))
        m = keras3.Model(i, keras3.layers.Dense(3, dtype="float32")(h))
    finally:
        keras3.mixed_precision.set_global_policy("float32")
    m.compile(optimizer="adam", loss="sparse_categorical_crossentropy")
    p = tfprune.prune(m, schedule=tfprune.schedules.Constant(0.5, frequency=1))
    p.fit(X, Y, epochs=1, batch_size=8, verbose=0, callbacks=[tfprune.PruningCallback()])
    s = tfprune.strip(p)
    assert isinstance(s, keras3.Model)
    assert s.layers[1].dtype_policy.name == "mixed_float16"
    assert s.layers[-1].dtype_policy.name == "float32"
    assert _kernel_sparsity(s)[s.layers[1].kernel.path] == pytest.approx(0.5)


@pytest.mark.slow
def test_mixed_precision_tf_keras_model_exports_a_float32_tflite(tmp_path):
    tf_keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        i = tf_keras.Input((6, 4))
        h = tf_keras.layers.GlobalAveragePooling1D()(tf_keras.layers.Conv1D(8, 3)(i))
        m = tf_keras.Model(i, tf_keras.layers.Dense(3, dtype="float32")(h))
    finally:
        tf_keras.mixed_precision.set_global_policy("float32")
    s = tfprune.strip(tfprune.one_shot(m, 0.5))
    assert s.layers[1].compute_dtype == "float16"  # the user's policy is kept by strip
    record = tfprune.export.tflite(s, str(tmp_path / "m.tflite"))
    assert record.verification["max_rel_error"] < 1e-4  # the file against its float32 twin
    interp = tf.lite.Interpreter(model_path=record.path)
    interp.allocate_tensors()
    got = []
    for row in X[:4]:
        interp.set_tensor(interp.get_input_details()[0]["index"], row[None])
        interp.invoke()
        got.append(interp.get_tensor(interp.get_output_details()[0]["index"])[0])
    want = s(X[:4]).numpy()  # the user's model, computing in float16
    np.testing.assert_allclose(np.array(got), want, atol=2e-2 * np.abs(want).max())


def test_a_compiled_tf_keras_model_is_returned_compiled():
    m = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(8),
                             tf_keras.layers.Dense(3)])
    m.compile(tf_keras.optimizers.Adam(0.005), "sparse_categorical_crossentropy", ["accuracy"])
    p = tfprune.prune(m, sparsity=0.5)
    assert p.optimizer is not None and p.optimizer is not m.optimizer
    assert float(p.optimizer.learning_rate.numpy()) == pytest.approx(0.005)
    assert p.loss == "sparse_categorical_crossentropy"
    plain = tf_keras.Sequential([tf_keras.Input((4,)), tf_keras.layers.Dense(2)])
    assert not getattr(tfprune.prune(plain, sparsity=0.5), "_is_compiled", False)


def test_embedding_mask_zero_text_model_keeps_its_mask_through_the_seam():
    i = keras3.Input((6,), dtype="int32")
    h = keras3.layers.Embedding(30, 8, mask_zero=True)(i)  # Keras 3 records `x != 0` as an op
    h = keras3.layers.Bidirectional(keras3.layers.LSTM(4))(h)
    m = keras3.Model(i, keras3.layers.Dense(2)(h))
    x = np.random.default_rng(2).integers(1, 30, (4, 6))
    x[:, 4:] = 0  # padding
    s = tfprune.strip(tfprune.one_shot(m, 1e-6))  # nothing pruned: the seam alone
    assert isinstance(s, keras3.Model)
    want = m(x).numpy()
    np.testing.assert_allclose(s(x).numpy(), want, atol=1e-6)
    unmasked = x.copy()
    unmasked[:, 4:] = 7  # what the padded steps would compute if the mask were lost
    assert np.abs(m(unmasked).numpy() - want).max() > 1e-4


def test_a_not_equal_op_that_is_not_an_embedding_mask_is_refused_naming_it():
    i = keras3.Input((6,), dtype="int32")
    h = keras3.layers.Embedding(30, 8)(i)
    h = keras3.layers.LSTM(4)(h, mask=keras3.ops.not_equal(i, 1))  # not tf_keras' implicit mask
    m = keras3.Model(i, keras3.layers.Dense(2)(h))
    with pytest.raises(tfprune.errors.UnsupportedLayerError, match="not_equal.*mask_zero"):
        tfprune.prune(m, sparsity=0.5)
