import json

import numpy as np
import pytest

from tfprune import errors
from tfprune.analysis.budget import to_budget
from tfprune.compat import keras
from tfprune.graph.macs import count_macs

L = keras.layers


@pytest.fixture(scope="module")
def digits_model():
    from tfprune.app.data import digits

    keras.utils.set_random_seed(0)
    (xtr, ytr), (xte, yte) = digits()
    m = keras.Sequential([keras.Input((8, 8, 1)),
                          L.Conv2D(16, 3, padding="same", activation="relu", name="c1"),
                          L.Conv2D(24, 3, activation="relu", name="c2"), L.MaxPooling2D(),
                          L.Flatten(), L.Dense(32, activation="relu", name="fc"),
                          L.Dense(10, activation="softmax", name="out")])
    m.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    m.fit(xtr, ytr, epochs=4, batch_size=64, verbose=0)
    return m, (xtr, ytr), (xte, yte)


@pytest.mark.slow
def test_macs_budget_met_and_reported(digits_model, tmp_path):
    m, train, val = digits_model
    before = [w.copy() for w in m.get_weights()]
    r = to_budget(m, train, target=("macs", 0.35), fine_tune=1, validation_data=val, progress=False)
    assert r.met and count_macs(r.model) == r.achieved <= 0.35 * count_macs(m)
    assert r.rounds[0]["predicted"] == r.rounds[0]["measured"]  # the MAC model is exact
    assert r.accuracy is not None and r.accuracy > 0.5
    assert r.model.count_params() < m.count_params()
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    paths = r.save(str(tmp_path / "rep"))
    assert json.load(open(paths["json"]))["met"] is True
    assert "MET" in open(paths["markdown"]).read()
    assert open(paths["png"], "rb").read(4) == b"\x89PNG"


@pytest.mark.slow
def test_callable_fine_tune_is_used(digits_model):
    m, train, _ = digits_model
    seen = []

    def ft(small):
        seen.append(small.count_params())
        return small

    r = to_budget(m, train, target=("macs", 100_000), fine_tune=ft, progress=False)
    assert seen and r.met and r.achieved <= 100_000


@pytest.mark.slow
def test_bytes_budget_measures_the_int8_file(digits_model):
    m, train, val = digits_model
    r = to_budget(m, train, target=("bytes", 0.5), fine_tune=0, validation_data=val, progress=False)
    assert r.met == (r.achieved <= 0.5 * r.dense)
    assert r.met


@pytest.mark.slow
def test_missed_budget_is_said(digits_model, monkeypatch):
    from tfprune.analysis import budget

    m, train, _ = digits_model
    real = budget._measure
    monkeypatch.setattr(budget, "_measure",
                        lambda name, model, x: real(name, model, x) * (1 if model is m else 5))
    with pytest.warns(UserWarning, match="NOT met"):
        r = to_budget(m, train, target=("macs", 0.5), fine_tune=0, max_rounds=2, progress=False)
    assert not r.met and len(r.rounds) <= 2
    assert "NOT MET" in r.to_markdown()


@pytest.mark.parametrize("keyword", ["macs", "bytes", "flash", "latency_ms", "arena"])
def test_deprecated_budget_keywords_warn_and_are_the_target(keyword):
    # the keyword is taken as the budget (not refused as no budget); max_rounds is checked next
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    m.compile("adam", "mse")
    data = (np.zeros((8, 4), "float32"), np.zeros((8, 2), "float32"))
    with pytest.warns(DeprecationWarning, match=rf"{keyword}= is deprecated; use target=\("), \
            pytest.raises(errors.ConfigError, match="max_rounds") as old:
        to_budget(m, data, **{keyword: 0.5}, max_rounds=0)
    with pytest.raises(errors.ConfigError, match="max_rounds") as new:
        to_budget(m, data, target=(keyword, 0.5), max_rounds=0)
    assert str(old.value) == str(new.value)
    with pytest.raises(errors.ConfigError, match="keyword argument .* 'mac'"):
        to_budget(m, data, mac=0.5)


@pytest.mark.slow
def test_bad_input_before_work(digits_model):
    m, train, _ = digits_model
    with pytest.raises(errors.ConfigError, match="exactly one budget"):
        to_budget(m, train)
    with pytest.raises(errors.ConfigError, match="exactly one budget"):
        to_budget(m, train, target=("macs", 1000), bytes=1000)  # one new, one deprecated
    with pytest.raises(errors.ConfigError, match="positive"):
        to_budget(m, train, target=("latency_ms", -3.0))
    with pytest.raises(errors.ConfigError, match="fine_tune"):
        to_budget(m, train, target=("macs", 0.5), fine_tune=-1)
    with pytest.raises(errors.ConfigError, match="max_rounds"):
        to_budget(m, train, target=("macs", 0.5), max_rounds=0)
    with pytest.raises(errors.ConfigError, match="compiled"):
        to_budget(keras.models.clone_model(m), train, target=("macs", 0.5))
    with pytest.raises(errors.ConfigError, match="unreachable"):
        to_budget(m, train, target=("macs", 10), progress=False)


@pytest.mark.slow
def test_arena_budget_measures_a_real_tflm_export(digits_model):
    m, train, val = digits_model
    r = to_budget(m, train, target=("arena", 0.75), fine_tune=0, validation_data=val,
                  progress=False)
    assert r.met and r.achieved <= 0.75 * r.dense
    first = r.rounds[0]
    assert first["measured"] == pytest.approx(first["predicted"], rel=0.15)
    assert "arena" in r.to_markdown()


@pytest.mark.slow
def test_latency_budget_measures_litert(digits_model):
    from tfprune.analysis import profiles

    m, train, _ = digits_model
    prof = profiles.latency_profile(m, runs=30)  # measured once; to_budget reuses it
    goal = prof.predict(0.7 * count_macs(m))
    r = to_budget(m, train, target=("latency_ms", goal), fine_tune=0, max_rounds=1, progress=False)
    assert r.target == ("latency_ms", goal, goal)  # milliseconds are never a fraction
    assert r.rounds[0]["measured"] > 0 and r.dense > 0
    assert r.rounds[0]["predicted"] <= goal
    assert r.met == (r.achieved <= goal)  # a toy model's latency is noise: no claim it is met
    assert "latency_ms <=" in r.to_markdown()
