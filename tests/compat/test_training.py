"""tfprune.compat._training: optimizers, losses, metrics and callbacks across Keras versions."""

import keras as keras3
import pytest
import tf_keras

from tfprune import errors
from tfprune.compat import _training


def test_unknown_training_object_kind_is_refused():
    from tfprune.compat import _training

    with pytest.raises(errors.ConfigError, match="kind"):
        _training.to_tf_keras_object("adam", "optimiser")


def test_optimizer_with_schedule_and_options_translates():
    sched = keras3.optimizers.schedules.ExponentialDecay(0.1, 10, 0.5)
    opt = _training.to_tf_keras_object(keras3.optimizers.SGD(sched, momentum=0.9,
                                                             clipnorm=1.0), "optimizer")
    assert isinstance(opt, tf_keras.optimizers.SGD) and opt.momentum == 0.9
    assert opt.clipnorm == 1.0 and float(opt._learning_rate(10)) == pytest.approx(0.05)
    back = _training.to_keras3_object(opt, "optimizer")
    assert isinstance(back, keras3.optimizers.SGD)
    assert float(back.learning_rate) == pytest.approx(0.1)  # a fresh schedule at step 0


def test_untranslatable_options_and_objects_are_refused_by_name():
    opt = keras3.optimizers.Adam(gradient_accumulation_steps=4)
    with pytest.raises(errors.KerasVersionError, match="gradient_accumulation_steps=4"):
        _training.to_tf_keras_object(opt, "optimizer")

    class MyMetric(keras3.metrics.Metric):
        def update_state(self, *a, **k):
            pass

        def result(self):
            return 0.0

    with pytest.raises(errors.KerasVersionError, match="MyMetric.*string name"):
        _training.to_tf_keras_object(MyMetric(), "metric")
