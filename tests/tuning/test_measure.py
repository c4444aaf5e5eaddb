"""tuning/measure.py: the measure names a trial reports, their directions, and what
measure() returns for a plain model."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.compat import keras
from tfprune.tuning import measure as M


def test_names_follow_the_compiled_metrics_then_the_cheap_then_the_asked_optional():
    acc = keras.metrics.SparseCategoricalAccuracy(name="acc")
    got = M.names(["mae", acc], optional=("latency_ms",))
    assert got[:3] == ["val_loss", "val_mae", "val_acc"]
    assert got[-1] == "latency_ms" and "tflite_bytes" not in got
    assert M.names({"a": "mae", "b": ["mse", "mape"]})[1:4] == ["val_a_mae", "val_b_mse",
                                                                "val_b_mape"]
    assert M.quality({"a": ["mae"]}) == "val_a_mae" and M.quality([acc]) == "val_acc"


def test_directions_of_fixed_measures_and_of_metrics():
    assert [M.direction(n) for n in ("weight_sparsity", "pruned_fraction", "latency_ms",
                                     "val_loss", "val_auc", "val_mae")] == \
        ["max", "max", "min", "min", "max", "min"]


def test_optional_measures_are_checked_and_latency_brings_the_int8_file():
    assert M.check_optional(None) == ()
    assert M.check_optional(("tflite_bytes", "latency_ms")) == ("tflite_bytes", "latency_ms")
    with pytest.raises(errors.ConfigError, match="latency"):
        M.check_optional(["latencyms"])


@pytest.mark.slow
def test_measure_counts_zeros_and_evaluates_the_metrics():
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
    k, b = m.get_weights()
    k[:2] = 0.0  # 4 of the 10 weights zero (the kernel's first two rows)
    m.set_weights([k, b + 1.0])
    x = np.random.default_rng(0).normal(size=(8, 4)).astype("float32")
    y = x @ k + (b + 1.0)
    out = M.measure(m, validation_data=(x, y), loss="mse",
                    options=M.MeasureOptions(metrics=("mae",), batch_size=4))
    assert set(M.names(["mae"])) - {"pruned_fraction", "fine_tune_seconds"} == set(out)
    assert out["val_loss"] == pytest.approx(0.0, abs=1e-10) and out["val_mae"] < 1e-6
    assert (out["params"], out["macs"]) == (10.0, 8.0)
    assert out["nonzero_params"] == 6.0 and out["weight_sparsity"] == pytest.approx(0.4)
