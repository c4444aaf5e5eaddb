"""tfprune.quantization: quantization-aware training keeps every pruned zero (weights, N:M,
depthwise, shrunk models) in training and in the int8 file."""

import numpy as np
import pytest

import tfprune
from tfprune import errors, export
from tfprune.compat import keras
from tfprune.quantization import quantize_aware, zero_fractions


def _cnn():
    i = keras.Input((8, 8, 1))
    h = keras.layers.Conv2D(8, 3, activation="relu", name="conv")(i)
    h = keras.layers.DepthwiseConv2D(3, name="dw")(h)
    h = keras.layers.BatchNormalization(name="bn")(h)
    h = keras.layers.ReLU()(h)
    h = keras.layers.Flatten()(h)
    h = keras.layers.Dense(16, activation="relu", name="fc")(h)
    return keras.Model(i, keras.layers.Dense(3, name="out")(h))


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    return rng.random((64, 8, 8, 1)).astype("float32"), rng.integers(0, 3, 64)


def _fit(model, data):
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.optimizer.build(model.trainable_variables)  # fit traces its step once, not twice
    model.fit(*data, epochs=1, batch_size=16, verbose=0)


def _zeros(model):
    return {name.split("/")[0].replace("quant_", ""): value
            for name, value in zero_fractions(model).items()}


def _pruned_qat(data, granularity):
    """``(plain, qat)``: the CNN one-shot pruned at ``granularity``, stripped, then
    quantize_aware and fitted for one epoch."""
    exclude = ["conv"] if granularity == "n:m" else None  # 1 input channel: no 2:4 groups
    plain = tfprune.strip(tfprune.one_shot(_cnn(), 0.5, granularity=granularity,
                                           exclude=exclude))
    qat = quantize_aware(plain)
    _fit(qat, data)
    return plain, qat


@pytest.fixture(scope="module")
def weight_qat(data):
    """The weight-pruned QAT model after its fit (read-only: shared by the zeros test and the
    int8 export test, one QAT trace instead of two)."""
    return _pruned_qat(data, "weight")


@pytest.mark.slow
@pytest.mark.parametrize("granularity", ["weight", "n:m"])
def test_pruned_zeros_stay_zero_through_qat_including_depthwise(request, data, granularity):
    if granularity == "weight":
        plain, qat = request.getfixturevalue("weight_qat")
    else:
        plain, qat = _pruned_qat(data, granularity)
    before = _zeros(plain)
    assert before["dw"] == pytest.approx(0.5, abs=0.02)
    after = _zeros(qat)
    assert after["dw"] >= 0.49
    for name, fraction in before.items():
        assert after[name] >= fraction, (name, fraction, after[name])
    # the same positions, not only the same count
    kept = {w.name.split("/")[0]: w.numpy() == 0 for w in plain.weights if "kernel" in w.name}
    for w in qat.weights:
        layer = w.name.split("/")[0]
        if w.name.endswith("kernel:0") and layer in kept:
            assert np.all(w.numpy()[kept[layer]] == 0), w.name


@pytest.mark.slow
def test_qat_model_exports_int8_with_its_zeros(tmp_path, data, weight_qat):
    _, qat = weight_qat
    rec = export.tflite(qat, tmp_path / "qat.tflite", quantize="int8",
                        representative_data=data[0][:32])
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(rec.path))
    it.allocate_tensors()
    fractions = []
    for d in it.get_tensor_details():
        if d["dtype"] == np.int8 and len(d["shape"]) >= 2:
            try:
                fractions.append(float(np.mean(it.get_tensor(d["index"]) == 0)))
            except ValueError:  # activations: no data
                continue
    assert len([f for f in fractions if f >= 0.49]) >= 4  # conv, dw, fc, out kernels


@pytest.mark.slow
def test_shrunk_model_gets_plain_qat(data):
    x = data[0]
    pruned = tfprune.one_shot(_cnn(), 0.5, criterion="l1", granularity="channel")
    small = tfprune.shrink(tfprune.strip(pruned))
    qat = quantize_aware(small)
    assert qat.output_shape == small.output_shape
    _fit(qat, data)
    assert np.isfinite(qat.predict(x[:4], verbose=0)).all()


def test_keras3_model_is_accepted(data):
    import keras as keras3

    m = keras3.Sequential([keras3.Input((8,)), keras3.layers.Dense(8, name="a"),
                           keras3.layers.Dense(2, name="b")])
    qat = quantize_aware(m)
    assert {type(layer).__name__ for layer in qat.layers} >= {"QuantizeWrapperV2"}


def test_a_wrapped_model_is_refused_with_the_fix():
    pruned = tfprune.prune(_cnn(), sparsity=0.5)
    with pytest.raises(errors.AlreadyPrunedError, match=r"tfprune.strip\(model\) first"):
        quantize_aware(pruned)


