"""structured.plan options: granularity honoured or refused, limits that keep everything said."""

import warnings

import pytest

from tfprune import errors
from tfprune import structured as S
from tfprune.compat import keras

L = keras.layers


def mlp():
    return keras.Sequential([keras.Input((4,)), L.Dense(16, name="h"), L.Dense(2, name="out")])


def test_plan_granularity_channel_is_the_unit_and_weight_is_refused():
    m = mlp()
    assert len(S.plan(m, sparsity=0.5, granularity="channel").keep["h"]) == 8
    with pytest.raises(errors.ConfigError, match=r"granularity='weight' removes no channel.*one_shot"):
        S.plan(m, sparsity=0.5, granularity="weight")
    with pytest.raises(errors.ConfigError, match="n:m"):
        S.plan(m, sparsity=0.5, granularity="n:m")


def test_plan_granularity_filter_is_a_deprecated_score_from():
    with pytest.warns(DeprecationWarning, match="score_from='producers'"):
        p = S.plan(mlp(), sparsity=0.5, granularity="filter")
    assert len(p.keep["h"]) == 8


def test_plan_refuses_a_mapping_scope_naming_the_fix():
    with pytest.raises(errors.ConfigError, match=r"allocation.plan\(model\)"):
        S.plan(mlp(), sparsity=0.5, scope={"h": 0.5})


def test_plan_whose_min_channels_keep_everything_says_so():
    m = mlp()
    with pytest.warns(UserWarning, match=r"min_channels=100.*'h': 16 channels.*removes nothing"):
        p = S.plan(m, sparsity=0.5, min_channels=100)
    assert len(p.keep["h"]) == 16
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        S.plan(m, sparsity=0.5, min_channels=4)  # a limit that still lets it cut: no word
