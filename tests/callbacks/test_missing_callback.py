"""fit without PruningCallback raises MissingCallbackError, also for saved and reloaded models."""

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import errors
from tfprune.compat import keras
from tfprune.masking import train_guard as _train_guard


def _pruned():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, name="d")])
    return tfprune.prune(m, sparsity=0.5)


def _xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(8, 6)).astype("float32"), rng.normal(size=(8, 8)).astype("float32")


def _saved(tmp_path, ext):
    path = str(tmp_path / f"p{ext}")
    _pruned().save(path)
    return path


@pytest.mark.slow
@pytest.mark.parametrize("ext", [".keras", ".h5"])
def test_reloaded_model_without_callback_raises_missing_callback_error(tmp_path, ext):
    model = keras.models.load_model(_saved(tmp_path, ext), compile=False)
    model.compile("sgd", "mse")
    for _ in range(2):  # a failed step does not advance the step: the retry fails too
        with pytest.raises(errors.MissingCallbackError, match=r"PruningCallback.*before_step"):
            model.fit(*_xy(), verbose=0)
    assert tfprune.masking.pruner.global_step(model) == -1


@pytest.mark.slow
def test_tfprune_load_model_gets_the_guard_and_trains_with_the_callback(tmp_path):
    path = _saved(tmp_path, ".h5")
    model = tfprune.load_model(path)
    model.compile("sgd", "mse")
    with pytest.raises(errors.MissingCallbackError, match="PruningCallback"):
        model.train_on_batch(*_xy())
    model.fit(*_xy(), verbose=0, callbacks=[tfprune.PruningCallback()])
    assert tfprune.masking.pruner.sparsity_report(model)["sparsity"] == pytest.approx(0.5)


def test_guard_passes_other_errors_through_and_leaves_plain_models_alone():
    def fails():
        raise tf.errors.InvalidArgumentError(None, None, "some other assertion")

    with pytest.raises(tf.errors.InvalidArgumentError, match="some other"):
        _train_guard.guard(fails)()
    g = _train_guard.guard(fails)
    assert _train_guard.guard(g) is g
    plain = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8)])
    plain.compile("sgd", "mse")
    assert not getattr(plain.make_train_function(), "_tfprune_guarded", False)
    pruned = _pruned()
    pruned.compile("sgd", "mse")
    assert getattr(pruned.make_train_function(), "_tfprune_guarded", False)
