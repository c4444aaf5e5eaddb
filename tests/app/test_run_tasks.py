"""`tfprune run` measures what fits the task (issue 27 in the app layer): MAE for regression,
accuracy for classification; quantization-aware training, distillation and the export
records in the report (issues 25, 26)."""

import json

import pytest

from tfprune.app import pipeline, reports
from tfprune.app.recipes import load_recipe_text
from tfprune.compat import keras

L = keras.layers


def _recipe(d, extra=""):
    return load_recipe_text(
        f"model: {d / 'reg.keras'}\ntask: regression\ndata: {{source: {d / 'reg.npz'}}}\n"
        "train: {epochs: 2, batch_size: 32}\n"
        "prune: {granularity: weight, sparsity: 0.5, epochs: 1, frequency: 1}\n"
        "export: {tflite: [float, int8], latency_runs: 0}\nreport: {plots: false}\n" + extra)


@pytest.mark.slow
def test_regression_recipe_runs_end_to_end_and_reports_mae(reg, tmp_path):
    report = pipeline.run_recipe(_recipe(reg), str(tmp_path / "out"), quiet=True,
                                 say=lambda *_: None)
    for name in ("dense", "pruned"):
        v = report["variants"][name]
        assert v["metric"] == "mae" and "accuracy" not in v
        assert 0 <= v["mae"] < 20
        for fmt in ("float", "int8"):
            assert "accuracy" not in v["tflite"][fmt]
            assert 0 <= v["tflite"][fmt]["mae"] < 20
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| MAE (test set) |" in md and "| int8 MAE (LiteRT) |" in md
    assert "| float32 MAE (LiteRT) |" in md and "accuracy" not in md.lower()
    saved = json.loads((tmp_path / "out" / "report.json").read_text())
    assert saved["variants"]["pruned"]["metric"] == "mae"


def test_report_names_the_metric_it_measured():
    md = reports.render_markdown({"title": "t", "variants": {
        "dense": {"metric": "mae", "mae": 0.5, "tflite": {"int8": {"mae": 0.61}}}}})
    assert "| MAE (test set) | 0.5 |" in md and "| int8 MAE (LiteRT) | 0.61 |" in md
    assert "accuracy" not in md


def test_quantize_aware_recipe_key_is_validated():
    base = "model: m.keras\ndata: {source: d.npz}\n"
    r = load_recipe_text(base + "quantize_aware: {epochs: 2, learning_rate: 0.0001}\n")
    assert r["quantize_aware"] == {"epochs": 2, "learning_rate": 0.0001}
    with pytest.raises(Exception, match="quantize_aware.epochs"):
        load_recipe_text(base + "quantize_aware: {epochs: 0}\n")
    with pytest.raises(Exception, match="Did you mean 'epochs'"):
        load_recipe_text(base + "quantize_aware: {epoch: 1}\n")


def test_report_shows_float_ptq_and_qat_side_by_side():
    md = reports.render_markdown({"title": "t", "variants": {
        "dense": {"metric": "accuracy", "accuracy": 0.95},
        "pruned": {"metric": "accuracy", "accuracy": 0.94,
                   "tflite": {"float": {"accuracy": 0.94}, "int8": {"accuracy": 0.925}},
                   "qat": {"epochs": 2, "zeros_after": 0.9,
                           "tflite": {"int8": {"accuracy": 0.938, "bytes": 900}}}}}})
    assert "| pruned | accuracy | 94.00% | 94.00% | 92.50% | 93.80% | 2 | 90.0% |" in md
    assert "| int8 accuracy after QAT (LiteRT) | — | 93.80% |" in md


def test_distill_recipe_key_is_validated():
    base = "model: m.keras\ndata: {source: d.npz}\n"
    r = load_recipe_text(base + "prune: {distill: {temperature: 2, alpha: 0.5}}\n")
    assert r["prune"]["distill"] == {"temperature": 2, "alpha": 0.5}
    with pytest.raises(Exception, match="prune.distill.alpha"):
        load_recipe_text(base + "prune: {distill: {alpha: 1.5}}\n")
    with pytest.raises(Exception, match="prune.distill.temperature"):
        load_recipe_text(base + "prune: {distill: {temperature: 0}}\n")


def test_report_prints_decision_latency_vs_dense_and_notes():
    e = {"file": "pruned_int8.tflite", "decision": "kept dense: sparse runs 1.7x slower.",
         "latency_ms": 0.122, "dense_latency_ms": 0.122,
         "notes": ["XNNPACK refused the sparse file; builtin kernels ran it."]}
    md = reports.render_markdown({"title": "t", "variants": {"pruned": {"tflite": {"int8": e}}}})
    assert ("- **pruned int8** (`pruned_int8.tflite`): kept dense: sparse runs 1.7x slower. "
            "Latency 0.122 ms vs 0.122 ms for the dense encoding.") in md
    assert "  - XNNPACK refused the sparse file; builtin kernels ran it." in md


def test_inspect_advise_prints_the_advice(reg):
    from click.testing import CliRunner

    from tfprune import export
    from tfprune.app.cli import main

    r = CliRunner().invoke(main, ["inspect", str(reg / "reg.keras"), "--advise",
                                  "--target", "micro"])
    assert r.exit_code == 0, r.output
    expected = str(export.advise(keras.models.load_model(reg / "reg.keras"), target="micro"))
    assert "Will it speed up? (target micro" in r.output and expected in r.output
    r = CliRunner().invoke(main, ["inspect", str(reg / "reg.keras"), "--target", "gpu"])
    assert r.exit_code == 2
    r = CliRunner().invoke(main, ["inspect", str(reg / "reg.keras"), "--advise", "--json"])
    assert r.exit_code == 0 and json.loads(r.output)["advice"]["target"] == "all"
