"""distill(): the pruned student learns from a frozen teacher; masks stay; strip works."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.core import masks
from tfprune.masking import channels, pruner

L = keras.layers


def _teacher(out=3, act=None):
    m = keras.Sequential([keras.Input((8,)), L.Dense(16, activation="relu", name="h"),
                          L.Dense(out, activation=act, name="out")])
    return m


def _data(n=64):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(n, 8)).astype("float32")
    return x, (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)


def _fit(d, x, y, epochs=4):
    return d.fit(x, y, epochs=epochs, batch_size=16, verbose=0,
                 callbacks=[tfprune.callbacks.PruningCallback()]).history


@pytest.mark.slow
def test_classification_distillation_trains_keeps_the_schedule_and_strips():
    x, y = _data()
    teacher = _teacher(act="softmax")
    before = [w.copy() for w in teacher.get_weights()]
    schedule = tfprune.schedules.AGP(0.75, begin_step=0, end_step=8, frequency=2)
    student = tfprune.prune(teacher, schedule=schedule)
    d = tfprune.distill(student, teacher, temperature=3.0, alpha=0.5)
    d.compile(keras.optimizers.Adam(1e-2), loss="sparse_categorical_crossentropy",
              metrics=["accuracy"])
    h = _fit(d, x, y, epochs=5)
    assert h["loss"][-1] < h["loss"][0] and h["distill_loss"][-1] < h["distill_loss"][0]
    assert "accuracy" in h
    for w in pruner.wrapped_layers(student):
        assert masks.mask_sparsity(w.pruning_vars[0][1]) == pytest.approx(0.75, abs=0.02)
    for a, b in zip(before, teacher.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)  # the teacher is never changed
    assert not pruner.wrapped_layers(teacher)
    plain = tfprune.strip(d.student)
    assert not pruner.is_pruned(plain)
    np.testing.assert_allclose(plain.predict(x, verbose=0), d.predict(x, verbose=0), atol=1e-6)
    assert np.mean(plain.get_layer("h").kernel.numpy() == 0) == pytest.approx(0.75, abs=0.02)


@pytest.mark.slow
def test_regression_distillation_with_one_shot_channel_student():
    x, _ = _data()
    teacher = _teacher(out=2)
    student = tfprune.one_shot(teacher, 0.5, granularity="channel")
    d = tfprune.distill(student, teacher, task="regression", alpha=1.0)
    d.compile(keras.optimizers.Adam(1e-2), loss="mse")
    target = teacher.predict(x, verbose=0)
    err0 = float(np.mean((student.predict(x, verbose=0) - target) ** 2))
    h = _fit(d, x, None, epochs=6)  # no labels: the teacher's outputs are the targets
    err1 = float(np.mean((student.predict(x, verbose=0) - target) ** 2))
    assert h["loss"][-1] < h["loss"][0] and err1 < err0
    keep = channels.keep_state(pruner.wrapped_layers(student))
    assert {g: int(k.sum()) for g, k in keep.items()} == {"h": 8}
    small = tfprune.shrink(tfprune.strip(d.student))
    assert small.get_layer("h").units == 8


def test_distill_refuses_bad_arguments():
    t = _teacher()
    with pytest.raises(errors.ConfigError, match="task"):
        tfprune.distill(tfprune.prune(t, sparsity=0.5), t, task="ranking")
    with pytest.raises(errors.ConfigError, match="temperature"):
        tfprune.distill(tfprune.prune(t, sparsity=0.5), t, temperature=0)
    with pytest.raises(errors.ConfigError, match="alpha"):
        tfprune.distill(tfprune.prune(t, sparsity=0.5), t, alpha=1.5)
    with pytest.raises(errors.ConfigError, match="same model"):
        tfprune.distill(t, t)
    with pytest.raises(errors.ConfigError, match="outputs"):
        tfprune.distill(tfprune.prune(_teacher(out=4), sparsity=0.5), t)
