"""tfprune.app.training: quantization-aware training keeps zeros; distillation fits the pruned
model with the dense teacher (moved from test_run_tasks.py)."""

import numpy as np
import pytest

from tfprune.app import pipeline
from tfprune.app.recipes import load_recipe_text
from tfprune.compat import keras

L = keras.layers


def _recipe(d, extra="", tflite="[float, int8]"):
    return load_recipe_text(
        f"model: {d / 'reg.keras'}\ntask: regression\ndata: {{source: {d / 'reg.npz'}}}\n"
        "train: {epochs: 2, batch_size: 32}\n"
        "prune: {granularity: weight, sparsity: 0.5, epochs: 1, frequency: 1}\n"
        f"export: {{tflite: {tflite}, latency_runs: 0}}\nreport: {{plots: false}}\n" + extra)


@pytest.mark.slow
def test_quantize_aware_step_keeps_zeros_and_reports_qat_int8(reg, tmp_path):
    # int8 only: the float files (dense, pruned) are not what this test checks
    recipe = _recipe(reg, "quantize_aware: {epochs: 1, learning_rate: 0.0005}\n", "[int8]")
    report = pipeline.run_recipe(recipe, str(tmp_path / "out"), quiet=True, say=lambda *_: None)
    v = report["variants"]["pruned"]
    q = v["qat"]
    assert q["zeros_after"] >= q["zeros_before"] > 0.3  # pruned zeros stay through QAT
    assert 0 <= q["tflite"]["int8"]["mae"] < 20 and 0 <= v["tflite"]["int8"]["mae"] < 20
    assert (tmp_path / "out" / "pruned_qat_int8.tflite").exists()
    assert "qat" in report["history"]
    md = (tmp_path / "out" / "report.md").read_text()
    assert "| pruned | MAE |" in md and "| int8 MAE after QAT (LiteRT) |" in md


@pytest.mark.slow
@pytest.mark.parametrize("granularity, kind", [("weight", "regression"),
                                               ("channel", "regression")])
def test_distill_fits_the_pruned_model_with_the_dense_teacher(reg, granularity, kind,
                                                              monkeypatch):
    from tfprune import callbacks

    made = []
    real = callbacks.distill

    def spy(student, teacher, **kw):
        d = real(student, teacher, **kw)
        made.append((d, kw))
        return d

    monkeypatch.setattr(callbacks, "distill", spy)
    recipe = _recipe(reg)
    recipe["prune"].update(granularity=granularity, distill={"temperature": 2.0, "alpha": 0.7})
    if granularity == "channel":
        recipe["prune"]["schedule"] = "one_shot"
    job = pipeline.prepare(recipe)
    pipeline.train(job, quiet=True)
    before = [w.copy() for w in job.model.get_weights()]
    plain, hist, _ = pipeline.prune_variant(job.model, job.prune, job, quiet=True)
    (d, kw), = made
    assert kw == {"temperature": 2.0, "alpha": 0.7, "task": kind}
    assert d.teacher is not None and "distill_loss" in hist and "student_loss" in hist
    assert all(np.array_equal(a, b) for a, b in zip(before, job.model.get_weights(), strict=True))
    assert plain.count_params() <= job.model.count_params()
    assert not any(type(x).__name__ == "PruningWrapper" for x in plain.layers)

