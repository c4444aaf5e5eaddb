"""One prune(criterion=name) model fit per criterion, and the checks the fit tests make on it.

test_criteria.py and test_criteria_fit.py each check half of the criteria, so each file (one
xdist worker) fits half of the models.
"""

import numpy as np
import pytest
import tensorflow_model_optimization as tfmot

import tfprune
from tfprune.compat import keras
from tfprune.core import criteria, masks
from tfprune.masking import channels

L = keras.layers
LOSS = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
EVERY_STEP = tfmot.sparsity.keras.ConstantSparsity(0.5, begin_step=0, frequency=1)
PER_CHANNEL = {"fpgm", "apoz", "mean_activation", "hrank"}
# "sensitivity" is measured on calibration data when masks are chosen: prune() refuses it
# (tests/core/criteria/test_sensitivity.py covers one_shot/plan)
FIT = sorted(set(criteria.available()) - {"abs_cubed", "sensitivity"})
SAVED = ["taylor", "obd", "snip", "movement", "apoz", "mean_activation", "hrank", "l1", "l2",
         "fpgm", "bn_scale", "obs", "random"]
# fit in test_criteria.py: the criteria that collect gradient, activation or Hessian
# statistics in fit; the others in test_criteria_fit.py (sparsegpt and wanda there too, to even
# out the CPU time of the two files)
DATA_FIT = {"taylor", "obd", "snip", "movement", "apoz", "obs"}


def cnn(bn=False):
    """conv (BN, ReLU), flatten, fc, head on 6x6x2 inputs."""
    inp = keras.Input((6, 6, 2))
    x = L.Conv2D(4, 3, activation=None if bn else "relu", name="conv")(inp)
    if bn:
        x = L.BatchNormalization(name="bn")(x)
        x = L.ReLU()(x)
    x = L.Flatten()(x)
    x = L.Dense(8, activation="relu", name="fc")(x)
    return keras.Model(inp, L.Dense(3, name="head")(x))


def data(n=32):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, 6, 6, 2)).astype("float32"), rng.integers(0, 3, n)


def compile_built(model):
    """compile, and build the optimizer now: fit then traces its step once, not twice (a first
    trace that creates the optimizer's slots is thrown away and traced again)."""
    model.compile("adam", LOSS)
    model.optimizer.build(model.trainable_variables)


def check_target(model, granularity):
    """Weight granularity: half of the weights; channel: half of every group's channels."""
    ws = tfprune.masking.pruner.wrapped_layers(model)
    if granularity != "channel":
        assert tfprune.masking.pruner.sparsity_report(model)["sparsity"] == pytest.approx(
            0.5, abs=0.02)
        return
    for name, keep in channels.keep_state(ws).items():
        assert keep.sum() == int(masks.kept_count(len(keep), 0.5)), name


_FITTED = {}


def fitted(name):
    """prune(criterion=name) fit one epoch at a constant 0.5, built once per module.

    The after-fit and the save/load tests only read this model (the save/load test fits the
    copy it loads), so one fit serves both.
    """
    if name not in _FITTED:
        keras.utils.set_random_seed(1234)
        x, y = data()
        model = tfprune.prune(cnn(bn=name == "bn_scale"), schedule=EVERY_STEP, criterion=name)
        compile_built(model)
        model.fit(x, y, batch_size=16, epochs=1, verbose=0,
                  callbacks=[tfprune.PruningCallback()])
        _FITTED[name] = model
    return _FITTED[name]


def assert_scores_after_fit(name):
    """Scores have the documented shape (per channel or per weight), are finite, and the
    fitted model is at its target."""
    model = fitted(name)
    for w in tfprune.masking.pruner.wrapped_layers(model):
        if not w.scored:
            continue
        scores = w.scores(0)
        kernel = w.pruning_vars[0][0]
        if name in PER_CHANNEL:
            assert scores.shape.rank == 1
        else:
            assert scores.shape.as_list() == kernel.shape.as_list()
        assert np.all(np.isfinite(scores.numpy()))
    check_target(model, criteria.get(name).granularities[0])


def assert_save_and_load(name, path):
    """Criterion, statistics and scores survive .keras, and the loaded model trains on."""
    x, y = data()
    model = fitted(name)
    # at the (constant) target already: 0.5 of the weights, or of each group's channels
    # (then the report, a fraction of every masked weight, counts consumers' slices too)
    reached = tfprune.masking.pruner.sparsity_report(model)["sparsity"]
    assert reached >= 0.49
    model.save(path)
    again = keras.models.load_model(path)
    w1 = tfprune.masking.pruner.wrapped_layers(model)[0]
    w2 = tfprune.masking.pruner.wrapped_layers(again)[0]
    assert w2.criterion == w1.criterion
    for a, b in zip(w1.stat_variables(), w2.stat_variables(), strict=True):
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6)
    np.testing.assert_allclose(w1.scores(0).numpy(), w2.scores(0).numpy(), rtol=1e-5)
    compile_built(again)
    again.fit(x, y, batch_size=16, epochs=1, verbose=0, callbacks=[tfprune.PruningCallback()])
    assert tfprune.masking.pruner.sparsity_report(again)["sparsity"] == pytest.approx(
        reached, abs=0.02)
