"""tfprune.app.measure: the metric in LiteRT over the whole test set, export records as
report lines (moved from test_run_tasks.py)."""

import numpy as np
import pytest

from tfprune.app import measure, pipeline, reports
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
def test_export_records_are_report_lines_not_warnings(reg, tmp_path, recwarn):
    import warnings

    from tfprune import export
    from tfprune.export import tflite_file

    real = export.tflite

    def noisy(*a, **kw):
        rec = real(*a, **kw)
        warnings.warn_explicit(  # as tflite_file.py warns for a delegate fallback
            "LiteRT's default delegate refused x.tflite (sparse int8); it runs with the "
            "builtin op resolver.", UserWarning, tflite_file.__file__, 1)
        return rec

    job = pipeline.prepare(_recipe(reg))
    job.export["latency_runs"] = 5
    said = []
    import unittest.mock as mock

    with mock.patch.object(export, "tflite", noisy):
        entry = pipeline.measure(job.model, job, str(tmp_path), "dense", say=said.append)
    e = entry["tflite"]["int8"]
    assert e["decision"] and e["latency_ms"] > 0 and e["dense_latency_ms"] > 0
    assert any("delegate refused" in n for n in e["notes"])
    assert not [w for w in recwarn if "delegate refused" in str(w.message)]
    assert any(s.strip().startswith("note: LiteRT's default delegate") for s in said)
    assert any("dense encoding" in s for s in said)
    md = reports.render_markdown({"title": "t", "variants": {"dense": entry}})
    assert "## Exports (which file was kept, and why)" in md
    assert f"  - {e['notes'][0]}" in md and e["decision"] in md


def test_litert_metric_covers_the_whole_test_set_in_chunks(tmp_path):
    from types import SimpleNamespace

    from tfprune import export

    m = keras.Sequential([keras.Input((3,)), L.Dense(1, name="price")])
    export.tflite(m, str(tmp_path / "m.tflite"), measure=False)
    rng = np.random.default_rng(0)
    x, y = rng.random((23, 3), dtype=np.float32), rng.random(23).astype("float32")
    t, metric = pipeline.resolve_metric(m, y, "mse")
    got = measure.litert_metric(str(tmp_path / "m.tflite"), x, y,
                                  SimpleNamespace(task=t, metric=metric), chunk=7)
    want = float(np.mean(np.abs(m.predict(x, verbose=0)[:, 0] - y)))
    assert metric == "mae" and abs(got - want) < 1e-5

