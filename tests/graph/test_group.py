"""tfprune/graph/group.py: dependency groups: where each member holds the group's channels
(said in words), whether the group may be pruned, and the graph's lookups by name."""

import numpy as np
import pytest

from tfprune import errors
from tfprune import graph as graph_lib
from tfprune.compat import keras
from tfprune.graph.group import DependencyGraph, Group, Member


def _member(positions, path="conv", how="produces"):
    return Member(path, "Conv2D", how, np.asarray(positions))


def test_member_where_describes_the_positions_of_the_groups_channels():
    assert _member([0, 1, 2, 3]).where(4) == ""
    assert _member([4, 5]).where(8) == " as group channels 4..5 of 8"
    assert _member([-1, 0, 1, 2, -1]).where(3) == " at positions 1..3 of 5"
    assert _member([0, 0, 1, 1, 2, 2]).where(3) == " (2 positions per channel, 6 in all)"
    assert _member([0, -1, 2, -1]).where(3) == " at 2 of 4 positions"


def test_a_group_is_prunable_unless_pinned_and_lists_layers_once():
    members = [_member([0, 1]), _member([0, 1], how="scales"),
               _member([0, 1], path="dense", how="consumes")]
    g = Group("conv", 0, 2, members)
    assert g.prunable and g.layers() == ["conv", "dense"]
    text = str(g).splitlines()
    assert text[0] == "Group 'conv': 2 channels, prunable"
    assert "produces; scales" in text[1] and text[2].strip().startswith("dense [Conv2D]")
    pinned = Group("conv", 0, 2, members, pinned_by=("model output 'conv'",))
    assert not pinned.prunable and "pinned: model output 'conv'" in str(pinned)


def _graph():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4, name="h"),
                          keras.layers.BatchNormalization(name="bn"),
                          keras.layers.Dense(2, name="out")])
    return graph_lib.build(m)


def test_keep_positions_follow_each_atoms_group_channel():
    g = _graph()
    use = next(u for u in g.uses if u.layer.name == "out" and u.role == "in")
    keep = g.keep_positions(use.atoms, {g["h"].index: np.array([True, False, True, False])})
    assert keep.tolist() == [True, False, True, False]


def test_lookups_by_name_and_unknown_names_suggest_the_closest():
    g = _graph()
    assert isinstance(g, DependencyGraph) and len(g) == len(list(g))
    assert g["h"].name == "h" and g.group_of("bn") is g["h"]
    assert [grp.name for grp in g.prunable()] == ["h"]  # out feeds the model output
    with pytest.raises(errors.ConfigError, match=r"Unknown group 'hh'\. Did you mean 'h'\?"):
        g["hh"]
    with pytest.raises(errors.ConfigError, match=r"No group has a member named 'nope'"):
        g.group_of("nope")


def test_why_none_prunable_says_model_outputs_keep_their_channels():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(2, name="out")])
    assert graph_lib.build(m).why_none_prunable() == (
        "every group is tied to a model input or output, whose channels are kept")
