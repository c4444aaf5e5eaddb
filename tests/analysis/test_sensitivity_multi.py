"""Sensitivity on multi-output models (tf_keras and Keras 3): the compiled total loss by
default, one output's metric by "<output>_<metric>" or {output: metric}, refusals naming the
output."""

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.analysis.sensitivity import sensitivity
from tfprune.compat import keras


def _two_heads(k):
    """A classification head and a regression head on a shared hidden layer."""
    i = k.Input((6,))
    h = k.layers.Dense(8, activation="relu", name="h")(i)
    c = k.layers.Dense(3, activation="softmax", name="cls")(h)
    r = k.layers.Dense(1, name="reg")(h)
    m = k.Model(i, [c, r])
    m.compile(optimizer="adam", loss={"cls": "sparse_categorical_crossentropy", "reg": "mse"},
              metrics={"cls": ["accuracy"], "reg": ["mae"]},
              loss_weights={"cls": 1.0, "reg": 0.5})
    return m


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    x = rng.random((64, 6)).astype("float32")
    return x, np.arange(64) % 3, (rng.random((64, 1)) * 10).astype("float32")


def _keras3():
    import keras as keras3

    return keras3


@pytest.mark.slow
@pytest.mark.parametrize("which", ["tf_keras", "keras3"])
@pytest.mark.parametrize("granularity", ["weight", "channel"])
def test_default_is_the_compiled_total_loss_and_one_output_is_selectable(which, granularity,
                                                                         xy):
    m = _two_heads(keras if which == "tf_keras" else _keras3())
    x, yc, yr = xy
    before = [w.copy() for w in m.get_weights()]
    want = m.evaluate(x, {"cls": yc, "reg": yr}, batch_size=64, verbose=0, return_dict=True)
    r = sensitivity(m, (x, {"cls": yc, "reg": yr}), granularity=granularity, levels=(0.5,),
                    progress=False)
    assert r.metric == "loss" and not r.higher_is_better
    # baseline = 1.0 * cls loss + 0.5 * reg loss, as Keras computes it
    assert r.baseline == pytest.approx(want["loss"], rel=1e-4)
    assert set(r.curves) == ({"h", "cls", "reg"} if granularity == "weight" else {"h"})
    acc = sensitivity(m, (x, [yc, yr]), granularity=granularity, metric="cls_accuracy",
                      levels=(0.5,), progress=False)
    assert acc.metric == "cls_accuracy" and acc.higher_is_better
    assert acc.baseline == pytest.approx(want["cls_accuracy"], abs=1e-6)
    mae = sensitivity(m, (x, [yc, yr]), granularity=granularity, metric={"reg": "mae"},
                      levels=(0.5,), progress=False)
    assert mae.metric == "reg_mae" and mae.baseline == pytest.approx(want["reg_mae"], rel=1e-4)
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_a_metric_that_cannot_apply_is_refused_naming_the_output(xy):
    m = _two_heads(keras)
    x, yc, yr = xy
    for metric in ("reg_accuracy", {"reg": "accuracy"}):
        with pytest.raises(errors.ConfigError, match=r"cannot apply to output 'reg'.*'reg_"):
            sensitivity(m, (x, [yc, yr]), metric=metric, progress=False)
    with pytest.raises(errors.ConfigError, match=r"does not say which output.*'cls_accuracy'"):
        sensitivity(m, (x, [yc, yr]), metric="accuracy", progress=False)
    with pytest.raises(errors.ConfigError, match=r"output.*does not have; its outputs"):
        sensitivity(m, (x, [yc, yr]), metric={"box": "mae"}, progress=False)


def test_labels_must_say_each_output(xy):
    m = _two_heads(keras)
    x, yc, yr = xy
    with pytest.raises(errors.DataError, match=r"missing \['reg'\]"):
        sensitivity(m, (x, {"cls": yc}), progress=False)
    with pytest.raises(errors.DataError, match="has 2 outputs"):
        sensitivity(m, [(x, yc)], progress=False)


def test_uncompiled_total_loss_refused_with_the_fix(xy):
    m = _two_heads(keras)
    plain = keras.Model(m.inputs, m.outputs)
    x, yc, yr = xy
    with pytest.raises(errors.ConfigError, match=r"compiled total loss: compile it"):
        sensitivity(plain, (x, [yc, yr]), progress=False)


@pytest.mark.slow
def test_dataset_of_dict_labels_is_read(xy):
    m = _two_heads(keras)
    x, yc, yr = xy
    ds = tf.data.Dataset.from_tensor_slices((x, {"cls": yc, "reg": yr})).batch(16)
    a = sensitivity(m, ds, metric="reg_mae", levels=(0.5,), progress=False)
    b = sensitivity(m, (x, [yc, yr]), metric="reg_mae", levels=(0.5,), progress=False)
    assert a.baseline == pytest.approx(b.baseline, rel=1e-5)
    assert a.curves["h"] == pytest.approx(b.curves["h"], rel=1e-5)


@pytest.mark.slow
def test_a_tuple_of_batches_is_read_as_batches(xy):
    m = _two_heads(keras)
    x, yc, yr = xy
    halves = ((x[:32], [yc[:32], yr[:32]]), (x[32:], {"cls": yc[32:], "reg": yr[32:]}))
    a = sensitivity(m, halves, metric="cls_loss", levels=(0.5,), progress=False)
    b = sensitivity(m, (x, [yc, yr]), metric="cls_loss", levels=(0.5,), progress=False)
    assert a.samples == 64 and a.metric == "cls_loss"
    assert a.baseline == pytest.approx(b.baseline, rel=1e-5)
