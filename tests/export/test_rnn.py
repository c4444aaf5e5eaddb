"""LSTM/GRU export: converted through a batch-1 function; float, int8 and TFLM work."""

import warnings

import numpy as np
import pytest

from tfprune import errors, export
from tfprune.compat import keras
from tfprune.export import tflite_file


@pytest.fixture(scope="module")
def seq_data():
    return np.random.default_rng(0).random((48, 5, 3)).astype("float32")


def test_float_disagreement_above_tolerance_warns_with_both_numbers():
    with pytest.warns(UserWarning, match=r"by 0\.012 relative.*tolerance 0\.001"):
        tflite_file._warn_disagreement({"max_rel_error": 0.012}, None, "/x/m.tflite")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        tflite_file._warn_disagreement({"max_rel_error": 0.5}, "int8", "/x/m.tflite")


@pytest.mark.slow
def test_lstm_float_and_int8_export(tmp_path, lstm_model, seq_data):
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        f = export.tflite(lstm_model, tmp_path / "f.tflite", representative_data=seq_data)
    q = export.tflite(lstm_model, tmp_path / "q.tflite", quantize="int8",
                      representative_data=seq_data)
    for rec in (f, q):
        assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in rec.ops
    # each sample is an independent sequence: the LSTM state is reset between invokes
    assert f.verification["max_rel_error"] < export.FLOAT_TOLERANCE[None]
    assert q.verification["max_rel_error"] < 0.1 and q.verification["top1_agreement"] >= 0.9


@pytest.mark.slow
def test_lstm_micro_runs_in_tflm(tmp_path, lstm_model, seq_data):
    rec = export.micro(lstm_model, tmp_path / "mcu", representative_data=seq_data)
    assert "UNIDIRECTIONAL_SEQUENCE_LSTM" in rec.ops
    assert "AddUnidirectionalSequenceLSTM" in open(rec.files["ops"]).read()
    assert rec.tflm_vs_litert["max_step_diff"] <= export.TFLM_STEP_TOLERANCE
    assert rec.vs_keras["max_rel_error"] < 0.1 and rec.arena_bytes > 0


@pytest.mark.slow
def test_int8_of_a_gru_is_refused_before_the_calibrator_crashes(tmp_path, seq_data):
    keras.utils.set_random_seed(1)
    inp = keras.Input((5, 3))
    gru = keras.Model(inp, keras.layers.Dense(2)(keras.layers.GRU(4, name="gru")(inp)))
    with pytest.raises(errors.ExportError,
                       match=r"'gru' \(GRU\).*segmentation fault.*quantize=None"):
        export.micro(gru, tmp_path / "mcu", representative_data=seq_data)
    assert list(tmp_path.iterdir()) == []
