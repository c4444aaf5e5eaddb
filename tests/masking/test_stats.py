"""Statistics gathering: pure pieces, the gradient tap in every execution mode (the
MirroredStrategy comparison is in test_distribute.py: one subprocess for every 2-CPU run)."""


import numpy as np
import pytest
import tensorflow as tf
import tensorflow_model_optimization as tfmot

import tfprune
from tfprune.compat import keras
from tfprune.masking import stats

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def _data():
    rng = np.random.default_rng(0)
    return rng.normal(size=(48, 6)).astype("float32"), rng.integers(0, 3, 48)


def _model(criterion="taylor"):
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu", name="d1"),
                          L.Dense(3, name="d2")])
    late = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=1000)
    return tfprune.prune(m, schedule=late, criterion=criterion)


@pytest.mark.parametrize("scope,granularity", [("layer", "weight"), ("global", "weight"),
                                               ("global", "channel")])
def test_data_criterion_never_masks_before_statistics_exist(scope, granularity):
    m = keras.Sequential([keras.Input((6,)), L.Dense(8, name="d1"), L.Dense(3, name="d2")])
    p = tfprune.prune(m, sparsity=0.5, criterion="taylor", scope=scope, granularity=granularity)
    tfprune.before_step(p)  # step 0: nothing recorded yet, in any scope
    tfprune.masking.pruner.update_masks(p, step=0, scope=scope)
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == 0.0


@pytest.mark.slow
def test_data_criterion_masks_once_statistics_exist():
    x, y = _data()
    m = keras.Sequential([keras.Input((6,)), L.Dense(8, name="d1")])
    every = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
    p = tfprune.prune(m, schedule=every, criterion="taylor")
    p.compile("sgd", "mse")
    p.fit(x, np.zeros((48, 8)), batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == 0.5


def _expected(x, y):
    """Mean |g*w| of d1's kernel over 3 batches of 16, weights fixed (lr=0)."""
    p = _model()
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    kernel = w.pruning_vars[0][0]
    acc = 0
    for i in range(3):
        with tf.GradientTape() as tape:
            loss = LOSS(y[i * 16:(i + 1) * 16], p(x[i * 16:(i + 1) * 16], training=False))
        acc = acc + np.abs(tape.gradient(loss, kernel).numpy() * kernel.numpy())
    return acc


def test_gradient_tap_leaves_gradients_unchanged():
    v = tf.Variable([[1.0, 2.0], [3.0, 4.0]])
    x = tf.constant([[1.0, -1.0]])
    seen = []
    with tf.GradientTape(persistent=True) as tape:
        tape.watch(x)
        y1 = tf.reduce_sum(tf.tanh(x @ v))
    with tf.GradientTape() as tape2:
        tape2.watch(x)
        y2 = tf.reduce_sum(stats.gradient_tap(lambda t: tf.tanh(t @ v), x, [v],
                                              lambda gs: seen.extend(gs) or []))
    gx2, gv2 = tape2.gradient(y2, [x, v])
    np.testing.assert_allclose(tape.gradient(y1, v), gv2)
    np.testing.assert_allclose(tape.gradient(y1, x), gx2)
    np.testing.assert_allclose(seen[0], gv2)


def test_patches_times_kernel_equals_conv_output():
    conv = L.Conv2D(3, 3, strides=2, padding="same", dilation_rate=1, use_bias=False)
    x = tf.random.stateless_normal([2, 7, 7, 2], seed=[1, 2])
    y = conv(x)
    rows = stats.patches(conv, x) @ tf.reshape(conv.kernel, [-1, 3])
    np.testing.assert_allclose(tf.reshape(y, [-1, 3]), rows, atol=1e-5)


def test_activation_sums_counts_rank_of_feature_maps():
    a = tf.concat([tf.ones([1, 3, 3, 1]), tf.eye(3)[None, :, :, None]], axis=-1)
    s = stats.activation_sums({"act_rank"}, a)
    np.testing.assert_allclose(s["act_rank"], [1.0, 3.0])


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["graph_fit", "eager_fit", "loop", "loop_tf_function"])
def test_taylor_statistic_is_the_same_in_every_execution_mode(mode):
    x, y = _data()
    expected = _expected(x, y)
    p = _model()
    opt = keras.optimizers.SGD(0.0)
    if mode.endswith("fit"):
        p.compile(opt, LOSS, run_eagerly=mode == "eager_fit")
        p.fit(x, y, batch_size=16, epochs=1, shuffle=False, verbose=0,
              callbacks=[tfprune.PruningCallback()])
    else:
        tfprune.before_step(p)

        def step(xb, yb):
            with tf.GradientTape() as tape:
                loss = LOSS(yb, p(xb, training=True))
            opt.apply_gradients(zip(tape.gradient(loss, p.trainable_variables),
                                    p.trainable_variables, strict=True))

        if mode == "loop_tf_function":
            step = tf.function(step)
        for i in range(3):
            step(x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16])
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    got = w.statistics(0)["abs_grad_weight"].numpy() * 3
    np.testing.assert_allclose(got, expected, rtol=1e-4, atol=1e-7)


