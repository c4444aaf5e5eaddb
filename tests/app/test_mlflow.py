import numpy as np
import pytest

from tfprune.compat import keras


def test_callback_and_run_logger_write_to_a_file_store(tmp_path):
    mlflow = pytest.importorskip("mlflow")  # the optional extra: tfprune[mlflow]
    import tfprune
    from tfprune.app.mlflow import RunLogger

    store = "file:" + str(tmp_path / "mlruns")
    recipe = {"name": "t", "model": "demo_cnn", "prune": {"sparsity": 0.5},
              "mlflow": {"tracking_uri": store, "experiment": "exp"}}
    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="h"),
                          keras.layers.Dense(3, name="out")])
    x, y = np.random.rand(32, 4).astype("float32"), np.arange(32) % 3
    folder = tmp_path / "run"
    folder.mkdir()
    (folder / "report.md").write_text("# r")
    with RunLogger(recipe["mlflow"], recipe) as log:
        p = tfprune.prune(m, sparsity=0.5)
        p.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
        p.fit(x, y, epochs=2, verbose=0,
              callbacks=[tfprune.PruningCallback(per_layer=False), *log.callbacks("prune")])
        log.log_report({"variants": {"pruned": {"accuracy": 0.5, "params": 10}}}, str(folder))
    run = mlflow.get_run(log.run_id)
    assert run.info.status == "FINISHED"
    assert run.data.params["prune.sparsity"] == "0.5"
    assert run.data.metrics["pruned.accuracy"] == 0.5
    history = mlflow.tracking.MlflowClient(store).get_metric_history(log.run_id, "prune/sparsity")
    assert [h.step for h in history] == [0, 1] and history[-1].value == pytest.approx(0.5, abs=0.05)
    arts = [a.path for a in mlflow.tracking.MlflowClient(store).list_artifacts(log.run_id)]
    assert "report.md" in arts


def test_without_mlflow_the_key_is_refused(monkeypatch):
    import importlib.util

    from tfprune import errors
    from tfprune.app import recipes

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec",
                        lambda name, *a: None if name == "mlflow" else real(name, *a))
    with pytest.raises(errors.ConfigError, match=r"pip install 'tfprune\[mlflow\]'"):
        recipes.load_recipe_text("model: demo_cnn\ndata: {source: digits}\nmlflow: {}\n")


def test_report_metrics_log_every_output_of_a_model_with_several():
    from tfprune.app.mlflow import report_metrics

    report = {"variants": {
        "dense": {"loss": 1.5, "params": 100, "sparsity": 0.0,
                  "outputs": {"cls_accuracy": 0.75, "reg_mae": 0.5, "note": "x"}},
        "pruned": {"loss": 1.75, "params": 100, "sparsity": 0.5, "tflite": {"float": {
            "bytes": 2000, "outputs": {"cls_accuracy": 0.1}}}}}}
    m = report_metrics(report)
    assert m["dense.outputs.cls_accuracy"] == 0.75 and m["dense.outputs.reg_mae"] == 0.5
    assert m["dense.loss"] == 1.5 and m["pruned.sparsity"] == 0.5
    assert m["pruned.tflite.float.bytes"] == 2000.0
    assert "dense.outputs.note" not in m and not any(k.startswith("pruned.outputs") for k in m)
