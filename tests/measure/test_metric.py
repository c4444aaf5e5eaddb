"""measure/metric.py: one compiled evaluation over cached batches."""

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.compat import keras
from tfprune.measure import metric


@pytest.mark.parametrize("n,batch", [(256, 32), (300, 32), (37, 8), (10, 32), (1, 4), (96, 64)])
def test_chunk_size_divides_when_it_can_and_stays_near_the_batch_size(n, batch):
    bs = metric.chunk_size(n, batch)
    assert 1 <= bs <= max(n, 1)
    divisors = [s for s in range(batch // 2 + 1, batch * 3 // 2 + 1) if n % s == 0]
    if n <= batch:
        assert bs == n
    elif divisors:
        assert n % bs == 0 and bs in divisors
    else:
        assert bs == batch


def test_compiled_metric_is_the_sample_weighted_mean_and_follows_assigns():
    m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, use_bias=False)])
    m.layers[0].kernel.assign([[1.0], [2.0]])
    rng = np.random.default_rng(0)
    # 37 samples in uneven batches: no chunk size divides 37, so a tail chunk is used
    x = rng.normal(size=(37, 2)).astype("float32")
    y = rng.normal(size=(37, 1)).astype("float32")
    batches = [(x[:5], y[:5]), (x[5:30], y[5:30]), (x[30:], y[30:])]
    run = metric.compile_metric(m, batches, metric.loss_metric("mse"), batch_size=8)
    want = float(np.mean((x @ np.array([[1.0], [2.0]]) - y) ** 2))
    assert float(run()) == pytest.approx(want, rel=1e-5)
    m.layers[0].kernel.assign([[0.0], [0.0]])
    assert float(run()) == pytest.approx(float(np.mean(y ** 2)), rel=1e-5)
    assert run.experimental_get_tracing_count() == 1  # the assign did not retrace


def test_loss_metric_means_the_loss_and_refuses_unknown_names():
    fn = metric.loss_metric(keras.losses.MeanAbsoluteError())
    assert float(fn(tf.zeros([4, 1]), tf.fill([4, 1], 2.0))) == pytest.approx(2.0)
    with pytest.raises(errors.ConfigError):
        metric.loss_metric("no_such_loss")
