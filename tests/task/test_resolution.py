"""tfprune.task.resolution: one resolution of each output's kind, loss and metric (issue 27)."""

import numpy as np
import pytest

from tfprune import errors, task
from tfprune.compat import keras

L = keras.layers


def _two_outputs(K):
    i = K.Input((4,))
    return K.Model(i, [K.layers.Dense(1, name="reg")(i),
                       K.layers.Dense(3, activation="softmax", name="cls")(i)])


@pytest.mark.parametrize("backend", ["tf_keras", "keras3"])
def test_compile_state_of_either_keras_decides_each_output(backend):
    K = keras if backend == "tf_keras" else pytest.importorskip("keras")
    m = _two_outputs(K)
    m.compile(loss={"reg": K.losses.MeanSquaredError(),
                    "cls": K.losses.SparseCategoricalCrossentropy()},
              metrics={"reg": ["mae"], "cls": ["accuracy"]})
    reg, cls = task.resolve(m)
    assert (reg.output, reg.kind, reg.metrics) == ("reg", "regression", ("mae",))
    assert (cls.output, cls.kind, cls.class_scores) == ("cls", "sparse_categorical", True)
    with pytest.raises(errors.ConfigError, match="output 'reg'.*metric='mae'"):
        task.metric(reg, "accuracy")
    assert task.metric(cls, "accuracy").higher_is_better


@pytest.mark.parametrize("labels,units,activation,kind", [
    (np.array([6.0, 12.0, 18.0]), 1, None, "regression"),       # integral targets beyond 0/1
    (np.array([0.5, 1.25, 3.0]), 1, None, "regression"),
    (np.array([0, 1, 1]), 1, "sigmoid", "binary"),
    (np.array([0, 2, 1]), 3, None, "sparse_categorical"),
    (np.eye(3)[[0, 2, 1]], 3, None, "categorical"),
    (np.array([[0, 1, 1], [1, 0, 0]]), 3, "sigmoid", "binary"),  # multi-label
    (np.array([[0.1, 2.0, 3.0]]), 3, None, "regression"),
    (np.array([0, 2, 1]), 3, "softmax", "sparse_categorical"),
    (None, 3, "softmax", "sparse_categorical"),
    (None, 3, None, None),                                      # nothing says: unknown
])
def test_uncompiled_outputs_from_activation_and_labels(labels, units, activation, kind):
    m = keras.Sequential([keras.Input((4,)), L.Dense(units, activation=activation, name="o")])
    assert task.resolve(m, labels)[0].kind == kind


def test_autoencoder_is_per_position_regression_even_with_bce():
    i = keras.Input((8, 8, 1))
    h = L.Conv2D(4, 3, padding="same", activation="relu")(i)
    m = keras.Model(i, L.Conv2D(1, 3, padding="same", activation="sigmoid", name="rec")(h))
    m.compile(loss="binary_crossentropy")
    x = np.random.default_rng(0).random((4, 8, 8, 1)).astype("float32")
    t = task.resolve(m, x)[0]
    assert (t.kind, t.per_position, t.class_scores) == ("regression", True, False)
    assert "non-0/1" in t.source
    with pytest.raises(errors.ConfigError, match="output 'rec'"):
        task.metric(t, "accuracy")
    assert task.metric(t, "mse").name == "mse"


def test_explicit_task_unknown_names_and_refusals():
    m = keras.Sequential([keras.Input((4,)), L.Dense(1, name="o")])
    assert task.resolve(m, task="regression")[0].source == "task argument"
    assert task.resolve(m, task={"o": "binary"})[0].kind == "binary"
    with pytest.raises(errors.ConfigError, match="task"):
        task.resolve(m, task="segmentation")
    with pytest.raises(errors.ConfigError, match="outputs"):
        task.resolve(m, task={"nope": "binary"})
    unknown = task.resolve(m)[0]
    with pytest.raises(errors.ConfigError, match="cannot tell what output 'o'"):
        task.metric(unknown, "accuracy")
    with pytest.raises(errors.ConfigError, match="compile it first.*'mse'"):
        task.metric(task.resolve(m, task="regression")[0], "loss")
    cls = task.OutputTask("c", "sparse_categorical", False, 3)
    with pytest.raises(errors.ConfigError, match="output 'c'"):
        task.metric(cls, "mae")  # class ids against scores
    with pytest.raises(errors.ConfigError, match="metric"):
        task.metric(cls, "no_such_metric")

