"""The criterion contract: hooks declared with defaults, one checked scoring call, one
granularity table, one kept-count rule."""

import importlib

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.compat import keras
from tfprune.core import criteria, masks
from tfprune.masking import granularity, wrapper

sensitivity = importlib.import_module("tfprune.analysis.sensitivity")


def test_optional_hooks_are_declared_with_defaults():
    m = criteria.get("magnitude")
    assert (m.measured, m.data, m.sequential, m.compensates, m.train_samples,
            m.train_every, m.per_channel) == (False, None, False, False, None, 1, False)
    assert criteria.get("obs").compensates and criteria.get("obs").sequential
    assert criteria.get("sensitivity").measured
    assert criteria.get("hrank").train_samples == 8


def test_checked_scores_refuses_wrong_shape_and_inf():
    class Short(criteria.Criterion):
        def score(self, weight, stats):
            return tf.zeros([1])

    class Inf(criteria.Criterion):
        def score(self, weight, stats):
            return tf.abs(weight) / 0.0

    with pytest.raises(errors.ConfigError, match=r"shape \[1\].*expected \[2, 3\]"):
        criteria.checked_scores(Short(), tf.ones([2, 3]), {})
    with pytest.raises(errors.ConfigError, match=r"Inf.*6 NaN/inf.*layer 'x'"):
        criteria.checked_scores(Inf(), tf.ones([2, 3]), {}, where="layer 'x'")


def test_weight_key_is_the_wrappers():
    assert criteria.weight_key("fc", 3) == wrapper._weight_key("fc", 3)


def test_one_granularity_table_for_the_one_list():
    assert tuple(granularity.STRATEGIES) == criteria.GRANULARITIES
    assert [s.name for s in granularity.STRATEGIES.values() if s.grouped] == ["channel", "head"]
    assert not granularity.get("n:m").global_ranking
    with pytest.raises(errors.ConfigError, match="Did you mean 'block'"):
        granularity.get("blok")


@pytest.mark.parametrize("n", [1, 3, 10, 16, 77])
def test_kept_counts_is_kept_count(n):
    for s in np.linspace(0.0, 0.99, 23):
        for r, lo in ((1, 1), (4, 1), (1, 5)):
            assert int(masks.kept_counts(n, s, round_to=r, minimum=lo)) == int(
                masks.kept_count(n, s, round_to=r, minimum=lo))


def test_analysis_group_scores_come_from_the_registry():
    from tfprune import graph as graph_lib

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(6, name="h"),
                          keras.layers.Dense(2, name="out")])
    g = graph_lib.build(m)
    k = m.get_layer("h").kernel.numpy()
    l2 = sensitivity.group_scores(g, g.prunable(), "l2")[g["h"].index]
    np.testing.assert_allclose(l2, (k ** 2).sum(0), rtol=1e-5)
    fpgm = sensitivity.group_scores(g, g.prunable(), "fpgm")  # any weight-only criterion
    assert fpgm[g["h"].index].shape == (6,)
    with pytest.raises(errors.ConfigError, match="'taylor' needs data"):
        sensitivity.group_scores(g, g.prunable(), "taylor")
