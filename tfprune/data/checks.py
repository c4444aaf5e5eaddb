"""The one set of data checks: sample shape against the model's inputs, dtype (strings and
complex numbers refused, unscaled 0..255 integers for a float input refused), finite values,
and labels against the loss and the output width.

Example:
    >>> label_rule("categorical_crossentropy")
    'onehot'
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.data.forms import (
    BATCH_SIZE,
    as_array,
    elements,
    is_multi_x,
    length,
    n_inputs,
    split,
    to_numpy,
    whole_arrays,
)

__all__ = ["RULES", "check", "check_labels", "check_lengths", "label_rule", "check_x",
           "check_batch"]

#: the label rules of :func:`check` (``labels=``)
RULES = ("sparse", "onehot", "classes", "length")


def _reads_tokens(model) -> bool:
    def walk(m):
        for layer in getattr(m, "layers", []):
            inner = getattr(layer, "layer", layer)
            if hasattr(inner, "layers") and inner is not m:
                yield from walk(inner)
            else:
                yield inner

    return any(any(k.__name__ == "Embedding" for k in type(lyr).__mro__) for lyr in walk(model))


def _specs(model):
    """``[(name, shape without batch axis, tf dtype)]`` per model input."""
    out = []
    names = list(getattr(model, "input_names", None) or [])
    for i, t in enumerate(getattr(model, "inputs", None) or []):
        name = names[i] if i < len(names) else t.name.split(":")[0]
        out.append((name, tuple(t.shape[1:]), tf.as_dtype(t.dtype)))
    return out


def _per_input(x, specs, arg):
    """One part of ``x`` per model input (in input order)."""
    names = [s[0] for s in specs]
    if len(specs) <= 1:
        if isinstance(x, dict) and len(x) == 1:
            return list(x.values())
        return [x]
    if isinstance(x, dict):
        missing = [n for n in names if n not in x]
        if missing:
            raise errors.DataError(
                f"`{arg}` is a dict with keys {sorted(x)}, but the model inputs are {names} "
                f"(missing: {missing}). Key the arrays by input name.")
        return [x[n] for n in names]
    if isinstance(x, (list, tuple)) and len(x) == len(specs):
        return list(x)
    raise errors.DataError(
        f"The model has {len(specs)} inputs {names}; pass the inputs of `{arg}` as a list of "
        f"{len(specs)} arrays in that order or a dict {{name: array}} (with labels: (inputs, y)).")


def _check_values(a, arg, where):
    if a.dtype.kind in "USO":
        raise errors.DataError(f"`{arg}`{where} holds strings ({a.dtype}); the model needs "
                               "numbers: tokenize/encode the data first.")
    if a.dtype.kind == "c":
        raise errors.DataError(
            f"`{arg}`{where} holds complex numbers ({a.dtype}); the model takes real inputs: "
            "pass np.real(x) or np.abs(x), or split real and imaginary parts into channels.")
    if a.dtype.kind == "f":
        bad = ~np.isfinite(a)
        if bad.any():
            first = tuple(int(i) for i in np.argwhere(bad)[0])
            raise errors.DataError(
                f"`{arg}`{where} holds {int(bad.sum())} NaN/inf value(s) (first at index "
                f"{first}); clean or drop those samples (np.isfinite) first.")


def _check_input(model, spec, a, arg, where, tokens):
    name, want, dtype = spec
    shape = a.shape[1:]
    if len(shape) != len(want) or any(w is not None and w != d
                                      for w, d in zip(want, shape, strict=False)):
        raise errors.DataError(
            f"`{arg}`{where} samples have shape {tuple(shape)} but model "
            f"{getattr(model, 'name', '?')!r} expects {want} (its input shape without the "
            f"batch axis). Reshape the data, e.g. x.reshape(-1, *{want}).")
    _check_values(a, arg, where)
    if (dtype.is_floating and not tokens and a.dtype.kind in "iu" and a.size
            and int(a.max()) > 1):
        raise errors.DataError(
            f"`{arg}`{where} is {a.dtype} with values up to {int(a.max())}, but model "
            f"{getattr(model, 'name', '?')!r} takes floats: scale and cast it as in training, "
            "e.g. x.astype('float32') / 255.")


def check_x(model, x, arg, where=""):
    """Check the inputs ``x`` of one batch against ``model`` (None: values only); returns
    one part per model input.

    Example:
        >>> len(check_x(None, np.zeros((2, 3), "float32"), "x"))
        1
    """
    specs = _specs(model) if model is not None else []
    parts = _per_input(x, specs, arg) if specs else tf.nest.flatten(x)
    tokens = bool(specs) and _reads_tokens(model)
    multi = len(specs) > 1
    for i, part in enumerate(parts):
        a = as_array(part, arg)
        at = f" (input {specs[i][0]!r}){where}" if multi else where
        if specs:
            _check_input(model, specs[i], a, arg, at, tokens)
        else:
            _check_values(a, arg, at)
    return parts


def _outputs(model) -> int | None:
    shape = getattr(model, "output_shape", None)
    if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
        return shape[-1]
    return None


def check_labels(y, model, *, sparse: bool | None = None, n_samples: int | None = None):
    """Check class labels against the model's output: length, one-hot vs sparse, range,
    and, for a sparse loss, whole numbers.

    Args:
        y: labels (array-like).
        model: the model (its last output dimension is the number of classes).
        sparse: True for integer labels (sparse_categorical_*), False for one-hot,
            None to accept either.
        n_samples: the number of inputs, when known.

    Raises:
        DataError: naming the problem and the fix.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> check_labels(np.array([0, 2]), m, sparse=True, n_samples=2)
        >>> check_labels(np.array([0, 3]), m, sparse=True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: labels hold class 3, but model ... has 3 outputs ...
    """
    y = np.asarray(y)
    classes = _outputs(model)
    if n_samples is not None and len(y) != n_samples:
        raise errors.DataError(
            f"labels have length {len(y)} but the data has {n_samples} samples; "
            "pass one label per sample (x and y of the same length).")
    onehot = y.ndim == 2 and y.shape[-1] > 1
    if sparse is True and onehot:
        raise errors.DataError(
            f"labels are one-hot (shape {y.shape}) but the loss expects class ids: use "
            "y.argmax(-1), or the loss 'categorical_crossentropy'.")
    if sparse is False and not onehot:
        raise errors.DataError(
            f"labels are class ids (shape {y.shape}) but the loss expects one-hot rows: use "
            "keras.utils.to_categorical(y), or the loss 'sparse_categorical_crossentropy'.")
    if onehot and classes is not None and y.shape[-1] != classes:
        raise errors.DataError(f"one-hot labels have {y.shape[-1]} columns but model "
                               f"{model.name!r} has {classes} outputs.")
    if sparse is True and y.size and y.dtype.kind == "f":
        frac = y[np.isfinite(y) & (y != np.round(y))]
        if frac.size:
            raise errors.DataError(
                f"labels hold {frac.size} non-integer value(s) (e.g. {float(frac[0])!r}), but "
                "the loss expects class ids 0, 1, 2, ...: pass integer class ids "
                "(y.astype('int64')), or a regression loss such as 'mse'.")
    ids = y.dtype.kind in "iu" or (sparse is True and y.dtype.kind == "f")
    if not onehot and y.size and ids and classes is not None and classes > 1:
        low, high = int(np.min(y)), int(np.max(y))
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise errors.DataError(
                f"labels hold class {bad}, but model {model.name!r} has {classes} outputs "
                f"(valid classes 0..{classes - 1}). Remap the labels or give the model "
                f"{high + 1} outputs.")


def check_lengths(x, y, arg: str = "data", *, error=errors.DataError) -> int:
    """The sample count of ``x`` (an array, or a list/dict of arrays for several inputs),
    checked against every label array of ``y`` (one per output; None: no labels).

    Raises:
        ``error``: a label array of another length, naming ``arg`` and both lengths.

    Example:
        >>> check_lengths([np.zeros((4, 2)), np.zeros((4, 3))], {"a": np.zeros(4)})
        4
        >>> check_lengths(np.zeros((4, 2)), [np.zeros(4), np.zeros(3)], "x")
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: `x` has 4 samples but its labels have 3: pass one label per sample (for several outputs, one array per output).
    """
    n = length(x)
    for label in ([] if y is None else tf.nest.flatten(y)):
        if len(label) != n:
            raise error(f"`{arg}` has {n} samples but its labels have {len(label)}: pass one "
                        "label per sample (for several outputs, one array per output).")
    return n


def label_rule(loss) -> str | None:
    """How labels are checked for ``loss``: ``"sparse"`` (class ids), ``"onehot"``,
    ``"classes"`` (either), ``"length"`` (one per sample: any other loss), None (no loss).

    Example:
        >>> label_rule("sparse_categorical_crossentropy"), label_rule("mse")
        ('sparse', 'length')
    """
    if loss is None:
        return None
    name = loss if isinstance(loss, str) else str(
        getattr(loss, "name", None) or getattr(loss, "__name__", ""))
    if "crossentropy" not in name and "hinge" not in name:
        return "length"
    if name.startswith("sparse_"):
        return "sparse"
    return "onehot" if name == "categorical_crossentropy" else "classes"


def _check_y(model, x, y, rule, arg, where=""):
    if y is None or rule is None or model is None:
        return
    y = as_array(y, arg)
    _check_values(y, arg, f" (labels){where}")
    n = length(_per_input(x, _specs(model), arg)[0] if _specs(model) else x)
    sparse = {"sparse": True, "onehot": False}.get(rule)
    try:
        if rule == "length":
            check_labels(np.zeros(len(y), "int64"), model, n_samples=n)
        else:
            check_labels(y, model, sparse=sparse, n_samples=n)
    except errors.DataError as e:
        if not where:
            raise
        raise errors.DataError(f"`{arg}`{where}: {e}") from None


def check_batch(model, batch, rule, arg, where=""):
    """Check one batch (``x`` or ``(x, y)``): inputs by :func:`check_x`, labels by ``rule``
    (:func:`label_rule`; None: not checked).

    Example:
        >>> check_batch(None, (np.zeros((2, 3)), np.array([0, 1])), None, "data")
    """
    x, y = split(batch, model)
    check_x(model, x, arg, where)
    _check_y(model, x, y, rule, arg, where)


def _check_spec(model, ds, arg):
    """A ``tf.data.Dataset``: shapes and dtypes of its element spec (values as it is read)."""
    spec = ds.element_spec
    x = spec[0] if isinstance(spec, tuple) and len(spec) >= 2 and not is_multi_x(
        spec, n_inputs(model)) else spec
    specs = _specs(model)
    parts = _per_input(x, specs, arg) if specs else []
    for i, part in enumerate(parts):
        if not hasattr(part, "shape"):
            continue
        if part.dtype in (tf.string,) or part.dtype.is_complex:
            _check_values(np.zeros(0, part.dtype.as_numpy_dtype if part.dtype != tf.string
                                   else object), arg, "")
        want, shape = specs[i][1], tuple(part.shape[1:])
        if part.shape.rank is not None and (len(shape) != len(want) or any(
                w is not None and d is not None and w != d for w, d in zip(want, shape,
                                                                            strict=False))):
            where = f" (input {specs[i][0]!r})" if len(specs) > 1 else ""
            raise errors.DataError(
                f"`{arg}`{where} samples have shape {shape} but model "
                f"{getattr(model, 'name', '?')!r} expects {want} (its input shape without the "
                f"batch axis; a tf.data.Dataset must be batched: ds.batch(32)).")


def check(model, data, *, loss=None, labels: str | None = None, arg: str = "data") -> None:
    """Check ``data`` against ``model`` before any work.

    What can be read without consuming the source is checked whole: arrays, ``(x, y)``,
    nested lists and every batch of a list; a ``tf.data.Dataset`` on its element spec.
    A generator is checked batch by batch as :func:`batches` reads it.

    Args:
        model: the model the data feeds.
        data: any accepted form (module docstring).
        loss: the loss the labels serve (sets ``labels`` by :func:`label_rule`).
        labels: ``"sparse"``, ``"onehot"``, ``"classes"``, ``"length"`` or None (labels
            not checked).
        arg: the argument name used in messages.

    Raises:
        DataError: naming the problem and the fix.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> check(m, np.zeros((3, 4), "float32"))
        >>> check(m, np.zeros((3, 4), "complex64"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: `data` holds complex numbers (complex64); ...
    """
    rule = labels if labels is not None else label_rule(loss)
    if rule is not None and rule not in RULES:
        raise errors.ConfigError(f"labels={rule!r}: use one of {RULES} or None.")
    if isinstance(data, tf.data.Dataset):
        _check_spec(model, data, arg)
        return
    k = n_inputs(model)
    whole = whole_arrays(data, k, arg)
    if whole is not None:
        x, y = whole
        check_batch(model, x if y is None else (x, y), rule, arg)
    elif isinstance(data, (list, tuple)):
        for i, b in enumerate(data):
            check_batch(model, to_numpy(b, arg), rule, arg, f" (batch {i})")
    elif data is None or isinstance(data, (dict, str, bytes)) or not hasattr(data, "__iter__"):
        elements(data, BATCH_SIZE, k, arg)  # refuses what is not data

