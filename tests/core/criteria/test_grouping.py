"""core/criteria/grouping.py: per-weight scores -> per-channel group scores, and the group's
keep flags -> each member's mask (the refusals and the edge cases beyond the doctests)."""

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.core.criteria import grouping


def test_slice_scores_sums_other_axes_and_folds_a_depth_multiplier():
    s = np.arange(24, dtype="float32").reshape(2, 3, 4)
    np.testing.assert_array_equal(grouping.slice_scores(s, axis=1).numpy(), s.sum(axis=(0, 2)))
    np.testing.assert_array_equal(grouping.slice_scores(s, axis=-1).numpy(), s.sum(axis=(0, 1)))
    # a depthwise output of 3 inputs x multiplier 2: the 2 outputs of each input summed
    np.testing.assert_array_equal(
        grouping.slice_scores([1., 2., 3., 4., 5., 6.], axis=0, size=3).numpy(), [3., 7., 11.])
    with pytest.raises(errors.ConfigError, match="length 5 do not fit a weight axis of 3"):
        grouping.slice_scores([1., 2., 3., 4., 5.], axis=0, size=3)


def test_members_holding_other_groups_channels_are_left_out_of_the_sum_and_mean():
    # member a holds channels 0,1 at positions 0,1 and another group at position 2
    a = grouping.to_channels(tf.constant([2., 6., 100.]), np.array([0, 1, -1]), 2)
    b = grouping.to_channels(tf.constant([4.]), np.array([0]), 2)  # holds channel 0 only
    np.testing.assert_array_equal(a[0].numpy(), [2., 6.])
    assert b[1].tolist() == [True, False]
    assert grouping.reduce_members([a, b], "mean").numpy().tolist() == [3., 6.]
    assert grouping.reduce_members([a, b], "max").numpy().tolist() == [4., 6.]
    with pytest.raises(errors.ConfigError, match="reduction"):
        grouping.reduce_members([a], "median")
    with pytest.raises(errors.ConfigError, match="at least one scored member"):
        grouping.reduce_members([], "sum")


def test_member_mask_and_channel_alive_are_inverse_views_of_the_keep_flags():
    keep = np.array([True, False, True])
    positions = np.array([2, -1, 0, 1])  # input axis of a consumer: one foreign position
    mask = np.broadcast_to(grouping.member_mask(keep, positions, [4, 5], 0), (4, 5))
    assert mask[:, 0].tolist() == [1., 1., 1., 0.]  # the foreign position is kept
    np.testing.assert_array_equal(grouping.channel_alive(mask, positions, 0, 3), keep)
