"""masking/updates.py: a wrapper's step counting, mask updates and target sparsity."""

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune.compat import keras
from tfprune.core import schedules
from tfprune.masking import pruner
from tfprune.masking.updates import CriterionPruning, MaskUpdateMixin
from tfprune.masking.wrapper import PruningWrapper, WrapperOptions

L = keras.layers


def _model(**kw):
    w = PruningWrapper(L.Dense(4, name="d"), schedules.Constant(0.5), **kw)
    return keras.Sequential([keras.Input((8,)), w]), w


def test_the_wrapper_counts_steps_and_masks_through_the_mixin():
    _, w = _model()
    assert isinstance(w, MaskUpdateMixin) and isinstance(w.pruning_obj, CriterionPruning)


def test_target_sparsity_is_the_schedule_times_the_scale_clipped_below_one():
    _, w = _model(options=WrapperOptions(sparsity_scale=1.5))
    assert w.target_sparsity(0) == pytest.approx(0.75)
    _, big = _model(options=WrapperOptions(sparsity_scale=4.0))
    assert big.target_sparsity(0) == pytest.approx(0.9999)


def test_last_update_is_the_schedules_and_computed_once():
    w = PruningWrapper(L.Dense(2), schedules.OneShot(0.5, step=3))
    assert w.last_update() == 3
    w.pruning_schedule = schedules.OneShot(0.5, step=9)  # cached: the first answer stays
    assert w.last_update() == 3


@pytest.mark.slow
def test_an_external_wrapper_keeps_the_mask_the_pruner_set():
    m, w = _model(options=WrapperOptions(update="external"))
    assert w.external
    mask = np.ones((8, 4), "float32")
    mask[:, 0] = 0.0
    w.pruning_vars[0][1].assign(mask)
    pruner.set_step(m, 0)
    x, y = np.ones((4, 8), "float32"), np.zeros((4, 4), "float32")
    m.compile("sgd", "mse")
    m.fit(x, y, epochs=1, verbose=0, callbacks=[tfprune.PruningCallback()])
    np.testing.assert_array_equal(w.pruning_vars[0][1].numpy(), mask)  # not recomputed
    assert np.all(w.layer.kernel.numpy()[:, 0] == 0.0)  # and applied to the weights


@pytest.mark.slow
def test_a_layer_wrapper_masks_itself_in_the_training_step():
    m, w = _model()
    assert not w.external
    m.compile("sgd", "mse")
    m.fit(np.ones((4, 8), "float32"), np.zeros((4, 4), "float32"), epochs=1, verbose=0,
          callbacks=[tfprune.PruningCallback()])
    assert pruner.global_step(m) >= 1
    assert float(tf.reduce_mean(w.pruning_vars[0][1])) == pytest.approx(0.5)


def test_begin_step_lets_only_the_first_eager_call_of_a_step_advance():
    m, w = _model()
    pruner.set_step(m, 0)
    x = np.ones((2, 8), "float32")
    w.begin_step()
    w(x, training=True)
    w(x, training=True)  # shared layer, same step: no second increment
    assert int(w.pruning_step.numpy()) == 1
    w.end_steps()
    w(x, training=True)
    w(x, training=True)  # outside begin_step every eager training call advances
    assert int(w.pruning_step.numpy()) == 3
