"""Which task each model output has: the one resolution of kind, loss and metrics from an
explicit ``task=``, the compile state (tf_keras or Keras 3), the activation and the labels.
The metric functions that fit each kind are in :mod:`tfprune.task.metrics`.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3, activation="softmax")])
    >>> resolve(m)[0].kind
    'sparse_categorical'
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfprune import errors

__all__ = ["KINDS", "CLASS_KINDS", "METRIC_KINDS", "OutputTask", "resolve", "default_loss",
           "default_metrics", "metric_names", "compiled_metrics", "name_of"]

KINDS = ("sparse_categorical", "categorical", "binary", "regression")


#: the kinds whose outputs hold one score per class
CLASS_KINDS = ("sparse_categorical", "categorical")


_LOSS_KINDS = {
    "sparse_categorical_crossentropy": "sparse_categorical",
    "categorical_crossentropy": "categorical", "categorical_focal_crossentropy": "categorical",
    "categorical_hinge": "categorical", "kl_divergence": "categorical", "kld": "categorical",
    "kullback_leibler_divergence": "categorical",
    "binary_crossentropy": "binary", "binary_focal_crossentropy": "binary", "hinge": "binary",
    "squared_hinge": "binary",
    "mean_squared_error": "regression", "mse": "regression", "mean_absolute_error": "regression",
    "mae": "regression", "mean_absolute_percentage_error": "regression", "mape": "regression",
    "mean_squared_logarithmic_error": "regression", "msle": "regression",
    "huber": "regression", "huber_loss": "regression", "log_cosh": "regression",
    "logcosh": "regression", "cosine_similarity": "regression", "poisson": "regression",
}


#: Keras metric name -> the kind of output it implies
METRIC_KINDS = {
    "sparse_categorical_accuracy": "sparse_categorical",
    "sparse_top_k_categorical_accuracy": "sparse_categorical",
    "categorical_accuracy": "categorical", "top_k_categorical_accuracy": "categorical",
    "binary_accuracy": "binary", "auc": "binary", "precision": "binary", "recall": "binary",
    "mean_absolute_error": "regression", "mae": "regression", "mean_squared_error": "regression",
    "mse": "regression", "root_mean_squared_error": "regression", "rmse": "regression",
    "mean_absolute_percentage_error": "regression", "mape": "regression",
    "r2_score": "regression",
}


_DEFAULT_LOSS = {"sparse_categorical": "sparse_categorical_crossentropy",
                 "categorical": "categorical_crossentropy", "binary": "binary_crossentropy",
                 "regression": "mse"}


@dataclasses.dataclass(frozen=True)
class OutputTask:
    """What one model output is: ``kind`` (one of :data:`KINDS`, or None when nothing says),
    ``per_position`` (axes between batch and last), ``units`` (last axis), the compiled
    ``loss`` and ``metrics`` for it (None / ``()`` when not compiled), ``from_logits`` and
    ``source`` (what decided the kind, for messages).

    Example:
        >>> OutputTask("out", "binary", False, 1).class_scores
        False
    """

    output: str
    kind: str | None
    per_position: bool
    units: int | None
    loss: object = None
    metrics: tuple = ()
    from_logits: bool = False
    source: str = "nothing"

    @property
    def class_scores(self) -> bool:
        """True for outputs holding one score per class (top-1 applies)."""
        return self.kind in CLASS_KINDS and (self.units or 0) > 1


def name_of(obj) -> str | None:
    """The canonical lower-case name of a loss/metric given as a string, class, function or
    tf_keras / Keras 3 object.

    Example:
        >>> name_of("MSE"), name_of(None)
        ('mse', None)
    """
    if obj is None:
        return None
    if isinstance(obj, str):
        return obj.lower()
    fn = getattr(obj, "fn", None)  # LossFunctionWrapper / MeanMetricWrapper
    for cand in (getattr(fn, "__name__", None), getattr(obj, "name", None),
                 getattr(obj, "__name__", None)):
        if isinstance(cand, str) and cand:
            return cand.lower()
    return None


def _from_logits(obj) -> bool:
    kw = getattr(obj, "_fn_kwargs", None) or {}
    return bool(kw.get("from_logits", getattr(obj, "from_logits", False)))


def metric_names(metrics) -> list:
    """The names Keras logs compiled metrics under (a string is its own name).

    Example:
        >>> from tfprune.compat import keras
        >>> metric_names(["mae", keras.metrics.RootMeanSquaredError()])
        ['mae', 'root_mean_squared_error']
    """
    return [m if isinstance(m, str) else str(getattr(m, "name", m)) for m in metrics or ()]


def _per_output(value, names, i):
    if isinstance(value, dict):
        return value.get(names[i])
    if isinstance(value, (list, tuple)) and len(names) > 1 and len(value) == len(names):
        return value[i]
    return value


def compiled_metrics(model):
    """The metrics the model was compiled with, as given to ``compile`` (a list, or a dict
    per output), for tf_keras and Keras 3 models; None when not compiled with metrics.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> m.compile(loss="mse", metrics=["mae"])
        >>> compiled_metrics(m)
        ['mae']
    """
    for attr in ("compiled_metrics", "_compile_metrics"):  # tf_keras, Keras 3
        user = getattr(getattr(model, attr, None), "_user_metrics", None)
        if user is not None:
            return user
    return None


def _output_names(model):
    names = getattr(model, "output_names", None)
    if names and len(names) == len(model.outputs):
        return list(names)
    return [t.name.split("/")[0] for t in model.outputs]


def _activation(model, i) -> str | None:
    try:
        layer = model.get_layer(_output_names(model)[i])
    except (ValueError, AttributeError):
        layer = model.layers[-1] if len(model.outputs) == 1 and model.layers else None
    act = getattr(layer, "activation", None)
    return getattr(act, "__name__", None) if act is not None else None


def _label_kind(y, units) -> str | None:
    y = np.asarray(y)
    if not y.size or y.dtype.kind not in "biuf":
        return None
    finite = y[np.isfinite(y)] if y.dtype.kind == "f" else y
    integral = bool(np.all(np.equal(np.mod(finite, 1), 0)))
    if not integral:
        return "regression"
    zero_one = bool(np.all((finite == 0) | (finite == 1)))
    if units and units > 1 and y.shape[-1] == units and zero_one:
        return "categorical" if np.all(y.sum(-1) == 1) else "binary"
    if units and units > 1 and (y.shape[-1] == 1 or y.ndim == 1 or y.shape[-1] != units):
        return "sparse_categorical"
    return "binary" if zero_one else "regression"


def _kind(explicit, loss, metrics, activation, labels, units):
    if explicit is not None:
        if explicit not in KINDS:
            raise errors.unknown_name("task", explicit, KINDS + ("auto",))
        return explicit, "task argument"
    from_labels = _label_kind(labels, units) if labels is not None else None
    name = name_of(loss)
    if name in _LOSS_KINDS:
        kind = _LOSS_KINDS[name]
        if kind == "binary" and from_labels == "regression":  # BCE on values (autoencoders)
            return "regression", f"loss {name!r} on non-0/1 targets"
        return kind, f"loss {name!r}"
    for m in metrics or ():
        if name_of(m) in METRIC_KINDS:
            return METRIC_KINDS[name_of(m)], f"metric {name_of(m)!r}"
    if activation == "softmax" and (units or 0) > 1:
        kind = from_labels if from_labels in CLASS_KINDS else "sparse_categorical"
        return kind, "softmax output" + (" and labels" if from_labels else "")
    if from_labels is not None:
        return from_labels, "labels"
    return None, "nothing (no compiled loss, no labels)"


def resolve(model, labels=None, *, loss=None, metrics=None, task=None) -> list:
    """One :class:`OutputTask` per model output (Keras output order).

    Args:
        model: a built tf_keras or Keras 3 model (compiled or not).
        labels: targets (an array for one output; a list or ``{output: array}`` for
            several), used where the compile state does not decide.
        loss, metrics: override the compile state (same forms as ``compile``).
        task: a kind from :data:`KINDS` (every output), ``"auto"``/None, or
            ``{output: kind}``.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> resolve(m, np.array([6.0, 12.5, 18.0]))[0].kind
        'regression'
        >>> resolve(m, np.array([0, 1, 1]))[0].kind
        'binary'
    """
    names = _output_names(model)
    loss = loss if loss is not None else getattr(model, "loss", None)
    metrics = metrics if metrics is not None else compiled_metrics(model)
    if task == "auto":
        task = None
    if isinstance(task, dict):
        unknown = sorted(set(task) - set(names))
        if unknown:
            raise errors.ConfigError(f"task names output(s) {unknown} the model does not have; "
                                     f"outputs: {names}.")
    out = []
    for i, t in enumerate(model.outputs):
        shape = tuple(t.shape)
        units = shape[-1] if len(shape) > 1 and isinstance(shape[-1], int) else None
        y = labels.get(names[i]) if isinstance(labels, dict) else (
            labels[i] if isinstance(labels, (list, tuple)) and len(names) > 1 else labels)
        lo, ms = _per_output(loss, names, i), _per_output(metrics, names, i)
        ms = tuple(ms) if isinstance(ms, (list, tuple)) else (() if ms is None else (ms,))
        explicit = task.get(names[i]) if isinstance(task, dict) else task
        kind, source = _kind(explicit, lo, ms, _activation(model, i), y, units)
        out.append(OutputTask(names[i], kind, len(shape) > 2, units, lo, ms,
                              _from_logits(lo), source))
    return out


def default_loss(kind: str | None) -> str | None:
    """The usual loss for a kind (None when the kind is unknown).

    Example:
        >>> default_loss("regression")
        'mse'
    """
    return _DEFAULT_LOSS.get(kind)


def default_metrics(kind: str | None) -> tuple:
    """What to measure when nothing was compiled: accuracy for class scores and binary
    outputs, mean absolute error for regression.

    Example:
        >>> default_metrics("regression"), default_metrics("binary")
        (('mae',), ('accuracy',))
    """
    if kind == "regression":
        return ("mae",)
    return ("accuracy",) if kind in KINDS else ()

