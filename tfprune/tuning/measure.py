"""What a trial measures, the names it reports them under, and their directions.

Always measured (cheap): ``val_loss`` and ``val_<metric>`` for each compiled metric
(``val_<output>_<metric>`` for a metric of one output of several),
``params``, ``nonzero_params``, ``weight_sparsity`` (zero fraction), ``macs``, ``sparse_macs`` (from
:func:`tfprune.summary`), ``pruned_fraction`` and ``fine_tune_seconds``. Optional
(``measure=``): ``tflite_bytes`` (full-int8 .tflite written by
:func:`tfprune.export.tflite`, verified in LiteRT) and ``latency_ms`` (median LiteRT
invoke, 1 thread, :func:`tfprune.export.latency`).

Example:
    >>> names(["accuracy"], ("tflite_bytes",))[:3]
    ['val_loss', 'val_accuracy', 'params']
    >>> direction("macs"), direction("val_accuracy")
    ('min', 'max')
"""

from __future__ import annotations

import dataclasses
import os

from tfprune import errors, export
from tfprune import task as task_lib
from tfprune.analysis.summary import summary

__all__ = ["OPTIONAL", "MeasureOptions", "names", "direction", "measure", "metric_name", "quality",
           "check_optional"]

#: Expensive measures a sweep can ask for with ``measure=(...)``.
OPTIONAL = ("tflite_bytes", "latency_ms")
_CHEAP = ("params", "nonzero_params", "weight_sparsity", "macs", "sparse_macs", "pruned_fraction",
          "fine_tune_seconds")
_DIRECTIONS = {"params": "min", "nonzero_params": "min", "weight_sparsity": "max", "macs": "min",
               "sparse_macs": "min", "pruned_fraction": "max", "fine_tune_seconds": "min",
               "tflite_bytes": "min", "latency_ms": "min", "val_loss": "min"}


def metric_name(metric) -> str:
    """The name Keras logs a compiled metric under (a string is its own name)."""
    return metric if isinstance(metric, str) else getattr(metric, "name", str(metric))


def _metric_logs(metrics) -> list:
    """The names Keras logs ``metrics`` under (``{output: [...]}``: ``<output>_<name>``)."""
    if isinstance(metrics, dict):
        return [f"{out}_{metric_name(m)}" for out, ms in metrics.items()
                for m in ([ms] if isinstance(ms, str) or not isinstance(ms, (list, tuple))
                          else ms)]
    return [metric_name(m) for m in metrics]


def names(metrics, optional=()) -> list:
    """All measure names a trial reports, in a stable order.

    Example:
        >>> names({"reg": ["mae"]})[:2]
        ['val_loss', 'val_reg_mae']
    """
    return (["val_loss"] + [f"val_{n}" for n in _metric_logs(metrics)] + list(_CHEAP)
            + [o for o in OPTIONAL if o in optional])


def quality(metrics) -> str:
    """The sweep's default quality measure: the first metric's ``val_<name>``, else
    ``val_loss``.

    Example:
        >>> quality(("mae",)), quality(())
        ('val_mae', 'val_loss')
    """
    logs = _metric_logs(metrics)
    return f"val_{logs[0]}" if logs else "val_loss"


def direction(name: str) -> str:
    """``"min"`` or ``"max"``: losses, errors, sizes, MACs and times go down; accuracies, AUC,
    precision, recall, R² up (:func:`tfprune.task.direction` for metrics)."""
    if name in _DIRECTIONS:
        return _DIRECTIONS[name]
    return task_lib.direction(name)


def check_optional(optional) -> tuple:
    """``optional`` as a tuple of known optional measures (``latency_ms`` adds
    ``tflite_bytes``: latency is timed on the int8 file).

    Example:
        >>> check_optional(["latency_ms"])
        ('latency_ms', 'tflite_bytes')
    """
    optional = tuple(optional or ())
    for name in optional:
        if name not in OPTIONAL:
            raise errors.unknown_name("optional measure", name, OPTIONAL)
    if "latency_ms" in optional and "tflite_bytes" not in optional:
        optional += ("tflite_bytes",)  # latency is measured on the int8 file
    return optional


@dataclasses.dataclass(frozen=True)
class MeasureOptions:
    """What :func:`measure` measures besides the model itself.

    Attributes:
        metrics: compiled metrics (a tuple or ``{output: [...]}``), each reported as
            ``val_<name>``.
        batch_size: evaluation batch size.
        optional: optional measures (:data:`OPTIONAL`, checked by :func:`check_optional`).
        latency_runs: timed LiteRT invokes for ``latency_ms``.
        loss_weights: per-output weights of ``val_loss`` (the model's compiled ones, for a
            model with several outputs); None: each output weighs 1.

    Example:
        >>> MeasureOptions(metrics=("mae",)).batch_size
        32
    """

    metrics: tuple | dict = ()
    batch_size: int = 32
    optional: tuple = ()
    latency_runs: int = 50
    loss_weights: object = None


def measure(plain, *, validation_data, loss, options: MeasureOptions | None = None,
            trial_dir=None, calibration=None) -> dict:
    """Measure a plain (stripped or shrunk) model; return ``{name: float}``.

    ``trial_dir`` receives the int8 .tflite and ``calibration`` feeds its quantization when
    ``options.optional`` asks for ``tflite_bytes``.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> out = measure(m, validation_data=(np.ones((4, 4)), np.zeros((4, 2))), loss="mse")
        >>> out["params"], out["macs"]
        (10.0, 8.0)
    """
    opts = options or MeasureOptions()
    xv, yv = validation_data
    metrics = opts.metrics
    plain.compile(loss=loss, metrics=metrics if isinstance(metrics, dict) else list(metrics),
                  loss_weights=opts.loss_weights)
    ev = plain.evaluate(xv, yv, batch_size=opts.batch_size, verbose=0, return_dict=True)
    out = {f"val_{k}": float(v) for k, v in ev.items()}
    s = summary(plain, print_fn=None)
    out.update({k: float(s[k]) for k in ("params", "nonzero_params", "macs", "sparse_macs")})
    out["weight_sparsity"] = float(s["sparsity"])  # "sparsity" is the setting's name
    if "tflite_bytes" in opts.optional:
        path = os.path.join(trial_dir, "model_int8.tflite")
        rec = export.tflite(plain, path, quantize="int8", representative_data=calibration,
                            overwrite=True)
        out["tflite_bytes"] = float(rec.bytes)
        if "latency_ms" in opts.optional:
            runs = opts.latency_runs
            lat = export.latency(path, threads=1, runs=runs, warmup=max(1, runs // 10))
            out["latency_ms"] = float(lat.median_ms)
    return out
