"""The state of one ``tfprune run``: the checked :class:`Job`, the recipe defaults, and the
refusal of a run that diverged (:func:`check_finite`, :class:`RunFailedError`).

Example:
    >>> sorted(DEFAULTS)
    ['export', 'prune', 'quantize_aware', 'train']
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfprune import compat, errors
from tfprune.app import outputs
from tfprune.compat import keras

__all__ = ["Job", "DEFAULTS", "DIVERGED", "RunFailedError", "check_finite", "section",
           "compile_model"]

DEFAULTS = {
    "train": {"epochs": 3, "batch_size": 64, "learning_rate": 1e-3,
              "loss": "sparse_categorical_crossentropy"},
    "prune": {"granularity": "weight", "schedule": "agp", "sparsity": 0.5, "scope": "layer", "epochs": 2,
              "frequency": 25, "ramp_fraction": 0.75, "round_to": 1, "min_channels": 1},
    "export": {"tflite": ["float", "int8"], "micro": False, "latency_runs": 50},
    "quantize_aware": {"epochs": 1, "learning_rate": 1e-4},
}


@dataclasses.dataclass
class Job:
    """Everything a run needs, loaded and checked."""

    recipe: dict
    model: object
    train_data: tuple
    test_data: tuple
    train: dict
    prune: dict
    export: dict
    seed: int
    keras3: bool = False  # the user's file was Keras 3: models are saved back as Keras 3
    task: object = None  # tfprune.task.OutputTask of the (first) output
    metric: str = "accuracy"  # what the run measures: from tfprune.task (mae for regression)
    # several outputs: {name: tfprune.task.Metric} the run reports (tfprune.app.multi.measures)
    measures: dict | None = None

    def compile(self, model, lr):
        """Compile ``model`` with this job's loss(es), loss weights and metric; several
        outputs by position, as wrappers rename them (``quant_cls``)."""
        loss, weights = self.train["loss"], self.train.get("loss_weights")
        if isinstance(loss, dict):
            names = outputs.output_names(self.model)
            loss = [loss[n] for n in names]
            weights = [weights[n] for n in names] if weights else None
        return compile_model(model, lr, loss, self.metric, weights)

    def fit_data(self):
        """The training data as Keras fits it: labels of several outputs as a list in the
        model's output order."""
        x, y = self.train_data
        if isinstance(y, dict):
            y = [y[n] for n in outputs.output_names(self.model)]
        return x, y


def section(recipe: dict, key: str, **override) -> dict:
    """The recipe's ``key`` section over :data:`DEFAULTS` (``override`` in between).

    Example:
        >>> section({"train": {"epochs": 1}}, "train")["epochs"]
        1
    """
    return {**DEFAULTS[key], **override, **recipe.get(key, {})}


def compile_model(model, lr, loss, metric="accuracy", loss_weights=None):
    """Compile ``model`` in its own Keras (strip/shrink give Keras 3 back for a Keras 3 file),
    measuring ``metric`` (the job's: :func:`tfprune.app.pipeline.resolve_metric`; ``"loss"``:
    no extra metric). ``loss`` may be ``{output: loss}`` (several outputs, with
    ``loss_weights`` per output), or a list in output order: then tfprune measures the outputs itself
    (:mod:`tfprune.app.multi`) and Keras only the losses.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> compile_model(m, 1e-3, "mse", "loss").loss
        'mse'
    """
    metrics = [] if metric == "loss" or isinstance(loss, (dict, list)) else [metric]
    kw = {"loss_weights": loss_weights} if loss_weights else {}
    if compat.is_keras3_object(model):
        import keras as keras3

        model.compile(keras3.optimizers.Adam(lr), loss, metrics=metrics, **kw)
        return model
    model.compile(keras.optimizers.Adam(lr), loss, metrics=metrics, **kw)
    return model


class RunFailedError(errors.TfpruneError, RuntimeError):
    """A run started but gave no valid result (non-finite loss or weights, a refusal while
    training, pruning or exporting); the run folder holds ``failure.json``/``failure.md``.
    The CLI exits with code 1 (``exit_code``)."""

    exit_code = 1


def check_finite(model, history: dict | None, what: str, fix: str) -> None:
    """Refuse a model whose weights, or a history whose loss, are NaN/inf (a diverged run).

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="d")])
        >>> check_finite(m, {"loss": [0.5, float("nan")]}, "dense training", "lower the rate")
        Traceback (most recent call last):
        ...
        tfprune.app.job.RunFailedError: dense training: the loss became NaN/inf at epoch 2 \
(losses: 0.5, nan). lower the rate
    """
    losses = (history or {}).get("loss", [])
    bad = [i for i, v in enumerate(losses) if not np.isfinite(v)]
    if bad:
        shown = ", ".join(f"{v:.4g}" for v in losses[:8])
        raise RunFailedError(f"{what}: the loss became NaN/inf at epoch {bad[0] + 1} "
                             f"(losses: {shown}). {fix}")
    for layer in model.layers if model is not None else ():
        for w in layer.weights:
            v = np.asarray(w.numpy() if hasattr(w, "numpy") else w)
            if v.dtype.kind == "f" and not np.all(np.isfinite(v)):
                n = int(v.size - np.count_nonzero(np.isfinite(v)))
                raise RunFailedError(f"{what}: layer {layer.name!r} has {n:,} of {v.size:,} "
                                     f"NaN/inf values in {w.name}. {fix}")



DIVERGED = ("Lower the learning rate (train.learning_rate / prune.learning_rate) or check "
            "the data; nothing non-finite was saved as a result model.")
