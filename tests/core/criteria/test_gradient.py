"""tfprune.core.criteria.gradient: Taylor, OBD, SNIP and movement scores from gradient
statistics."""

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune.core import criteria

from ._fitted import LOSS
from ._fitted import cnn as _cnn
from ._fitted import data as _data


def _taylor_stats_by_hand(model, x, y, steps):
    """Mean over steps of |g*w|, g*g, g, -w*g for the first wrapper, with a plain tape."""
    w0 = tfprune.masking.pruner.wrapped_layers(model)[0]
    kernel = w0.pruning_vars[0][0]
    acc = {k: np.zeros(kernel.shape) for k in ("abs", "sq", "g", "mv")}
    for i in range(steps):
        xb, yb = x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]
        with tf.GradientTape() as tape:
            loss = LOSS(yb, model(xb, training=False))
        g = tape.gradient(loss, kernel).numpy()
        w = kernel.numpy()
        acc["abs"] += np.abs(g * w) / steps
        acc["sq"] += g * g / steps
        acc["g"] += g / steps
        acc["mv"] += -w * g / steps
    return acc


@pytest.mark.slow
def test_gradient_statistics_match_a_plain_gradient_tape():
    x, y = _data(48)
    m = _cnn()
    ref = tfprune.prune(m, sparsity=0.5, criterion="magnitude")
    by_hand = _taylor_stats_by_hand(ref, x, y, 3)
    for name, key, formula in [
        ("taylor", "abs", lambda w, a: a),
        ("obd", "sq", lambda w, a: 0.5 * w * w * a),
        ("snip", "g", lambda w, a: np.abs(w * a)),
        ("movement", "mv", lambda w, a: a),
    ]:
        batches = [(x[i * 16:(i + 1) * 16], y[i * 16:(i + 1) * 16]) for i in range(3)]
        p = tfprune.one_shot(m, 0.5, criterion=name, data=tfprune.Calibration(batches, loss=LOSS))
        w0 = tfprune.masking.pruner.wrapped_layers(p)[0]
        w0.pruning_vars[0][1].assign(tf.ones_like(w0.pruning_vars[0][1]))
        dense_kernel = m.get_layer("conv").kernel.numpy()
        got = w0.criterion.score(tf.constant(dense_kernel), w0.statistics(0)).numpy()
        np.testing.assert_allclose(got, formula(dense_kernel, by_hand[key]), rtol=1e-4,
                                   atol=1e-7, err_msg=name)


def test_obd_scores_half_w_squared_times_mean_squared_gradient():
    w = tf.constant([[1.0, -2.0]])
    g2 = tf.constant([[0.5, 0.25]])
    np.testing.assert_allclose(criteria.OBD().score(w, {"grad_sq": g2}).numpy(), [[0.25, 0.5]])
