"""PruningCallback with steps_per_execution > 1 applies every due update; a diverging run
stops with a tfprune error naming the step and the likely cause."""

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.masking import pruner

L = keras.layers
RNG = np.random.default_rng(0)
X = RNG.normal(size=(32, 6)).astype("float32")
Y = np.ones((32, 4), "float32")


def _mlp():
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((6,)), L.Dense(16, activation="relu"),
                             L.Dense(16, activation="relu"), L.Dense(4)])


def _run(model, spe, **kw):
    schedule = tfprune.schedules.AGP(0.9, begin_step=0, end_step=8, frequency=1)
    p = tfprune.prune(model, schedule=schedule, **kw)
    p.compile("sgd", "mse", steps_per_execution=spe)
    p.fit(X, Y, batch_size=4, epochs=1, verbose=0, callbacks=[tfprune.PruningCallback()])
    return pruner.sparsity_report(p)["sparsity"]


@pytest.mark.slow
@pytest.mark.parametrize("kw", [dict(scope="global"), dict(scope="layer"),
                                dict(granularity="channel", scope="global")],
                         ids=["weight-global", "weight-layer", "channel-global"])
def test_steps_per_execution_reaches_the_scheduled_sparsity(kw):
    # 8 steps, windows of 4: the updates due at steps 2..4 and 6..8 were skipped before
    assert _run(_mlp(), 4, **kw) == pytest.approx(_run(_mlp(), 1, **kw))


@pytest.mark.slow
def test_steps_per_execution_reaches_head_sparsity():
    inp = keras.Input((4, 6))
    h = L.MultiHeadAttention(4, 2, name="mha")(inp, inp)
    model = keras.Model(inp, L.Dense(4)(L.GlobalAveragePooling1D()(h)))
    x = RNG.normal(size=(32, 4, 6)).astype("float32")

    def run(spe):
        schedule = tfprune.schedules.AGP(0.75, begin_step=0, end_step=8, frequency=1)
        p = tfprune.prune(model, schedule=schedule, granularity="head")
        p.compile("sgd", "mse", steps_per_execution=spe)
        p.fit(x, Y, batch_size=4, verbose=0, callbacks=[tfprune.PruningCallback()])
        return pruner.sparsity_report(p)["sparsity"]

    windowed = run(4)
    assert windowed == pytest.approx(run(1)) and windowed > 0.5


@pytest.mark.slow
def test_nan_loss_stops_with_the_step_and_the_cause():
    p = tfprune.prune(_mlp(), sparsity=0.5)
    p.compile("sgd", "mse")
    y = Y.copy()
    # batch 2: a NaN label (a NaN input may not reach the loss: TF's oneDNN fused
    # MatMul+BiasAdd+ReLU turns NaN into 0 on some CPUs; its gradient still poisons the weights)
    y[9, 0] = np.nan
    with pytest.raises(errors.DataError, match=r"loss is nan at batch 2 of epoch 0 .*"
                                               r"pruning step 3.*learning rate.*data"):
        p.fit(X, y, batch_size=4, verbose=0, shuffle=False,
              callbacks=[tfprune.PruningCallback()])


def test_nan_weights_stop_at_the_epoch_end():
    p = tfprune.prune(_mlp(), sparsity=0.5)
    p.compile("sgd", "mse")
    cb = tfprune.PruningCallback()
    cb.set_model(p)
    cb.on_train_begin()
    kernel = pruner.wrapped_layers(p)[0].layer.kernel
    kernel.assign(np.full(kernel.shape, np.inf, "float32"))
    with pytest.raises(errors.DataError, match=r"weight .*kernel.* holds NaN/inf.*learning rate"):
        cb.on_epoch_end(0, {})
