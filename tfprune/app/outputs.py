"""Models with several outputs in the CLI: per-output labels in a ``.npz`` file, their check
against the model's output names, and the verbs that take such models.

A ``.npz`` file gives one label array per output as ``y_<output>`` (with ``x``, split by
``test_fraction``) or ``y_train_<output>`` / ``y_test_<output>`` (with ``x_train``,
``x_test``); the labels are then ``{output: array}``, the form
:func:`tfprune.analysis.sensitivity` takes. ``tfprune sensitivity`` measures such models
(the compiled total loss, or one output's metric: ``--metric cls_accuracy``);
``tfprune run`` trains, measures and exports them too (:mod:`tfprune.app.multi`).

Example:
    >>> import numpy as np
    >>> arrays = {"x": np.zeros((4, 2)), "y_cls": np.arange(4), "y_reg": np.ones(4)}
    >>> (x, y), (xt, yt) = split_arrays("d.npz", arrays, 0.25, seed=0)
    >>> sorted(y), len(x), len(yt["reg"])
    (['cls', 'reg'], 3, 1)
"""

from __future__ import annotations

import numpy as np

from tfprune import errors
from tfprune import task as task_lib

__all__ = ["split_arrays", "check_labels", "head", "output_names", "per_output_measures"]


def output_names(model) -> list:
    """The model's output names in Keras' order.

    Example:
        >>> from tfprune.compat import keras
        >>> output_names(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="p")]))
        ['p']
    """
    return [t.output for t in task_lib.resolve(model)]


def _per_output(arrays, prefix) -> dict:
    return {k[len(prefix):]: v for k, v in arrays.items()
            if k.startswith(prefix) and len(k) > len(prefix)}


def split_arrays(path, arrays: dict, test_fraction: float, seed: int):
    """``((x_train, {output: y}), (x_test, {output: y}))`` from a .npz file's arrays holding
    per-output labels (``y_<output>``; or ``y_train_<output>``/``y_test_<output>``), None
    when it holds none.

    Example:
        >>> split_arrays("d.npz", {"x": np.zeros(2), "y": np.zeros(2)}, 0.5, 0) is None
        True
    """
    if {"x_train", "x_test"} <= set(arrays):
        tr, te = _per_output(arrays, "y_train_"), _per_output(arrays, "y_test_")
        if not tr and not te:
            return None
        if sorted(tr) != sorted(te):
            raise errors.ConfigError(
                f"data.source {path!r}: per-output labels differ between train "
                f"({sorted(tr)}) and test ({sorted(te)}); give y_train_<output> and "
                "y_test_<output> for every output.")
        _lengths(path, "x_train", arrays["x_train"], tr, "y_train_")
        _lengths(path, "x_test", arrays["x_test"], te, "y_test_")
        return (arrays["x_train"], tr), (arrays["x_test"], te)
    ys = _per_output(arrays, "y_")
    if "x" not in arrays or not ys:
        return None
    x = arrays["x"]
    _lengths(path, "x", x, ys, "y_")
    if len(x) < 2:
        raise errors.ConfigError(f"data.source {path!r}: x has {len(x)} sample(s); a run needs "
                                 "training and test samples (at least 2).")
    n_train = len(x) - max(1, int(round(test_fraction * len(x))))
    order = np.random.default_rng(seed).permutation(len(x))
    tr, te = order[:n_train], order[n_train:]
    return ((x[tr], {k: v[tr] for k, v in ys.items()}),
            (x[te], {k: v[te] for k, v in ys.items()}))


def _lengths(path, xname, x, ys, prefix):
    for name, y in ys.items():
        if np.ndim(y) == 0 or len(y) != len(x):
            raise errors.ConfigError(
                f"data.source {path!r}: {prefix}{name} has {np.shape(y)[:1] or 'no'} rows but "
                f"{xname} has {len(x)}; give one label per sample for output {name!r}.")
        if np.asarray(y).dtype.kind not in "biuf":
            raise errors.ConfigError(f"data.source {path!r}: {prefix}{name} has dtype "
                                     f"{np.asarray(y).dtype}; labels are numbers.")


def check_labels(model, y, source: str = "data") -> None:
    """Refuse labels that do not match the model's outputs: a single array for a model with
    several outputs, or a dict whose keys are not the output names (naming the missing and
    the unknown ones and the .npz arrays to write).

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((2,))
        >>> m = keras.Model(i, [keras.layers.Dense(1, name="a")(i), keras.layers.Dense(1, name="b")(i)])
        >>> check_labels(m, {"a": np.zeros(2)})  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: data: model has outputs ['a', 'b'] but labels were given for ['a'] (missing ['b'])...
    """
    names = output_names(model)
    if not isinstance(y, dict):
        if len(names) == 1:
            return
        raise errors.ConfigError(
            f"{source}: model {model.name!r} has {len(names)} outputs {names} but the data "
            "gives one label array (y). Save one array per output in the .npz file: "
            + ", ".join(f"y_{n}" for n in names) + " (with x), or "
            + ", ".join(f"y_train_{n}/y_test_{n}" for n in names) + " (with x_train, x_test).")
    if sorted(y) != sorted(names):
        missing = sorted(set(names) - set(y))
        extra = sorted(set(y) - set(names))
        raise errors.ConfigError(
            f"{source}: model has outputs {names} but labels were given for {sorted(y)}"
            + (f" (missing {missing})" if missing else "")
            + (f" (no such output: {extra})" if extra else "")
            + ". Name the .npz arrays y_<output> after the model's outputs.")


def head(y, n: int):
    """The first ``n`` labels (an array, or one per output).

    Example:
        >>> head({"a": np.arange(5)}, 2)
        {'a': array([0, 1])}
    """
    return {k: v[:n] for k, v in y.items()} if isinstance(y, dict) else y[:n]


def per_output_measures(model, x, y) -> dict | None:
    """Each output's compiled loss and metrics on ``(x, y)`` (``{"cls_accuracy": ...,
    "reg_mae": ...}``, as Keras names them) for a model with several outputs; None for one
    output or a model compiled without losses.

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((2,))
        >>> m = keras.Model(i, [keras.layers.Dense(1, name="a")(i), keras.layers.Dense(1, name="b")(i)])
        >>> m.compile(loss={"a": "mse", "b": "mae"}, metrics={"b": ["mse"]})
        >>> sorted(per_output_measures(m, np.zeros((4, 2)), {"a": np.zeros(4), "b": np.zeros(4)}))
        ['a_loss', 'b_loss', 'b_mse']
    """
    if not isinstance(y, dict) or getattr(model, "loss", None) is None:
        return None
    got = model.evaluate(x, y, batch_size=256, verbose=0, return_dict=True)
    return {k: float(v) for k, v in got.items() if k != "loss"}
