"""tfprune.export._model: the model side of export (resolve, strip, recurrent layers)."""

import numpy as np
import pytest

from tfprune import errors
from tfprune.compat import keras
from tfprune.export import _model


def test_resolve_refuses_a_missing_file_by_name(tmp_path):
    with pytest.raises(errors.ExportError, match=r"'.*nothing\.keras' does not exist"):
        _model.resolve(str(tmp_path / "nothing.keras"))


def test_strip_copies_a_plain_model_and_keeps_its_weights(mlp64):
    plain = _model.strip(mlp64)
    assert plain is not mlp64
    for a, b in zip(plain.get_weights(), mlp64.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_int8_is_refused_for_a_gru_but_not_an_lstm():
    gru = keras.Sequential([keras.layers.GRU(2, input_shape=(4, 3), name="g")])
    with pytest.raises(errors.ExportError, match=r"'g' \(GRU\) cannot be quantised"):
        _model.check_int8_recurrent(gru)
    _model.check_int8_recurrent(keras.Sequential([keras.layers.LSTM(2, input_shape=(4, 3))]))


def test_output_names_follow_the_model(two_io_model):
    assert _model.output_names(two_io_model) == ["o1", "o2"]


@pytest.mark.slow
def test_recurrent_models_are_detected(lstm_model, mlp64):
    inner = keras.Sequential([keras.layers.Bidirectional(keras.layers.GRU(2),
                                                         input_shape=(4, 2))])
    assert _model.is_recurrent(lstm_model) and _model.is_recurrent(inner)
    assert not _model.is_recurrent(mlp64)
