"""The measures that fit each kind of output (:mod:`tfprune.task.resolution`): accuracy for
class scores and binary outputs, error measures (mae, mse, rmse) for values, the compiled
loss, Keras metric functions and callables; a measure that cannot apply is refused.

Example:
    >>> t = OutputTask("out", "regression", False, 1)
    >>> metric(t, "rmse").name, direction("val_rmse")
    ('rmse', 'min')
"""

from __future__ import annotations

import dataclasses

import tensorflow as tf

from tfprune import errors
from tfprune.compat import keras
from tfprune.task.resolution import (
    CLASS_KINDS,
    KINDS,
    METRIC_KINDS,
    OutputTask,
    default_loss,
    default_metrics,
    name_of,
)

__all__ = ["Metric", "metric", "check_metric", "direction"]

_OWN = {
    "accuracy": (KINDS[:3], True), "acc": (KINDS[:3], True),
    "mae": (KINDS[1:], False), "mean_absolute_error": (KINDS[1:], False),
    "mse": (KINDS[1:], False), "mean_squared_error": (KINDS[1:], False),
    "rmse": (KINDS[1:], False), "root_mean_squared_error": (KINDS[1:], False),
}


_HIGHER = ("accuracy", "acc", "auc", "precision", "recall", "r2", "iou", "f1", "cosine")


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
    name = name_of(metric) if isinstance(metric, str) else None
    if name is None or t.kind is None:
        return
    if name in _OWN and t.kind not in _OWN[name][0]:
        raise _refuse(t, metric, _OWN[name][0])
    want = METRIC_KINDS.get(name)
    if want is not None and want != t.kind and not (
            want in CLASS_KINDS and t.kind in CLASS_KINDS and "top_k" not in name):
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

