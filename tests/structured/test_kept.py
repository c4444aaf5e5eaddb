"""structured/kept.py: the Plan value (kept channels per group), its JSON form and report."""

import json

from tfprune.structured.kept import Plan


def test_removed_counts_channels_and_json_round_trips_exactly():
    p = Plan({"conv": (0, 2, 5), "fc": (1,)}, {"conv": 8, "fc": 4})
    assert p.removed == 5 + 3
    d = json.loads(json.dumps(p.to_dict()))
    assert d == {"keep": {"conv": [0, 2, 5], "fc": [1]}, "channels": {"conv": 8, "fc": 4}}
    back = Plan.from_dict(d)
    assert back == p and isinstance(back.keep["conv"], tuple)


def test_report_separates_heads_from_channels():
    mixed = Plan({"conv": (0,), "att/heads": (1, 3)}, {"conv": 4, "att/heads": 4})
    assert str(mixed).splitlines() == [
        "Plan: 3 channels removed in 1 groups, 2 heads removed in 1 attention layers",
        "  conv: keep 1/4", "  att/heads: keep 2/4"]
    heads_only = Plan({"att/heads": (0,)}, {"att/heads": 2})
    assert str(heads_only).splitlines()[0] == "Plan: 1 heads removed in 1 attention layers"
