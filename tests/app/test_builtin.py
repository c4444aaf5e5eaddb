"""tfprune.app.builtin: offline data sets and demo models, still importable from app.data."""

import numpy as np

from tfprune.app import builtin
from tfprune.app import data as data_lib


def test_seeded_split_is_a_partition_fixed_by_the_seed():
    x, y = np.arange(10), np.arange(10) * 2
    (a, ya), (b, yb) = builtin.seeded_split(x, y, 7, seed=3)
    (a2, _), _ = builtin.seeded_split(x, y, 7, seed=3)
    assert sorted([*a, *b]) == list(range(10)) and len(a) == 7
    assert np.array_equal(a, a2) and np.array_equal(ya, a * 2) and np.array_equal(yb, b * 2)


def test_digits_and_demo_models_are_offline_and_reexported():
    (x, y), (xt, yt) = builtin.digits(0)
    assert x.shape[1:] == (8, 8, 1) and len(x) + len(xt) == 1797 and 0 <= x.min() <= x.max() <= 1
    assert data_lib.demo_cnn is builtin.demo_cnn and data_lib.BUILTIN is builtin.BUILTIN
    assert builtin.ds_cnn(input_shape=(8, 8, 1), filters=8).output_shape == (None, 10)
