import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from tensorflow_model_optimization.sparsity import keras as tfmot

import tfprune
from tfprune import errors
from tfprune.compat import keras


def compiled(model):
    """compile (adam), and build the optimizer now: fit then traces its step once, not twice
    (a first trace that creates the optimizer's slots is thrown away and traced again)."""
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.optimizer.build(model.trainable_variables)
    return model


@pytest.fixture(scope="module")
def logged_fit(tmp_path_factory):
    """One AGP fit logged every way at once: History, CSVLogger after the PruningCallback,
    the callback's own TensorBoard events and TF-MOT's PruningSummaries (one trace serves
    the four tests below)."""
    keras.utils.set_random_seed(1234)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, size=64)
    L = keras.layers
    mlp = keras.Sequential([keras.Input((6,)), L.Dense(16, activation="relu", name="d1"),
                            L.Dense(16, activation="relu", name="d2"), L.Dense(3, name="d3")],
                           name="mlp")
    folder = tmp_path_factory.mktemp("logs")
    p = compiled(tfprune.prune(mlp, schedule=tfprune.schedules.AGP(0.8, end_step=12, frequency=4)))
    h = p.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[
        tfprune.PruningCallback(log_dir=str(folder / "tb")),
        keras.callbacks.CSVLogger(str(folder / "log.csv")),
        tfmot.PruningSummaries(log_dir=str(folder / "tfmot"))])
    return h, folder


@pytest.mark.slow
def test_history_holds_overall_and_per_layer_sparsity(logged_fit):
    h, _ = logged_fit
    s = h.history["sparsity"]
    assert len(s) == 3 and s[0] < s[-1]
    assert s[-1] == pytest.approx(0.8, abs=0.01)
    assert set(k for k in h.history if k.startswith("sparsity/")) == {
        "sparsity/d1", "sparsity/d2", "sparsity/d3"}


@pytest.mark.slow
def test_one_callback_instance_serves_two_fits(mlp, xy):
    x, y = xy
    cb = tfprune.PruningCallback()
    a = compiled(tfprune.prune(mlp, sparsity=0.5))
    b = compiled(tfprune.prune(mlp, sparsity=0.25))
    ha = a.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    hb = b.fit(x, y, epochs=1, verbose=0, callbacks=[cb])
    assert ha.history["sparsity"][0] == pytest.approx(0.5, abs=0.01)
    assert hb.history["sparsity"][0] == pytest.approx(0.25, abs=0.01)


def test_csv_logger_after_pruning_callback_records_sparsity(logged_fit):
    _, folder = logged_fit
    header = (folder / "log.csv").read_text().splitlines()[0].split(",")
    assert "sparsity" in header and "sparsity/d2" in header


def test_tensorboard_event_file_holds_per_layer_sparsity(logged_fit):
    _, folder = logged_fit
    tags = set()
    for path in glob.glob(os.path.join(folder / "tb", "events.out.tfevents.*")):
        for event in tf.compat.v1.train.summary_iterator(path):
            tags.update(v.tag for v in event.summary.value)
    assert {"sparsity", "sparsity/d1", "sparsity/d3", "mask_changes/d1"} <= tags


def test_tfmot_pruning_summaries_accepts_tfprune_wrappers(logged_fit):
    _, folder = logged_fit
    assert glob.glob(os.path.join(folder / "tfmot", "metrics", "events.out.tfevents.*"))


@pytest.mark.slow
def test_custom_training_loop_with_before_step(mlp, xy):
    x, y = xy
    p = tfprune.prune(mlp, schedule=tfprune.schedules.AGP(0.5, end_step=6, frequency=2))
    opt = keras.optimizers.SGD(0.1)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, p(xb, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, p.trainable_variables),
                                p.trainable_variables, strict=True))

    tfprune.before_step(p)
    for i in range(8):
        step(x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8])
    tfprune.masking.pruner.apply_masks(p)
    assert tfprune.masking.pruner.sparsity_report(p)["sparsity"] == pytest.approx(0.5, abs=0.01)
    assert tfprune.masking.pruner.global_step(p) == 8


def test_callback_on_unpruned_model_says_how_to_prune(mlp, xy):
    x, y = xy
    m = compiled(mlp)
    with pytest.raises(errors.ConfigError, match=r"tfprune\.prune"):
        m.fit(x, y, epochs=1, verbose=0, callbacks=[tfprune.PruningCallback()])


def test_callback_rejects_bad_log_dir():
    with pytest.raises(errors.ConfigError, match="log_dir"):
        tfprune.PruningCallback(log_dir="")


@pytest.mark.slow
def test_fit_restarts_keep_masks_of_one_shot_model(mlp, xy):
    x, y = xy
    p = compiled(tfprune.one_shot(mlp, 0.6))
    before = [m.numpy().copy() for w in tfprune.masking.pruner.wrapped_layers(p) for _, m, _ in w.pruning_vars]
    p.fit(x, y, epochs=1, batch_size=32, verbose=0, callbacks=[tfprune.PruningCallback()])
    after = [m.numpy() for w in tfprune.masking.pruner.wrapped_layers(p) for _, m, _ in w.pruning_vars]
    for a, b in zip(before, after, strict=True):
        assert a.sum() == b.sum()
    assert np.isclose(tfprune.masking.pruner.sparsity_report(p)["sparsity"], 0.6, atol=0.01)


@pytest.mark.slow
@pytest.mark.parametrize("scope", ["layer", "global"])
def test_custom_loop_with_one_call_per_step_matches_fit(mlp, xy, scope):
    x, y = xy
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)

    def make():
        return tfprune.prune(mlp, schedule=tfprune.schedules.AGP(0.6, end_step=6, frequency=2),
                             scope=scope)

    fitted = make()
    fitted.compile(keras.optimizers.SGD(0.1), loss_fn)
    fitted.fit(x, y, batch_size=8, epochs=1, shuffle=False, verbose=0,
               callbacks=[tfprune.PruningCallback()])

    looped = make()
    opt = keras.optimizers.SGD(0.1)

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = loss_fn(yb, looped(xb, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, looped.trainable_variables),
                                looped.trainable_variables, strict=True))

    for i in range(8):
        tfprune.before_step(looped)
        train_step(x[i * 8:(i + 1) * 8], y[i * 8:(i + 1) * 8])
    assert tfprune.masking.pruner.global_step(looped) == tfprune.masking.pruner.global_step(fitted) == 8
    for a, b in zip(tfprune.masking.pruner.wrapped_layers(fitted), tfprune.masking.pruner.wrapped_layers(looped), strict=True):
        np.testing.assert_array_equal(a.pruning_vars[0][1].numpy(), b.pruning_vars[0][1].numpy())
    assert tfprune.masking.pruner.sparsity_report(looped)["sparsity"] == pytest.approx(0.6, abs=0.01)


@pytest.mark.slow
def test_channel_pruning_logs_the_channel_fraction_next_to_the_weight_fraction():
    import numpy as np

    import tfprune
    from tfprune.compat import keras

    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, name="h"),
                          keras.layers.Dense(3, name="out")])
    p = tfprune.prune(m, sparsity=0.5, criterion="l1", granularity="channel")
    p.compile("sgd", "mse")
    h = p.fit(np.random.rand(32, 6), np.random.rand(32, 3), epochs=1, verbose=0,
              callbacks=[tfprune.PruningCallback()])
    assert h.history["channel_sparsity"][-1] == 0.5
    assert "channels" not in tfprune.masking.pruner.sparsity_report(
        tfprune.prune(m, sparsity=0.5))  # weight granularity: no channel figure
