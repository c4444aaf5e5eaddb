"""tfprune/analysis/weight_units.py: weight-granularity sensitivity units: scored by a
weight-only criterion (others refused naming the supported ones), pruned alone, restored."""

import numpy as np
import pytest
import tensorflow as tf

from tfprune import errors
from tfprune.analysis import weight_units
from tfprune.compat import keras


def _model():
    return keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="a"),
                             keras.layers.BatchNormalization(name="bn"),
                             keras.layers.Dense(2, name="b")])


def test_units_hold_each_prunable_layers_kernel_and_scores():
    m = _model()
    units = weight_units.units(m, "magnitude")
    assert list(units) == ["a", "b"]  # BatchNormalization has no prunable weight
    members, ws, scores = units["a"]
    assert members == ["a"] and [tuple(w.shape) for w in ws] == [(4, 3)]
    np.testing.assert_allclose(scores[0], np.abs(m.get_layer("a").kernel.numpy()))


@pytest.mark.parametrize("criterion", ["taylor", "fpgm"])
def test_criteria_needing_data_or_scoring_channels_are_refused(criterion):
    with pytest.raises(errors.ConfigError, match=r"weight-only criteria such as 'magnitude'"):
        weight_units.units(_model(), criterion)


def test_leaves_walk_nested_models():
    inner = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, name="in")], name="blk")
    m = keras.Sequential([keras.Input((4,)), inner, keras.layers.Dense(2, name="out")])
    assert [la.name for la in weight_units.leaves(m)] == ["in", "out"]


def test_apply_level_zeroes_the_lowest_scores_and_points_restore_every_weight():
    w = tf.Variable([[4.0, -1.0, 3.0, 0.5]])
    v = tf.Variable([[2.0, 1.0]])
    units = {"w": (["w"], [w], [tf.abs(w)]), "v": (["v"], [v], [tf.abs(v)])}
    weight_units.apply_level(units["w"], 0.5)
    assert w.numpy().tolist() == [[4.0, 0.0, 3.0, 0.0]]
    w.assign([[4.0, -1.0, 3.0, 0.5]])
    seen = []
    pts = list(weight_units.points(units, lambda: seen.append((w.numpy().copy(),
                                                               v.numpy().copy())) or 1.0,
                                   (0.25, 0.5)))
    assert [(p[0], p[2]) for p in pts] == [("w", 4), ("w", 4), ("v", 2), ("v", 2)]
    assert seen[0][0].tolist() == [[4.0, -1.0, 3.0, 0.0]] and seen[0][1].tolist() == [[2.0, 1.0]]
    assert seen[3][1].tolist() == [[2.0, 0.0]]
    assert w.numpy().tolist() == [[4.0, -1.0, 3.0, 0.5]] and v.numpy().tolist() == [[2.0, 1.0]]