def test_unknown_exclude_is_refused():
    with pytest.raises(errors.ConfigError, match="Did you mean 'fc'"):
        quantize_aware(_cnn(), exclude=["fcc"])


@pytest.mark.slow
def test_a_layer_tf_mot_cannot_train_keeps_its_zeros_frozen(data):
    i = keras.Input((8, 4))
    h = keras.layers.Conv1D(6, 3, name="c1")(i)
    h = keras.layers.Flatten()(h)
    m = keras.Model(i, keras.layers.Dense(3, name="out")(h))
    plain = tfprune.strip(tfprune.one_shot(m, 0.5))
    with pytest.warns(UserWarning, match=r"\['c1'\] hold pruned zeros"):
        qat = quantize_aware(plain)
    qat.compile("adam", "mse")
    qat.optimizer.build(qat.trainable_variables)
    qat.fit(np.random.rand(16, 8, 4), np.random.rand(16, 3), epochs=1, verbose=0)
    assert _zeros(qat)["c1"] == pytest.approx(0.5, abs=0.02)


def _conv_bn(x_scale=(1.0, 0.01)):
    """Conv2D -> BN -> ReLU whose two output channels differ 100x in scale before BN."""
    i = keras.Input((6, 6, 1))
    conv = keras.layers.Conv2D(2, 3, use_bias=False, name="conv")
    h = keras.layers.BatchNormalization(name="bn")(conv(i))
    h = keras.layers.ReLU(name="relu")(h)
    dw = keras.layers.DepthwiseConv2D(3, use_bias=False, name="dw")
    h = keras.layers.ReLU(name="relu2")(keras.layers.BatchNormalization(name="bn2")(dw(h)))
    m = keras.Model(i, keras.layers.Dense(2, name="out")(keras.layers.Flatten()(h)))
    rng = np.random.default_rng(1)
    conv.set_weights([rng.normal(size=(3, 3, 1, 2)).astype("float32") * np.array(x_scale)])
    x = rng.random((64, 6, 6, 1)).astype("float32")
    m.get_layer("bn").moving_variance.assign(np.var(conv(x).numpy(), axis=(0, 1, 2)))
    m.get_layer("bn").moving_mean.assign(np.mean(conv(x).numpy(), axis=(0, 1, 2)))
    return m, x


@pytest.mark.slow
def test_batch_norm_after_a_conv_is_folded_not_fake_quantised_before(data):
    m, x = _conv_bn()
    qat = quantize_aware(m, representative_data=x)
    names = {w.name for w in qat.weights}
    # no fake-quant between conv/depthwise and their BN (the int8 file has none there)
    assert not any(n.startswith(("quant_conv/post_activation", "quant_dw/post_activation"))
                   for n in names), sorted(names)
    assert {"quant_bn", "quant_bn2"} <= {layer.name for layer in qat.layers}
    # the 100x smaller channel survives: QAT inference tracks the float model
    ref = m.predict(x, verbose=0)
    err = np.max(np.abs(qat.predict(x, verbose=0) - ref)) / np.max(np.abs(ref))
    assert err < 0.05, err


@pytest.mark.slow
def test_representative_data_starts_activation_ranges_at_the_data_range():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="d")])
    x = np.random.default_rng(0).random((40, 4)).astype("float32") * 2.0
    plain = {w.name: float(w.numpy()) for w in quantize_aware(m).weights
             if w.name.endswith(("_min:0", "_max:0")) and "kernel" not in w.name}
    assert plain["quant_d/post_activation_max:0"] == 6.0  # TF-MOT's default start
    ranges = {w.name: float(w.numpy()) for w in quantize_aware(m, representative_data=x).weights
              if w.name.endswith(("_min:0", "_max:0")) and "kernel" not in w.name}
    y = m.predict(x, verbose=0)
    [input_max] = [v for k, v in ranges.items() if k.startswith("quantize_layer")
                   and k.endswith("_max:0")]
    assert input_max == pytest.approx(x.max())
    assert ranges["quant_d/post_activation_max:0"] == pytest.approx(max(y.max(), 0), rel=0.05)
    assert ranges["quant_d/post_activation_min:0"] == pytest.approx(min(y.min(), 0), rel=0.05)


@pytest.mark.slow
def test_calibrated_qat_keeps_zeros(data):
    plain = tfprune.strip(tfprune.one_shot(_cnn(), 0.5))
    qat = quantize_aware(plain, representative_data=data[0][:32])
    _fit(qat, data)
    after = _zeros(qat)
    assert after["dw"] >= 0.49 and after["fc"] >= 0.49
