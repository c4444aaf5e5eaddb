"""tfprune.analysis.allocation: the Allocation mapping, its report and its plan."""

import pytest

from tfprune import errors
from tfprune.analysis import allocate
from tfprune.analysis.allocation import Allocation
from tfprune.compat import keras

L = keras.layers


def _cnn():
    i = keras.Input((8, 8, 3))
    h = L.Conv2D(8, 3, name="c1")(i)
    return keras.Model(i, L.Dense(2, name="out")(L.GlobalAveragePooling2D()(h)))


def test_allocation_is_a_mapping_with_a_json_report():
    a = Allocation({"c1": 0.5, "out": 0.0}, "weight", "uniform", ("sparsity", 0.25),
                   {"params": 10, "macs": 20, "sparsity": 0.25}, {"params": 20, "macs": 40})
    assert dict(a) == {"c1": 0.5, "out": 0.0} and len(a) == 2 and a["c1"] == 0.5
    assert a.to_dict()["target"] == ["sparsity", 0.25]
    assert "c1: 0.500" in str(a) and "out:" not in str(a)


def test_channel_plan_keeps_the_largest_channels_and_weight_plans_are_refused():
    m = _cnn()
    a = allocate(m, sparsity=0.5, method="uniform", granularity="channel")
    p = a.plan(m)
    assert list(p.keep) == ["c1"] and len(p.keep["c1"]) == 4 and p.channels == {"c1": 8}
    w = allocate(m, sparsity=0.5, method="uniform")
    with pytest.raises(errors.ConfigError, match="channel allocation"):
        w.plan(m)
