"""tfprune.analysis.profiles: latency and arena profiles measured once per model."""

import pytest

from tfprune.analysis.allocate import Costs
from tfprune.graph.macs import count_macs


@pytest.mark.slow
def test_latency_profile_is_measured_once_and_fitted(cnn):
    from tfprune.analysis import profiles

    p = profiles.latency_profile(cnn, runs=30, per_group=True)
    units = Costs(cnn, "channel").units
    # dense, one copy per group with that group halved, two uniform shrinks
    assert len(p.points) == len(units) + 3 and p.a_ms >= 0 and p.b_ms_per_mac >= 0
    assert p.points[0][0] == count_macs(cnn) > p.points[-1][0]
    assert all(p.points[0][0] > q[0] for q in p.points[1:])  # every shrink removes MACs
    assert all(q[1] > 0 for q in p.points)
    assert set(p.slopes) == set(units) and min(p.slopes.values()) >= 0 <= p.other
    assert profiles.latency_profile(cnn, per_group=True) is p  # cached per model
    assert profiles.model_cache(cnn)["latency_groups"] is p  # target=("latency_ms", ...) uses it
