"""masking/keras3_training.py: the schedule in Keras 3's fit and in a custom loop (before_step)."""

import pytest

import tfprune
from tests.masking._keras3_models import _compile, _data, _mlp, _zero_frac
from tfprune import errors  # noqa: F401
from tfprune.masking import keras3_slots

keras = pytest.importorskip("keras")


@pytest.mark.slow
def test_schedule_ramps_sparsity_during_fit():
    p = tfprune.prune(_mlp(), schedule=tfprune.schedules.AGP(0.75, end_step=8, frequency=2))
    _compile(p)
    x, y = _data((8,), 3)
    h = p.fit(x, y, epochs=3, batch_size=16, verbose=0, callbacks=[tfprune.PruningCallback()])
    s = h.history["sparsity"]
    assert s[0] < s[-1] and s[-1] == pytest.approx(0.75, abs=0.01)
    assert keras3_slots.state_of(p).step == 12


def test_custom_training_loop_with_before_step():
    import tensorflow as tf

    p = tfprune.prune(_mlp(), sparsity=0.5)
    opt = keras.optimizers.SGD(0.5)
    x, y = _data((8,), 3, n=16)
    loss_fn = keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    zeros = []
    for _ in range(3):
        tfprune.before_step(p)
        zeros.append(_zero_frac(p.fc1.kernel))
        with tf.GradientTape() as tape:
            loss = loss_fn(y, p(x, training=True))
        opt.apply_gradients(zip(tape.gradient(loss, p.trainable_variables),
                                p.trainable_variables, strict=True))
    assert zeros == [0.5] * 3 and _zero_frac(p.fc1.kernel) < 0.5  # the step regrew them
    assert keras3_slots.state_of(p).step == 3
    assert _zero_frac(tfprune.strip(p).fc1.kernel) == 0.5
