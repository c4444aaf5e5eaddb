"""tfprune.core.criteria.channel: weight-only channel criteria (L1, L2, FPGM, BN scale)."""

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune.core import criteria

from ._fitted import cnn as _cnn


@pytest.mark.slow
def test_bn_scale_removes_the_channels_with_smallest_gamma():
    m = _cnn(bn=True)
    m.get_layer("bn").gamma.assign([0.1, 2.0, -3.0, 0.2])
    p = tfprune.one_shot(m, 0.5, criterion="bn_scale", exclude=["fc"])
    kept = tfprune.masking.pruner.wrapped_layers(p)[0].pruning_vars[0][1].numpy().reshape(-1, 4)
    np.testing.assert_array_equal(kept.max(axis=0), [0, 1, 1, 0])
    bn = p.get_layer("prune_bn")
    np.testing.assert_array_equal(bn.pruning_vars[0][1].numpy(), [0, 1, 1, 0])  # gamma too


def test_l1_and_fpgm_match_hand_formulas():
    k = tf.constant([[1.0, -2.0, 0.0], [3.0, 0.0, 0.0]])
    per_channel = criteria.grouping.slice_scores(criteria.L1().score(k, {}), axis=-1)
    np.testing.assert_allclose(per_channel.numpy(), [4.0, 2.0, 0.0])
    d01, d02, d12 = np.sqrt(9 + 9), np.sqrt(1 + 9), 2.0
    np.testing.assert_allclose(criteria.FPGM().score(k, {}).numpy(),
                               [d01 + d02, d01 + d12, d02 + d12], rtol=1e-4)


def test_channel_criteria_use_axis_minus_two_for_conv_transpose():
    k = tf.reshape(tf.range(12, dtype=tf.float32), [1, 1, 3, 4])  # [h, w, out, in]
    got = criteria.grouping.slice_scores(criteria.L1().score(k, {}), axis=-2).numpy()
    np.testing.assert_allclose(got, np.abs(k.numpy()).sum(axis=(0, 1, 3)))


def test_bn_scale_without_batchnorm_falls_back_to_l1_with_a_warning():
    with pytest.warns(UserWarning, match="bn_scale.*l1 norm"):
        tfprune.one_shot(_cnn(), 0.5, criterion="bn_scale")
