import numpy as np
import pytest

from tfprune import errors, export

pytestmark = pytest.mark.slow


def test_verify_table_covers_keras_litert_float_int8_and_tflm(tmp_path, digits_cnn, digits_data):
    (xtr, _), (xte, yte) = digits_data
    f = export.tflite(digits_cnn, tmp_path / "f.tflite")
    q = export.tflite(digits_cnn, tmp_path / "q.tflite", quantize="int8", representative_data=xtr)
    m = export.micro(digits_cnn, tmp_path / "mcu", representative_data=xtr)
    v = export.verify(digits_cnn, f.path, q.path, m.files["tflite"], data=(xte[:100], yte[:100]))
    runtimes = [(r["name"], r["runtime"], r["kind"]) for r in v.rows]
    assert runtimes == [("digits_cnn", "Keras", "float32"), ("f.tflite", "LiteRT", "float32"),
                        ("q.tflite", "LiteRT", "int8"), ("model.tflite", "LiteRT", "int8"),
                        ("model.tflite", "TFLM", "int8")]
    assert v.rows[0]["max_abs_error"] == 0 and v.rows[0]["top1_agreement"] == 1
    assert v.rows[1]["max_rel_error"] <= 1e-4
    assert all(r["top1_agreement"] >= 0.97 for r in v.rows)
    keras_acc = v.rows[0]["accuracy"]
    assert keras_acc > 0.8 and all(abs(r["accuracy"] - keras_acc) <= 0.03 for r in v.rows)
    table = str(v)
    assert table.count("\n") == len(v.rows) + 1 and "| TFLM | int8 |" in table


def test_verify_reports_a_tflm_failure_instead_of_raising(tmp_path, sparse_mlp):
    x = np.random.default_rng(0).random((16, 64)).astype("float32")
    with pytest.warns(UserWarning):
        q = export.tflite(sparse_mlp, tmp_path / "q.tflite", quantize="int8", sparse=True,
                          representative_data=x)
    from tfprune.export import _model, tflite_file

    codes = tflite_file.convert(_model.strip(sparse_mlp), quantize="int8", sparse=True, data=x,
                                int8_io=True)
    v = export.verify(sparse_mlp, q.path, codes, data=x)
    tflm = [r for r in v.rows if r["runtime"] == "TFLM"]
    assert len(tflm) == 1 and "DENSIFY" in tflm[0]["note"] and tflm[0]["max_abs_error"] is None


def test_verify_refuses_a_missing_file(digits_cnn):
    with pytest.raises(errors.ExportError, match="neither"):
        export.verify(digits_cnn, "/no/such.tflite", data=np.zeros((2, 8, 8, 1), "float32"))


def test_verify_refuses_labels_of_the_wrong_length(tmp_path, mlp64):
    f = export.tflite(mlp64, tmp_path / "f.tflite")
    with pytest.raises(errors.ExportError, match="3 entries for 5 samples"):
        export.verify(mlp64, f.path, data=np.zeros((5, 64), "float32"), labels=[1, 2, 3])


# -- any task (issue 27): the measure fits the output ---------------------------------------
def _regression_mlp():
    from tfprune.compat import keras

    keras.utils.set_random_seed(4)
    L = keras.layers
    m = keras.Sequential([keras.Input((4,)), L.Dense(16, activation="relu", name="h"),
                          L.Dense(1, name="price")], name="reg")
    m.compile(loss="mse")
    return m


def test_verify_reports_errors_not_accuracy_for_regression_on_both_sample_sets(tmp_path):
    m = _regression_mlp()
    rng = np.random.default_rng(0)
    calib = rng.random((64, 4)).astype("float32")
    held = (3 * rng.random((32, 4))).astype("float32")  # outside the calibration range
    y = (6 + 12 * held[:, 0]).astype("float32")
    q = export.tflite(m, tmp_path / "q.tflite", quantize="int8", representative_data=calib)
    v = export.verify(m, q.path, data=(held, y), calibration=calib, tflm=False)
    assert [(r["runtime"], r["samples"]) for r in v.rows] == [
        ("Keras", "data"), ("LiteRT", "data"), ("LiteRT", "calibration")]
    for r in v.rows:
        assert r["top1_agreement"] is None and r["accuracy"] is None
    keras_row, held_row, calib_row = v.rows
    want = float(np.mean(np.abs(m.predict(held, verbose=0)[:, 0] - y)))
    assert keras_row["label_mae"] == pytest.approx(want, rel=1e-5)
    assert calib_row["label_mae"] is None  # calibration inputs came without targets
    assert held_row["max_abs_error"] > calib_row["max_abs_error"] > 0  # held-out shows more
    assert 0 < held_row["mean_abs_error"] <= held_row["max_abs_error"]
    assert held_row["mean_rel_error"] > 0
    table = str(v)
    assert "| samples |" in table and "| calibration |" in table and "accuracy" not in table


def test_binary_and_one_hot_outputs_keep_accuracy(tmp_path):
    from tfprune.compat import keras
    from tfprune.export import tflite_bytes

    L = keras.layers
    x = np.random.default_rng(1).random((40, 4)).astype("float32")
    b = keras.Sequential([keras.Input((4,)), L.Dense(1, activation="sigmoid")])
    b.compile(loss="binary_crossentropy")
    yb = (x[:, 0] > 0.5).astype("float32")
    row = export.verify(b, tflite_bytes(b), data=(x, yb)).rows[1]
    want = float(np.mean((b.predict(x, verbose=0)[:, 0] > 0.5) == yb))
    assert row["accuracy"] == pytest.approx(want) and row["top1_agreement"] is None
    c = keras.Sequential([keras.Input((4,)), L.Dense(3, activation="softmax")])
    yo = np.eye(3, dtype="float32")[np.arange(40) % 3]
    row = export.verify(c, tflite_bytes(c), data=(x, yo)).rows[1]
    want = float(np.mean(c.predict(x, verbose=0).argmax(1) == np.arange(40) % 3))
    assert row["accuracy"] == pytest.approx(want) and row["top1_agreement"] == 1.0


def test_autoencoder_export_record_and_verify_have_no_top1(tmp_path):
    from tfprune.compat import keras

    L = keras.layers
    i = keras.Input((8, 8, 1))
    h = L.Conv2D(4, 3, padding="same", activation="relu")(i)
    ae = keras.Model(i, L.Conv2D(1, 3, padding="same", activation="sigmoid", name="rec")(h))
    ae.compile(loss="binary_crossentropy")
    x = np.random.default_rng(2).random((16, 8, 8, 1)).astype("float32")
    rec = export.tflite(ae, tmp_path / "ae.tflite", representative_data=x)
    assert rec.verification["top1_agreement"] is None
    v = export.verify(ae, rec.path, data=(x, x))
    assert all(r["top1_agreement"] is None and r["accuracy"] is None for r in v.rows)
    assert v.rows[1]["label_mae"] > 0 and v.rows[1]["max_rel_error"] < 1e-4
