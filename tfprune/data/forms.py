"""The forms of data tfprune accepts, read into numpy batches (no checks here: those are in
:mod:`tfprune.data.checks`).

Example:
    >>> import numpy as np
    >>> x, y = whole_arrays((np.zeros((3, 2)), [0, 1, 1]), 1, "data")
    >>> x.shape, y.tolist()
    ((3, 2), [0, 1, 1])
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import errors

__all__ = ["BATCH_SIZE", "is_array", "is_nested_list", "as_array", "to_numpy", "split",
           "n_inputs", "is_multi_x", "length", "head", "whole_arrays", "bounded", "elements"]

#: batch size used to cut arrays
BATCH_SIZE = 64


def is_array(v) -> bool:
    """True for a numpy array or a TensorFlow tensor.

    Example:
        >>> is_array(np.zeros(2)), is_array([0.0, 1.0])
        (True, False)
    """
    return isinstance(v, (np.ndarray, tf.Tensor, tf.Variable))


def is_nested_list(v) -> bool:
    """A Python list/tuple of numbers or of such lists (``x.tolist()``), not of arrays.

    Example:
        >>> is_nested_list([[0.0, 1.0]]), is_nested_list([np.zeros(2)])
        (True, False)
    """
    if not isinstance(v, list) or not v:
        return False
    first = v[0]
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    return isinstance(first, (int, float, complex, bool, str, bytes, np.generic)) and not \
        any(is_array(e) or isinstance(e, dict) for e in v)


def as_array(v, arg):
    """``v`` as a numpy array; nested lists are converted, ragged ones refused (``arg``
    names the argument in the message).

    Example:
        >>> as_array([[1, 2], [3, 4]], "x").shape
        (2, 2)
    """
    if isinstance(v, np.ndarray):
        return v
    try:
        arr = np.asarray(v)
    except (ValueError, TypeError) as e:
        arr, why = None, f"{type(e).__name__}: {e}"
    if arr is None or (arr.dtype == object and not is_array(v)):
        why = why if arr is None else f"it reads as an object array of shape {arr.shape}"
        raise errors.DataError(
            f"`{arg}` could not be read as an array ({why}); nested lists must have even "
            "lengths: pass a numpy array [n, *input_shape], e.g. np.stack(samples).")
    return arr


def to_numpy(x, arg):
    """Every array of a batch structure (dicts, lists, tuples) as numpy.

    Example:
        >>> to_numpy({"a": [1.0, 2.0]}, "x")["a"]
        array([1., 2.])
    """
    if isinstance(x, dict):
        return {k: to_numpy(v, arg) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not is_nested_list(x):
        return type(x)(to_numpy(v, arg) for v in x)
    return as_array(x, arg)


def split(batch, model=None):
    """``(x, y)`` of one batch: ``y`` is None for a batch of inputs only (``model`` tells
    the inputs ``(a, b)`` of a two-input model from ``(x, y)``).

    Example:
        >>> split((np.zeros((2, 3)), np.ones(2)))[1]
        array([1., 1.])
        >>> split(np.zeros((2, 3)))[1] is None
        True
    """
    k = n_inputs(model)
    if k > 1 and is_multi_x(batch, k) and (isinstance(batch, dict)
                                             or not is_multi_x(batch[0], k)):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) >= 2 and not is_nested_list(batch):
        return batch[0], batch[1]
    return batch, None


def n_inputs(model) -> int:
    """The number of inputs of ``model`` (1 without a model).

    Example:
        >>> n_inputs(None)
        1
    """
    return len(getattr(model, "inputs", None) or []) if model is not None else 1


def is_multi_x(v, k) -> bool:
    """Inputs keyed by name (a dict, any model), or a list/tuple of ``k`` > 1 arrays.

    Example:
        >>> is_multi_x([np.zeros(2), np.zeros(2)], 2), is_multi_x([np.zeros(2)], 1)
        (True, False)
    """
    if isinstance(v, dict):
        return bool(v) and all(is_array(a) or is_nested_list(a) for a in v.values())
    return k > 1 and isinstance(v, (list, tuple)) and len(v) == k and all(
        is_array(a) for a in v)


def length(x) -> int:
    """The number of samples of ``x`` (its first array's first axis).

    Example:
        >>> length({"a": np.zeros((3, 2))})
        3
    """
    shape = np.shape(tf.nest.flatten(x)[0])
    return int(shape[0]) if shape else 0


def head(x, n: int):
    """The first ``n`` samples of ``x``: an array, or a list/tuple/dict of arrays (several
    inputs or outputs), cut alike; None stays None.

    Example:
        >>> a = np.arange(6).reshape(3, 2)
        >>> head(a, 2).shape, head({"cls": a, "reg": a[:, 0]}, 1)["reg"].tolist()
        ((2, 2), [0])
    """
    return None if x is None else tf.nest.map_structure(lambda a: a[:n], x)


def _cut(x, y, batch_size):
    n = length(x)
    for i in range(0, n, batch_size):
        part = slice(i, i + batch_size)
        xb = tf.nest.map_structure(lambda a, s=part: a[s], x)
        yield xb if y is None else (xb, y[part])


def whole_arrays(data, k, arg):
    """``(x, y)`` if ``data`` is whole arrays (``x``, ``(x, y)``, nested lists), else None
    (``k``: the model's number of inputs).

    Example:
        >>> whole_arrays(iter([]), 1, "data") is None
        True
    """
    if is_array(data) or is_nested_list(data) or is_multi_x(data, k):
        return to_numpy(data, arg), None
    if isinstance(data, tuple) and len(data) == 2:
        x, y = data
        if (is_array(x) or is_nested_list(x) or is_multi_x(x, k)) and (
                is_array(y) or is_nested_list(y)):
            return to_numpy(x, arg), as_array(y, arg)
    return None


def bounded(data) -> bool:
    """True when ``data`` has a known finite number of batches (arrays, lists, a
    ``tf.data.Dataset`` of known cardinality); False for generators, iterators and
    infinite or unknown-length datasets.

    Example:
        >>> ds = tf.data.Dataset.from_tensor_slices(np.zeros((4, 2))).batch(2)
        >>> bounded(ds), bounded(ds.repeat()), bounded(iter([1]))
        (True, False, False)
    """
    if isinstance(data, tf.data.Dataset):
        return int(data.cardinality()) >= 0
    return isinstance(data, (np.ndarray, tf.Tensor, list, tuple, dict))


def elements(data, batch_size, k, arg):
    """The raw batches of ``data`` (not yet checked): arrays cut into ``batch_size`` rows,
    anything else iterated as it comes; what is not data is refused.

    Example:
        >>> [b.shape for b in elements(np.zeros((3, 2)), 2, 1, "data")]
        [(2, 2), (1, 2)]
    """
    if data is None:
        raise errors.DataError(f"`{arg}` is None: pass x, (x, y), a list of batches, a "
                               "tf.data.Dataset or a generator of batches.")
    whole = whole_arrays(data, k, arg)
    if whole is not None:
        x, y = whole
        if isinstance(x, np.ndarray) and x.ndim == 0:
            raise errors.DataError(f"`{arg}` is a single number ({x!r}); pass an array "
                                   "[n, *input_shape].")
        return _cut(x, y, batch_size)
    if isinstance(data, (dict, str, bytes)) or not hasattr(data, "__iter__"):
        raise errors.DataError(
            f"`{arg}` of type {type(data).__name__} is not data tfprune can read: pass x, "
            "(x, y), a list of batches, a tf.data.Dataset or a generator of batches"
            + (" (a dict is the inputs of a multi-input model)." if isinstance(data, dict)
               else "."))
    return iter(data)

