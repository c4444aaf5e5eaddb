"""Non-finite weights are refused before conversion; NaN outputs fail verification."""

import os

import numpy as np
import pytest

from tfprune import errors, export
from tfprune.compat import keras
from tfprune.export import tflite_file


def _poisoned(value=np.nan):
    L = keras.layers
    m = keras.Sequential([keras.Input((8,)), L.Dense(4, activation="relu", name="fc"),
                          L.Dense(3, name="head")], name="poisoned")
    w, b = m.layers[1].get_weights()
    w[0, 0] = value
    m.layers[1].set_weights([w, b])
    return m


@pytest.fixture
def no_conversion(monkeypatch):
    monkeypatch.setattr(tflite_file, "convert", lambda *a, **k: pytest.fail("converted"))


@pytest.mark.parametrize("quantize", [None, "int8"])
def test_tflite_refuses_nan_weights_naming_the_layer(tmp_path, no_conversion, quantize):
    x = np.random.default_rng(0).random((16, 8)).astype("float32")
    with pytest.raises(errors.ExportError, match=r"Layer 'head' holds 1 NaN/infinite value in "
                                                 r"weight 'kernel'"):
        export.tflite(_poisoned(), tmp_path / "m.tflite", quantize=quantize,
                      representative_data=x)
    assert os.listdir(tmp_path) == []


def test_micro_refuses_infinite_weights_naming_the_layer(tmp_path, no_conversion):
    x = np.random.default_rng(0).random((16, 8)).astype("float32")
    with pytest.raises(errors.ExportError, match="Layer 'head'.*NaN/infinite"):
        export.micro(_poisoned(np.inf), tmp_path / "mcu", representative_data=x)
    assert not (tmp_path / "mcu").exists()


@pytest.mark.slow
def test_verify_fails_on_nan_outputs_of_the_model_or_of_the_file():
    x = np.random.default_rng(0).random((8, 8)).astype("float32")
    bad = _poisoned()
    nan_file = export.tflite_bytes(bad)  # converted without the checks
    with pytest.raises(errors.ExportError, match="'poisoned'.*NaN or infinite on 8 of 8"):
        export.verify(bad, nan_file, data=x)
    good = keras.models.clone_model(bad)
    good.set_weights([np.nan_to_num(w) for w in bad.get_weights()])
    with pytest.raises(errors.ExportError, match=r"bytes\[0\] \(LiteRT\).*verification failed"):
        export.verify(good, nan_file, data=x)
