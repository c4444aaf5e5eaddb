"""analysis/result.py: the SensitivityResult value: degradation in the metric's direction,
the ranking, the JSON round trip (the model left out) and the report table."""

import json

import numpy as np

from tfprune.analysis.result import SensitivityResult


def _result(higher_is_better=False, **kw):
    return SensitivityResult(
        granularity="channel", levels=(0.25, 0.5), metric="accuracy" if higher_is_better
        else "loss", higher_is_better=higher_is_better, baseline=1.0,
        curves={"a": [1.1, 1.6], "b": [1.0, 1.2], "c": [0.9, 0.7]},
        sizes={"a": 8, "b": 16, "c": 4}, members={"a": ["a"], "b": ["b", "b2"], "c": ["c"]},
        criterion="l2", samples=64, seconds=0.5, **kw)


def test_degradation_follows_the_metric_direction_and_ranks_units():
    loss = _result()
    np.testing.assert_allclose(loss.degradation("a"), [0.1, 0.6])
    assert loss.ranking() == ["c", "b", "a"]  # least sensitive first (at the top level)
    acc = _result(higher_is_better=True)
    np.testing.assert_allclose(acc.degradation("a"), [-0.1, -0.6])
    assert acc.ranking() == ["a", "b", "c"]


def test_json_round_trip_leaves_the_model_out(tmp_path):
    r = _result(model=object())
    path = tmp_path / "s.json"
    text = r.to_json(path)
    assert json.loads(path.read_text()) == json.loads(text) and "model" not in json.loads(text)
    back = SensitivityResult.from_dict(json.loads(text))
    assert back == r and back.model is None and back.levels == (0.25, 0.5)


def test_table_names_the_units_kind_and_the_baseline():
    rows = _result().table().splitlines()
    assert rows[0].split() == ["unit", "size", "25%", "50%"]
    assert rows[1].split() == ["a", "8", "1.1000", "1.6000"]
    assert rows[-1] == "baseline loss = 1.0000 on 64 samples, 3 groups, 0.5 s"
