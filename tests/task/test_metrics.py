"""tfprune.task.metrics: the measures that fit each kind of output (issue 27, any task)."""

import tensorflow as tf

from tfprune import task
from tfprune.compat import keras

L = keras.layers


def test_loss_names_logits_and_metrics():
    m = keras.Sequential([keras.Input((4,)), L.Dense(1, name="logit")])
    m.compile(loss=keras.losses.BinaryCrossentropy(from_logits=True))
    t = task.resolve(m)[0]
    assert (t.kind, t.from_logits) == ("binary", True)
    acc = task.metric(t, "accuracy").fn  # logits: threshold 0
    assert float(acc(tf.constant([1.0, 0.0]), tf.constant([[0.2], [-0.3]]))) == 1.0
    m.compile(loss="categorical_crossentropy")
    assert task.resolve(m)[0].kind == "categorical"
    m2 = keras.Sequential([keras.Input((4,)), L.Dense(2, name="o")])
    m2.compile(loss=lambda y, p: p, metrics=[keras.metrics.MeanAbsoluteError()])
    assert task.resolve(m2)[0].source == "metric 'mean_absolute_error'"


def test_directions_and_defaults():
    assert [task.direction(n) for n in ("val_mae", "val_loss", "val_auc", "val_rmse",
                                        "val_binary_accuracy")] == ["min", "min", "max", "min",
                                                                   "max"]
    assert task.default_loss("categorical") == "categorical_crossentropy"
    assert task.default_metrics(None) == ()

