"""The task of each model output, and the loss and metrics that fit it: one resolution.

Every part of tfprune that measures a model (sensitivity, verify, the tuner, recipes) asks
this module what each output is instead of assuming classification. Per output, the kind is

- ``"sparse_categorical"``: class scores, integer labels;
- ``"categorical"``: class scores, one-hot labels;
- ``"binary"``: 0/1 targets (one unit, or several independent labels);
- ``"regression"``: values (also reconstructions: autoencoders);

and ``per_position`` says the output has axes between the batch and the last one (pixels,
time steps: segmentation, autoencoders). The kind comes, in this order, from an explicit
``task=``, the compiled loss (tf_keras or Keras 3 objects or names), the compiled metrics,
the output's activation (softmax: class scores) and the labels (non-integer or non-0/1
values: regression; integer ids for a several-unit output: sparse; one-hot rows:
categorical). What none of these settles stays ``None`` and is refused only where it
matters (``metric="accuracy"``).

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1, name="price")])
    >>> m.compile(loss="mse")
    >>> t = resolve(m)[0]
    >>> t.output, t.kind, t.source
    ('price', 'regression', "loss 'mse'")
    >>> metric(t, "accuracy")  # doctest: +ELLIPSIS
    Traceback (most recent call last):
    ...
    tfprune.errors.ConfigError: metric='accuracy' cannot apply to output 'price'...
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.compat import keras

__all__ = ["KINDS", "OutputTask", "Metric", "resolve", "metric", "check_metric", "direction",
           "default_loss", "default_metrics", "metric_names", "compiled_metrics"]

KINDS = ("sparse_categorical", "categorical", "binary", "regression")
_CLASSES = ("sparse_categorical", "categorical")

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
_METRIC_KINDS = {
    "sparse_categorical_accuracy": "sparse_categorical",
    "sparse_top_k_categorical_accuracy": "sparse_categorical",
    "categorical_accuracy": "categorical", "top_k_categorical_accuracy": "categorical",
    "binary_accuracy": "binary", "auc": "binary", "precision": "binary", "recall": "binary",
    "mean_absolute_error": "regression", "mae": "regression", "mean_squared_error": "regression",
    "mse": "regression", "root_mean_squared_error": "regression", "rmse": "regression",
    "mean_absolute_percentage_error": "regression", "mape": "regression",
    "r2_score": "regression",
}
#: metrics computed here (name -> kinds it applies to, higher is better)
_OWN = {
    "accuracy": (KINDS[:3], True), "acc": (KINDS[:3], True),
    "mae": (KINDS[1:], False), "mean_absolute_error": (KINDS[1:], False),
    "mse": (KINDS[1:], False), "mean_squared_error": (KINDS[1:], False),
    "rmse": (KINDS[1:], False), "root_mean_squared_error": (KINDS[1:], False),
}
_HIGHER = ("accuracy", "acc", "auc", "precision", "recall", "r2", "iou", "f1", "cosine")
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
        return self.kind in _CLASSES and (self.units or 0) > 1


@dataclasses.dataclass(frozen=True)
class Metric:
    """A resolved metric: ``fn(y_true, y_pred) -> batch-mean scalar`` (tensors), its
    ``name`` and ``higher_is_better``.

    Example:
        >>> t = OutputTask("out", "regression", False, 1)
        >>> m = metric(t, "mae")
        >>> m.name, m.higher_is_better, float(m.fn(tf.constant([1.0]), tf.constant([[3.0]])))
        ('mae', False, 2.0)
    """

    fn: object
    name: str
    higher_is_better: bool


# -- names of compile-state objects -------------------------------------------------------
def _name(obj) -> str | None:
    """The canonical lower-case name of a loss/metric given as a string, class, function or
    tf_keras / Keras 3 object."""
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


def direction(name: str) -> str:
    """``"max"`` for accuracies, AUC, precision, recall, R²; ``"min"`` for losses and errors.

    Example:
        >>> direction("val_mae"), direction("val_sparse_categorical_accuracy")
        ('min', 'max')
    """
    low = name.lower()
    if any(k in low for k in ("loss", "error", "crossentropy", "hinge")):
        return "min"
    return "max" if any(k in low for k in _HIGHER) else "min"


# -- the compile state ------------------------------------------------------------------
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


# -- labels ----------------------------------------------------------------------------
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
    name = _name(loss)
    if name in _LOSS_KINDS:
        kind = _LOSS_KINDS[name]
        if kind == "binary" and from_labels == "regression":  # BCE on values (autoencoders)
            return "regression", f"loss {name!r} on non-0/1 targets"
        return kind, f"loss {name!r}"
    for m in metrics or ():
        if _name(m) in _METRIC_KINDS:
            return _METRIC_KINDS[_name(m)], f"metric {_name(m)!r}"
    if activation == "softmax" and (units or 0) > 1:
        kind = from_labels if from_labels in _CLASSES else "sparse_categorical"
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


# -- metric functions -----------------------------------------------------------------
def _accuracy(t: OutputTask):
    if t.kind == "sparse_categorical":
        def fn(y, p):
            y = tf.reshape(tf.cast(y, tf.int64), tf.shape(p)[:-1])
            return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(p, -1), y), tf.float32))
    elif t.kind == "categorical":
        def fn(y, p):
            return tf.reduce_mean(tf.cast(tf.equal(tf.argmax(p, -1), tf.argmax(y, -1)),
                                          tf.float32))
    else:
        cut = 0.0 if t.from_logits else 0.5

        def fn(y, p):
            y = tf.reshape(tf.cast(y, tf.float32), tf.shape(p))
            return tf.reduce_mean(tf.cast(tf.equal(y > 0.5, p > cut), tf.float32))
    return fn


def _error(kind):
    def fn(y, p):
        d = tf.reshape(tf.cast(y, tf.float32), tf.shape(p)) - tf.cast(p, tf.float32)
        if kind == "mae":
            return tf.reduce_mean(tf.abs(d))
        mse = tf.reduce_mean(tf.square(d))
        return mse if kind == "mse" else tf.sqrt(mse)
    return fn


def _refuse(t: OutputTask, name: str, valid_kinds):
    fits = ("metric='mae' (or 'mse', 'rmse', 'loss')" if t.kind == "regression"
            else "metric='accuracy' (or 'loss')")
    if t.kind is None:
        return errors.ConfigError(
            f"metric={name!r}: cannot tell what output {t.output!r} predicts (no compiled "
            f"loss, no softmax, labels that do not say). Compile the model with its loss "
            f"(e.g. 'mse' for values, 'sparse_categorical_crossentropy' for class ids), or "
            f"pass metric='loss' or a callable (y_true, y_pred) -> scalar.")
    return errors.ConfigError(
        f"metric={name!r} cannot apply to output {t.output!r}: it is a {t.kind} output "
        f"(from {t.source}) and {name!r} applies to {' / '.join(valid_kinds)} outputs. "
        f"Pass {fits}, or a callable (y_true, y_pred) -> scalar.")


def _loss_metric(t: OutputTask):
    if t.loss is None:
        hint = default_loss(t.kind) or "sparse_categorical_crossentropy or mse"
        raise errors.ConfigError(
            f"metric='loss' needs the model's loss for output {t.output!r}: compile it first "
            f"(model.compile(loss={hint!r})), or pass another metric "
            f"({', '.join(repr(n) for n in default_metrics(t.kind) or ('mae', 'accuracy'))}) "
            "or a callable (y_true, y_pred) -> scalar.")
    loss = keras.losses.get(t.loss) if isinstance(t.loss, str) else t.loss

    def fn(y, p):
        if y.shape.rank is not None and y.shape.rank == p.shape.rank - 1 and p.shape[-1] == 1:
            y = tf.expand_dims(y, -1)  # as Keras' Loss classes do: (n,) targets, (n, 1) output
        return tf.reduce_mean(tf.cast(loss(y, p), tf.float32))
    return Metric(fn, "loss", False)


def check_metric(t: OutputTask, metric) -> None:
    """Refuse a metric name that cannot apply to output ``t`` (accuracy on a regression
    output, an error measure on class ids); callables, objects and names this module does
    not know pass (Keras computes them).

    Example:
        >>> check_metric(OutputTask("y", "regression", False, 1), "mae")
        >>> check_metric(OutputTask("y", "regression", False, 1), "acc")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: metric='acc' cannot apply to output 'y'...
    """
    name = _name(metric) if isinstance(metric, str) else None
    if name is None or t.kind is None:
        return
    if name in _OWN and t.kind not in _OWN[name][0]:
        raise _refuse(t, metric, _OWN[name][0])
    want = _METRIC_KINDS.get(name)
    if want is not None and want != t.kind and not (
            want in _CLASSES and t.kind in _CLASSES and "top_k" not in name):
        raise _refuse(t, metric, (want,))


def metric(t: OutputTask, metric) -> Metric:
    """The :class:`Metric` for ``metric`` on output ``t``: ``"loss"`` (the compiled loss),
    ``"accuracy"`` (argmax for class scores, a 0.5 threshold — 0 for logits — for binary),
    ``"mae"``/``"mse"``/``"rmse"``, another Keras metric name, or a callable ``(y, p)``
    (lower is better unless it has ``higher_is_better = True``).

    Raises:
        ConfigError: a metric that cannot apply to the output (accuracy on a regression
            output, an error measure on class ids), naming the output and what to pass.

    Example:
        >>> t = OutputTask("cls", "sparse_categorical", False, 3)
        >>> float(metric(t, "accuracy").fn(tf.constant([2, 0]), tf.constant([[0., 0, 1],
        ...                                                                  [0, 1, 0]])))
        0.5
    """
    if callable(metric) and not isinstance(metric, str):
        name = getattr(metric, "name", None) or getattr(metric, "__name__", "metric")
        higher = bool(getattr(metric, "higher_is_better", False))

        def fn(y, p):
            return tf.reduce_mean(tf.cast(metric(y, p), tf.float32))
        return Metric(fn, str(name), higher)
    if not isinstance(metric, str):
        raise errors.ConfigError(f"metric must be a name such as 'loss', 'accuracy' or 'mae', "
                                 f"or a callable (y_true, y_pred), got {metric!r}.")
    name = metric.lower()
    if name == "loss":
        return _loss_metric(t)
    if name in _OWN:
        kinds, higher = _OWN[name]
        if t.kind not in kinds:
            raise _refuse(t, metric, kinds)
        if higher:
            return Metric(_accuracy(t), "accuracy", True)
        short = {"mean_absolute_error": "mae", "mean_squared_error": "mse",
                 "root_mean_squared_error": "rmse"}.get(name, name)
        return Metric(_error(short), short, False)
    return _keras_metric(t, metric)


def _keras_metric(t, name):
    check_metric(t, name)
    try:
        fn_ = keras.metrics.get(name)
        if not callable(fn_):  # tf_keras hands an unknown name back
            raise ValueError(name)
    except (ValueError, TypeError):
        raise errors.unknown_name("metric", name, ("loss",) + tuple(_OWN) + (
            "a Keras metric name", "a callable (y_true, y_pred)")) from None
    if hasattr(fn_, "update_state"):
        raise errors.ConfigError(
            f"metric={name!r} is a stateful Keras metric; here it must be a function: pass "
            f"one of {', '.join(repr(n) for n in _OWN)}, 'loss' or a callable "
            "(y_true, y_pred) -> scalar.")

    def fn(y, p):
        return tf.reduce_mean(tf.cast(fn_(y, p), tf.float32))
    return Metric(fn, name, direction(name) == "max")
