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
