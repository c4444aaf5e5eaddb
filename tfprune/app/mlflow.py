"""Optional MLflow logging (``pip install 'tfprune[mlflow]'``): a Keras callback for
per-epoch metrics (loss, accuracy, sparsity) and a run logger for params and artifacts.

The recipe key ``mlflow: {tracking_uri, experiment, run_name}`` turns it on for
``tfprune run``; the default store is the local folder ``./mlruns`` (``file:`` URI; MLflow
3.x keeps that store in maintenance mode behind ``MLFLOW_ALLOW_FILE_STORE``, which is set
for ``file:`` URIs; give ``tracking_uri: sqlite:///mlflow.db`` for a database store).
Without MLflow installed the recipe key is refused before any work.

Example:
    >>> with RunLogger(None, {}) as log:     # no mlflow section: does nothing
    ...     log.callbacks("dense")
    []
"""

from __future__ import annotations

import os

from tfprune import errors
from tfprune.app.reports import METRICS, lookup
from tfprune.compat import keras

__all__ = ["MlflowCallback", "RunLogger", "flatten", "report_metrics"]

_HINT = "MLflow is not installed: pip install 'tfprune[mlflow]' (or remove the mlflow key)."


def _mlflow():
    try:
        import mlflow
    except ImportError:
        raise errors.ConfigError(_HINT) from None
    return mlflow


def flatten(d: dict, prefix: str = "") -> dict:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists as strings), for MLflow params.

    Example:
        >>> flatten({"prune": {"sparsity": 0.5, "exclude": ["fc2"]}, "seed": 0})
        {'prune.sparsity': 0.5, 'prune.exclude': "['fc2']", 'seed': 0}
    """
    out = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(flatten(v, key + "."))
        else:
            out[key] = str(v) if isinstance(v, (list, tuple)) else v
    return out


def report_metrics(report: dict) -> dict:
    """The final numbers of a run report as MLflow metrics: ``<variant>.<measure>`` for the
    report's measures, and ``<variant>.outputs.<measure>`` for each output of a model with
    several outputs (e.g. ``cls_accuracy``, ``reg_mae``).

    Example:
        >>> report_metrics({"variants": {"pruned": {"loss": 0.5, "params": 10,
        ...                 "outputs": {"cls_accuracy": 0.9, "reg_mae": 0.2}}}})
        {'pruned.loss': 0.5, 'pruned.params': 10.0, 'pruned.outputs.cls_accuracy': 0.9, 'pruned.outputs.reg_mae': 0.2}
    """
    metrics = {}
    for name, v in report["variants"].items():
        for key, _, _ in METRICS:
            value = lookup(v, key)
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[f"{name}.{key}"] = float(value)
        for key, value in sorted((v.get("outputs") or {}).items()):
            if isinstance(value, (int, float)) and not isinstance(value, bool):
                metrics[f"{name}.outputs.{key}"] = float(value)
    return metrics


class MlflowCallback(keras.callbacks.Callback):
    """Logs every epoch's metrics (``loss``, ``accuracy``, ``sparsity``, ...) to the active
    MLflow run, named ``<prefix>/<metric>``, step = epochs logged so far by this callback.

    Place it after :class:`tfprune.callbacks.PruningCallback` so ``sparsity`` is in the logs.

    Args:
        prefix: metric name prefix (e.g. ``"prune"``); ``""`` for none.
    """

    def __init__(self, prefix: str = ""):
        super().__init__()
        self.prefix = prefix
        self._mlflow = _mlflow()

    def on_train_begin(self, logs=None):
        self._epoch = 0

    def on_epoch_end(self, epoch, logs=None):
        name = (lambda k: f"{self.prefix}/{k}") if self.prefix else (lambda k: k)
        metrics = {name(k): float(v) for k, v in (logs or {}).items()
                   if isinstance(v, (int, float)) or getattr(v, "shape", None) == ()}
        if metrics:
            self._mlflow.log_metrics(metrics, step=self._epoch)
        self._epoch += 1


class RunLogger:
    """One MLflow run around a ``tfprune run``; a no-op when ``config`` is None."""

    def __init__(self, config: dict | None, recipe: dict):
        self.config = config
        self.recipe = recipe
        self.run_id = None
        if config is not None:
            self._mlflow = _mlflow()

    def __enter__(self):
        if self.config is None:
            return self
        mlflow = self._mlflow
        uri = self.config.get("tracking_uri") or "file:" + os.path.abspath("mlruns")
        if uri.startswith("file:"):  # MLflow >= 3.x keeps the file store behind an opt-in
            os.environ.setdefault("MLFLOW_ALLOW_FILE_STORE", "true")
        mlflow.set_tracking_uri(uri)
        mlflow.set_experiment(self.config.get("experiment", "tfprune"))
        run = mlflow.start_run(run_name=self.config.get("run_name", self.recipe.get("name")))
        self.run_id = run.info.run_id
        params = flatten({k: v for k, v in self.recipe.items() if k != "mlflow"})
        mlflow.log_params({k: str(v)[:500] for k, v in params.items()})
        return self

    def __exit__(self, exc_type, exc, tb):
        if self.config is not None:
            self._mlflow.end_run("FAILED" if exc_type else "FINISHED")
        return False

    def callbacks(self, prefix: str) -> list:
        """Keras callbacks for one training phase (empty without MLflow)."""
        return [] if self.config is None else [MlflowCallback(prefix)]

    def log_report(self, report: dict, folder: str) -> None:
        """Final metrics of every variant, then the run folder's files as artifacts."""
        if self.config is None:
            return
        self._mlflow.log_metrics(report_metrics(report))
        for entry in sorted(os.listdir(folder)):
            path = os.path.join(folder, entry)
            if os.path.isdir(path):
                self._mlflow.log_artifacts(path, artifact_path=entry)
            elif not entry.endswith(".keras"):
                self._mlflow.log_artifact(path)
