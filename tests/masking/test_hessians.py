"""tfprune.masking.hessians: the input Gram matrices one-shot criteria read, checked against
the energy of the layer's own outputs."""

import numpy as np
import tensorflow as tf

from tests.core.criteria.test_oneshot_layers import (
    _attention_model,
    _depthwise_model,
    _smooth_images,
    _tokens,
)
from tfprune.core.criteria.obs import matrix_views
from tfprune.masking import hessians


def test_depthwise_gram_is_per_channel_over_its_taps():
    """w_c^T (X_c^T X_c) w_c is the energy of output (c, m): a wrong tap/channel order fails."""
    model, x = _depthwise_model(), _smooth_images(8)
    layer = model.get_layer("dw")
    (gram, rows), = hessians.gram_sums(layer, tf.constant(x))
    assert gram.shape.as_list() == [4, 9, 9] and float(rows) == 8 * 6 * 6
    views, _ = matrix_views(layer.depthwise_kernel.numpy(), gram.numpy())
    energy = np.array([np.sum(w * (h @ w), axis=0) for w, h in views])  # [C, multiplier]
    out = model(x).numpy().reshape(-1, 4, 2)
    np.testing.assert_allclose(energy, np.sum(out ** 2, axis=0), rtol=1e-4)


def test_attention_grams_include_the_recomputed_output_projection_input():
    model, x = _attention_model(), _tokens(8)
    layer = model.get_layer("mha")
    grams = hessians.gram_sums(layer, tf.constant(x), [tf.constant(x)])
    assert [g.shape.as_list() for g, _ in grams] == [[16, 16]] * 3 + [[32, 32]]
    wo = layer._output_dense.kernel.numpy().reshape(32, -1)
    energy = np.sum(wo * (grams[3][0].numpy() @ wo))
    pre_bias = model(x).numpy() - layer._output_dense.bias.numpy()
    np.testing.assert_allclose(energy, np.sum(pre_bias ** 2), rtol=1e-4)
