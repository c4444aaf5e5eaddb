"""callbacks/dynamic.py: what the mask-setting callbacks (RigL, SET, lottery) share: when a
wrapper's own schedule would overwrite their masks, and the magnitude mask that never
revives a pruned weight."""

import types

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.callbacks import dynamic
from tfprune.core import schedules


def test_firing_steps_of_element_wise_and_scalar_only_schedules():
    agp = schedules.AGP(0.5, begin_step=2, end_step=10, frequency=4)
    assert dynamic.firing_steps(agp, 0, 20) == [2, 6, 10]
    assert dynamic.firing_steps(agp, 7, 6) == []

    def scalar_only(step):  # a custom schedule that cannot take a vector of steps
        if step.shape.rank:
            raise ValueError("scalar steps only")
        return tf.equal(step % 5, 0), tf.constant(0.5)

    assert dynamic.firing_steps(scalar_only, 1, 16) == [5, 10, 15]


def test_an_active_schedule_is_refused_naming_the_layer_the_steps_and_the_fix():
    w = types.SimpleNamespace(name="fc", pruning_schedule=schedules.Constant(0.5, frequency=2))
    with pytest.raises(errors.ConfigError,
                       match=r"layer 'fc'.*steps 0, 2, 4, 6, 8, \.\.\..*schedules\.Manual\(\)"):
        dynamic.refuse_active_schedules([w], 0, 100, "RigL")
    manual = types.SimpleNamespace(name="fc", pruning_schedule=schedules.Manual())
    dynamic.refuse_active_schedules([manual], 0, 100, "RigL")  # never fires: accepted


def test_fit_length_from_the_callback_params_else_the_horizon():
    cb = types.SimpleNamespace(params={"steps": 7, "epochs": 3})
    assert dynamic.fit_length(cb) == 21
    assert dynamic.fit_length(types.SimpleNamespace(params={"epochs": 3})) == dynamic.HORIZON


def test_magnitude_mask_keeps_the_largest_active_weights():
    w = tf.constant([5., -4., 3., -2., 1., 0.5])
    mask = tf.constant([1., 1., 0., 1., 1., 1.])  # 3. already pruned
    got = dynamic.magnitude_mask(w, mask, 0.5).numpy()
    np.testing.assert_array_equal(got, [1., 1., 0., 1., 0., 0.])  # 3 kept: 5, -4, -2
    v, m = tf.Variable([5., -4., 3.]), tf.Variable([1., 1., 1.])
    dynamic.set_mask(v, m, [1., 0., 1.])
    assert v.numpy().tolist() == [5., 0., 3.] and m.numpy().tolist() == [1., 0., 1.]
