"""The user's compile state in the CLI: the loss and the metric a loaded model was compiled
with (a ``.keras`` or ``.h5`` file keeps them) come before tfprune's defaults, so ``tfprune
run`` trains with the user's loss and ``run``/``sensitivity`` measure the user's metric.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1, name="price")])
    >>> m.compile(loss="huber", metrics=["mse"])
    >>> user_loss(m), user_metric(m)
    ('huber', 'mse')
"""

from __future__ import annotations

from tfprune import errors
from tfprune import task as task_lib
from tfprune.compat import keras
from tfprune.task.resolution import name_of

__all__ = ["user_loss", "named_loss", "user_metric", "metric_for"]


def user_loss(model):
    """The loss ``model`` was compiled with, by name where Keras knows the name (a function
    from a ``.h5`` file becomes ``"huber"``), the object otherwise; None when not compiled or
    compiled with one loss per output (a dict or list).

    Example:
        >>> user_loss(keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])) is None
        True
    """
    loss = getattr(model, "loss", None)
    if loss is None or isinstance(loss, (dict, list, tuple)):
        return None
    return named_loss(loss)


def named_loss(loss):
    """``loss`` by its Keras name where it has one (as a recipe writes it), else itself.

    Example:
        >>> named_loss(keras.losses.MeanSquaredError()), named_loss("mae")
        ('mean_squared_error', 'mae')
    """
    name = name_of(loss) if not isinstance(loss, str) else loss
    if name:
        try:
            keras.losses.get(name)
            return name
        except ValueError:
            pass
    return loss


def _flat(metrics) -> list:
    out = []
    for m in metrics or ():
        out.extend(_flat(m) if isinstance(m, (list, tuple)) else [m])
    return out


def user_metric(model, labels=None, task=None) -> str | None:
    """The first metric ``model`` was compiled with that tfprune can compute on its (one)
    output (``"mae"``, ``"accuracy"``, ...); None when it has several outputs, was compiled
    without metrics, or with none that applies.

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> m.compile(loss="mse", metrics=["accuracy", "mae"])  # accuracy cannot apply
        >>> user_metric(m)
        'mae'
    """
    metrics = task_lib.compiled_metrics(model)
    if len(model.outputs) != 1 or not metrics or isinstance(metrics, dict):
        return None
    t = task_lib.resolve(model, labels, task=task)[0]
    for m in _flat(metrics):
        name = m if isinstance(m, str) else name_of(m)
        if not name:
            continue
        try:
            task_lib.metric(t, name)
        except errors.ConfigError:
            continue
        return name
    return None


def metric_for(model, labels=None, task=None) -> str:
    """What the CLI measures when the user does not say: the compiled metric
    (:func:`user_metric`), else the usual one for the output's task (accuracy for class
    scores and binary outputs, ``mae`` for regression), else ``"loss"`` (also for a model
    with several outputs: the compiled total loss).

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, activation="softmax")])
        >>> metric_for(m)
        'accuracy'
    """
    if len(model.outputs) != 1:
        return "loss"
    chosen = user_metric(model, labels, task)
    if chosen:
        return chosen
    kind = task_lib.resolve(model, labels, task=task)[0].kind
    return (task_lib.default_metrics(kind) or ("loss",))[0]