def test_statistics_are_not_gathered_in_inference_calls():
    x, _ = _data()
    p = _model("apoz")
    p(x, training=False)
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    assert float(w._act_vars["count"].numpy()) == 0.0


@pytest.mark.slow
@pytest.mark.parametrize("criterion,stat", [("apoz", "count"), ("taylor", None)])
def test_statistics_stop_after_the_schedules_last_update(criterion, stat):
    """No mask update can use statistics gathered after schedules.last_update: none are."""
    x, y = _data()
    m = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu", name="d1"),
                          L.Dense(3, name="d2")])
    p = tfprune.prune(m, schedule=tfprune.schedules.AGP(0.5, end_step=4, frequency=2),
                      criterion=criterion)
    p.compile("sgd", LOSS)
    w = tfprune.masking.pruner.wrapped_layers(p)[0]

    def gathered():  # samples (activations) or steps (gradients) recorded so far
        return float((w._act_vars["count"] if stat else w._grad_steps).numpy())

    p.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tfprune.PruningCallback()])
    after_six = gathered()  # 6 steps of 8 samples; the last update is at step 4
    assert 0 < after_six < 6 * (8 if stat else 1)
    p.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert gathered() == after_six


@pytest.mark.slow
def test_hrank_samples_a_few_steps_in_fit_and_every_sample_in_calibration():
    """HRank's SVDs: 8 samples of every 4th step in fit, all samples in one_shot."""
    x, y = _data()
    m = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu", name="d1"),
                          L.Dense(3, name="d2")])
    p = tfprune.prune(m, schedule=tfprune.schedules.Constant(0.5, frequency=1000),
                      criterion="hrank", granularity="channel")
    p.compile("sgd", LOSS)
    p.fit(x, y, batch_size=16, epochs=3, verbose=0, callbacks=[tfprune.PruningCallback()])
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    assert float(w._act_vars["samples"].numpy()) == 8 * 3  # training steps 0, 4, 8 of 9
    one = tfprune.one_shot(m, 0.5, criterion="hrank", granularity="channel", data=x)
    w = tfprune.masking.pruner.wrapped_layers(one)[0]
    assert float(w._act_vars["samples"].numpy()) == len(x)


@pytest.mark.slow
def test_statistics_keep_coming_for_a_schedule_without_a_last_update():
    x, y = _data()
    m = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu", name="d1"),
                          L.Dense(3, name="d2")])
    p = tfprune.prune(m, schedule=tfprune.schedules.Constant(0.5, frequency=2),
                      criterion="apoz")
    p.compile("sgd", LOSS)
    p.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tfprune.PruningCallback()])
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    assert float(w._act_vars["count"].numpy()) >= 6  # reset at updates, never gated
