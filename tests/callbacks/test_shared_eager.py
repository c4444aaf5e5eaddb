"""A shared layer (called twice per step) advances its pruning step once per step, eager or not."""

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune.compat import keras
from tfprune.masking import pruner


def _shared_model():
    L = keras.layers
    a, b = keras.Input((6,), name="a"), keras.Input((6,), name="b")
    shared = L.Dense(8, name="shared")
    out = L.Dense(2, name="head")(L.Concatenate(name="cat")([shared(a), shared(b)]))
    return keras.Model([a, b], out)


def _data():
    rng = np.random.default_rng(0)
    x = [rng.normal(size=(48, 6)).astype("float32") for _ in range(2)]
    return x, rng.normal(size=(48, 2)).astype("float32")


def _run(run_eagerly, epochs):
    keras.utils.set_random_seed(0)
    p = tfprune.prune(_shared_model(), schedule=tfprune.schedules.AGP(0.8, end_step=12,
                                                                        frequency=3))
    p.compile("sgd", "mse", run_eagerly=run_eagerly)
    x, y = _data()
    p.fit(x, y, batch_size=8, epochs=epochs, verbose=0, shuffle=False,
          callbacks=[tfprune.PruningCallback()])
    return pruner.global_step(p), pruner.sparsity_report(p)["layers"]["shared"]


@pytest.mark.slow
def test_shared_layer_steps_once_per_batch_with_run_eagerly():
    # 6 batches: the schedule (12 steps) is half-way; double steps would finish it
    graph, eager = _run(False, 1), _run(True, 1)
    assert graph[0] == eager[0] == 6
    assert eager[1] == pytest.approx(graph[1])
    assert 0.3 < eager[1] < 0.75


@pytest.mark.slow
def test_eager_custom_loop_with_before_step_steps_a_shared_layer_once():
    p = tfprune.prune(_shared_model(), schedule=tfprune.schedules.AGP(0.8, end_step=4,
                                                                        frequency=1))
    x, _ = _data()
    for _ in range(4):
        tfprune.before_step(p)
        p([tf.constant(x[0][:8]), tf.constant(x[1][:8])], training=True)  # eager
    assert pruner.global_step(p) == 4
    assert pruner.sparsity_report(p)["layers"]["shared"] == pytest.approx(0.8, abs=0.02)
