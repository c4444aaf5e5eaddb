"""tfprune/analysis/outputs.py: what sensitivity measures on one or several outputs: labels
packed into one array per batch and back, the compiled total loss (weighted), one output's
metric by name, and refusals that say how to name the output."""

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.analysis import outputs
from tfprune.compat import keras


def _two(loss=None, loss_weights=None):
    i = keras.Input((4,))
    m = keras.Model(i, [keras.layers.Dense(3, activation="softmax", name="cls")(i),
                        keras.layers.Dense(1, name="reg")(i)], name="twin")
    if loss is not None:
        m.compile(loss=loss, loss_weights=loss_weights)
    return m


def test_labels_pack_and_unpack_numpy_and_tensors_in_their_shapes():
    lab = outputs.Labels(["a", "b"])
    y = lab.pack({"b": np.arange(6).reshape(2, 3), "a": np.array([7, 8])})
    assert y.dtype == np.float32 and y.tolist() == [[7, 0, 1, 2], [8, 3, 4, 5]]
    a, b = lab.unpack(y)
    assert a.tolist() == [7, 8] and b.shape == (2, 3)
    ta, tb = lab.unpack(tf.constant(y))
    assert ta.shape == (2,) and tb.numpy().tolist() == b.tolist()


@pytest.mark.parametrize("y, message", [
    ({"a": np.zeros(2)}, r"one entry per output \['a', 'b'\]; missing \['b'\]"),
    ({"a": np.zeros(2), "b": np.zeros(2), "c": np.zeros(2)}, r"unknown \['c'\]"),
    (np.zeros((2, 2)), r"give the labels of each batch as a list in output order \[y_a"),
    ([np.zeros(2), np.zeros(3)], r"different lengths \[2, 3\]"),
])
def test_labels_that_do_not_fit_the_outputs_are_refused(y, message):
    with pytest.raises(errors.DataError, match=message):
        outputs.Labels(["a", "b"]).pack(y)


def test_label_shapes_may_not_change_between_batches():
    lab = outputs.Labels(["a", "b"])
    lab.pack([np.zeros(2), np.zeros((2, 3))])
    with pytest.raises(errors.DataError, match="label shapes change between batches"):
        lab.pack([np.zeros(2), np.zeros((2, 4))])


def test_labelled_packs_arrays_batch_lists_and_generators():
    lab = outputs.Labels(["a", "b"])
    x, y = outputs.labelled((np.zeros((3, 2)), {"a": np.zeros(3), "b": np.ones(3)}), lab)
    assert y.shape == (3, 2)
    batches = outputs.labelled([(np.zeros((2, 2)), [np.zeros(2), np.ones(2)])] * 2, lab)
    assert [b[1].shape for b in batches] == [(2, 2), (2, 2)]
    gen = outputs.labelled(iter([(np.zeros((2, 2)), [np.zeros(2), np.ones(2)])]), lab)
    assert next(gen)[1].tolist() == [[0, 1], [0, 1]]
    with pytest.raises(errors.DataError, match=r"\(x, y\) batches.*got a batch of type ndarray"):
        outputs.labelled([np.zeros((2, 2))], lab)


def test_the_total_loss_is_the_weighted_sum_of_the_compiled_losses():
    m = _two({"cls": "sparse_categorical_crossentropy", "reg": "mse"}, {"cls": 1.0, "reg": 0.5})
    assert outputs.loss_weights(m, ["cls", "reg"]) == [1.0, 0.5]
    lab = outputs.Labels(["cls", "reg"])
    y = lab.pack({"cls": np.array([0, 2]), "reg": np.array([[1.0], [3.0]])})
    metric = outputs.measure(m, "loss", y, lab)
    p = [tf.constant([[0.5, 0.25, 0.25], [0.25, 0.25, 0.5]]), tf.constant([[0.0], [1.0]])]
    expected = -np.log(0.5) + 0.5 * (1.0 + 4.0) / 2
    assert metric.name == "loss" and not metric.higher_is_better
    assert float(tf.reduce_mean(metric.fn(tf.constant(y), p))) == pytest.approx(expected, rel=1e-5)


def test_one_outputs_metric_is_measured_on_that_output_only():
    m = _two({"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    lab = outputs.Labels(["cls", "reg"])
    y = lab.pack({"cls": np.array([0, 2]), "reg": np.array([[1.0], [3.0]])})
    p = [tf.zeros((2, 3)), tf.constant([[0.0], [1.0]])]
    for metric in ("reg_mae", {"reg": "mae"}):
        got = outputs.measure(m, metric, y, lab)
        assert got.name == "reg_mae"
        assert float(tf.reduce_mean(got.fn(tf.constant(y), p))) == pytest.approx(1.5)


@pytest.mark.parametrize("metric, message", [
    ("accuracy", r"metric='accuracy' does not say which output of model 'twin'.*"
                 r"metric='cls_accuracy'"),
    ({"cls": "accuracy", "reg": "mae"}, r"selects ONE output to measure, got 2 entries"),
    ({"box": "mae"}, r"names an output model 'twin' does not have; its outputs: \['cls', 'reg'\]"),
    ("reg_accuracy", r"cannot apply to output 'reg'.*metric='reg_<metric>'"),
])
def test_unclear_or_inapplicable_metrics_are_refused_naming_the_fix(metric, message):
    m = _two({"cls": "sparse_categorical_crossentropy", "reg": "mse"})
    lab = outputs.Labels(["cls", "reg"])
    y = lab.pack({"cls": np.array([0, 2]), "reg": np.array([[1.0], [3.0]])})
    with pytest.raises(errors.ConfigError, match=message):
        outputs.measure(m, metric, y, lab)


def test_the_total_loss_of_an_uncompiled_model_is_refused_naming_compile():
    lab = outputs.Labels(["cls", "reg"])
    y = lab.pack({"cls": np.array([0, 2]), "reg": np.array([[1.0], [3.0]])})
    with pytest.raises(errors.ConfigError, match=r"compile it with a loss per output"):
        outputs.measure(_two(), "loss", y, lab)
