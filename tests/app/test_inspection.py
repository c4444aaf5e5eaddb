"""tfprune.app.inspection: the work behind ``tfprune inspect``, ``shrink``, ``export`` and
``report``, called directly (the CLI's own tests go through click)."""

import json

import pytest

from tfprune import errors
from tfprune.app import inspection
from tfprune.app.flags import ExportFlags
from tfprune.compat import keras

L = keras.layers


def _cnn():
    i = keras.Input((6, 6, 2))
    x = L.Conv2D(8, 3, activation="relu", name="c1")(i)
    x = L.Flatten()(x)
    return keras.Model(i, L.Dense(3, name="out")(x), name="cnn")


def test_inspect_lists_prunable_weights_and_groups():
    info = inspection.inspect_model(_cnn())
    assert info["name"] == "cnn" and info["input_shape"] == [6, 6, 2]
    assert [r["layer"] for r in info["layers"]] == ["c1", "out"]
    assert [g["name"] for g in info["groups"] if g["prunable"]] == ["c1"]
    text = inspection.render(info)
    assert "model 'cnn': input (6, 6, 2)" in text and "1 of 3 groups prunable" in text  # input, c1, out


def test_shrink_model_removes_the_planned_channels():
    small, before, after, removed = inspection.shrink_model(_cnn(), sparsity=0.5)
    assert small.get_layer("c1").filters == 4 and removed == 4
    assert after["params"] < before["params"]


@pytest.mark.parametrize("out, match", [
    ("m.txt", "give a .keras or .h5 file name"),
    ("in.keras", "is the input model"),
    ("old.keras", "exists; pass --overwrite"),
    ("missing/m.keras", "does not exist or is not writable")])
def test_check_model_out_refusals(tmp_path, monkeypatch, out, match):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "in.keras").write_text("x")
    (tmp_path / "old.keras").write_text("x")
    with pytest.raises(errors.ConfigError, match=match):
        inspection.check_model_out(out, overwrite=False, source="in.keras")
    assert inspection.check_model_out("old.keras", overwrite=True, source="in.keras") == str(
        tmp_path / "old.keras")


def test_combine_reports_names_variants_by_run_and_refuses_other_folders(tmp_path):
    for run in ("a", "b"):
        (tmp_path / run).mkdir()
        (tmp_path / run / "report.json").write_text(json.dumps(
            {"title": run, "variants": {"dense": {"params": 1}}}))
    rep = inspection.combine_reports([str(tmp_path / "a"), str(tmp_path / "b")])
    assert list(rep["variants"]) == ["a/dense", "b/dense"] and rep["notes"] == ["a: a", "b: b"]
    (tmp_path / "failed").mkdir()
    (tmp_path / "failed" / "failure.json").write_text("{}")
    with pytest.raises(errors.ConfigError, match="holds a failed run"):
        inspection.combine_reports([str(tmp_path / "failed")])
    with pytest.raises(errors.ConfigError, match="not a tfprune run folder"):
        inspection.combine_reports([str(tmp_path)])


def test_export_model_refuses_before_converting(tmp_path):
    def flags(**kw):
        return ExportFlags(out=str(tmp_path / "o"), **kw)

    with pytest.raises(errors.ConfigError, match="apply to --format micro"):
        inspection.export_model("demo_cnn", flags(fmt="tflite", compress="prune"))
    with pytest.raises(errors.ConfigError, match="does not exist"):
        inspection.export_model(str(tmp_path / "no.tflite"), flags(fmt="micro"))
    with pytest.raises(errors.ConfigError, match="--format micro quantizes to int8"):
        inspection.export_model("demo_cnn", flags(fmt="micro"))
    with pytest.raises(errors.ConfigError, match="--quantize int8 needs --data"):
        inspection.export_model("demo_cnn", flags(fmt="tflite", quantize="int8"))
