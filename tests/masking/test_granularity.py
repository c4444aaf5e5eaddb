"""masking/granularity.py: the one table of strategies (weight, n:m, block, channel, head)."""

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.core.criteria.base import GRANULARITIES
from tfprune.masking import granularity


class _W:  # what a strategy reads of a wrapper
    n_m, block = (2, 4), (2, 2)


def test_one_strategy_per_name_and_aliases_resolved():
    assert tuple(granularity.STRATEGIES) == GRANULARITIES
    assert granularity.get("unstructured").name == "weight"
    with pytest.raises(errors.ConfigError, match="granularity"):
        granularity.get("rows")
    grouped = {n for n, s in granularity.STRATEGIES.items() if s.grouped}
    assert grouped == {"channel", "head"}
    assert all(s.select is None for n, s in granularity.STRATEGIES.items() if n in grouped)


def test_block_pools_a_score_per_block_and_expands_it_back():
    s = granularity.get("block")
    scores = tf.constant(np.arange(16, dtype="float32").reshape(4, 4))
    pooled = s.pool(scores, _W()).numpy()
    np.testing.assert_allclose(pooled, [[2.5, 4.5], [10.5, 12.5]])  # means of 2x2 blocks
    unit = tf.constant([[1.0, 0.0], [0.0, 1.0]])
    full = s.expand(unit, [4, 4], _W()).numpy()
    np.testing.assert_array_equal(full, np.kron(unit.numpy(), np.ones((2, 2))))


def test_n_m_keeps_n_of_every_m_once_the_sparsity_is_positive():
    s = granularity.get("n:m")
    scores = tf.constant(np.random.default_rng(0).random((8, 3)).astype("float32"))
    kept = s.select(scores, tf.constant(0.5), _W()).numpy()
    assert kept.reshape(2, 4, 3).sum(axis=1).tolist() == [[2] * 3] * 2
    assert s.select(scores, tf.constant(0.0), _W()).numpy().all()  # no pruning asked yet
    assert not s.global_ranking


def test_fits_names_the_weight_and_what_divides():
    with pytest.raises(errors.ConfigError, match=r"axis 0 of weight kernel \(shape \(6, 3\)\) "
                                                 r"divisible by 4"):
        granularity.get("n:m").fits("kernel", (6, 3), (2, 4), (4, 1), "", ".")
    with pytest.raises(errors.ConfigError, match=r"block \(4, 1\) does not tile weight kernel"):
        granularity.get("block").fits("kernel", (6, 3), (2, 4), (4, 1), "", ", or pass x.")
    granularity.get("block").fits("kernel", (8, 3), (2, 4), (4, 1), "", ".")  # fits: no error
    with pytest.raises(errors.ConfigError, match="N < M"):
        granularity.get("n:m").fits("kernel", (8, 3), (4, 4), (4, 1), "", ".")
