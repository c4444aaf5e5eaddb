"""The one data module: every form of data tfprune accepts, one set of checks, one bounded
iteration.

Calibration (``one_shot``, ``plan``, ``gather``), measurement (``sensitivity``, the
``"sensitivity"`` criterion), compensation (the least-squares refit) and export
(representative data) all read their data here.

Accepted forms (``x`` is one array, a list/tuple of arrays in the model's input order or a
dict ``{input_name: array}`` for a model with several inputs):

- ``x`` or ``(x, y)`` (cut into batches of ``batch_size``); nested Python lists
  (``x.tolist()``) are read as arrays;
- a list of batches, each ``x`` or ``(x, y)``;
- a ``tf.data.Dataset`` of batches;
- a Python generator or iterator of batches.

Checks (:func:`check` before any work on what can be read without consuming the source;
:func:`batches` on every batch it hands out, so a generator's 2nd batch is checked too):
sample shape against the model's inputs, dtype (strings and complex numbers refused,
unscaled 0..255 integers for a float input refused), finite values, and labels against the
loss and the output width (:func:`check_labels`).

Bounded: a source of unknown or infinite length (a generator, ``ds.repeat()``) is read for
at most ``max_batches`` batches, by default :data:`DEFAULT_MAX_BATCHES`, and a warning says
so when that default cap stops it. Arrays and lists have a known length and are read whole.

Example:
    >>> import numpy as np
    >>> x, y = np.zeros((5, 2), "float32"), np.zeros(5)
    >>> [b[0].shape for b in batches((x, y), batch_size=4)]
    [(4, 2), (1, 2)]
"""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import tensorflow as tf

from tfprune import errors

__all__ = ["DEFAULT_MAX_BATCHES", "BATCH_SIZE", "batches", "check", "check_labels",
           "label_rule", "inputs", "is_array", "split", "bounded"]

#: batches read from a source of unknown or infinite length when ``max_batches`` is not given
DEFAULT_MAX_BATCHES = 1000
#: batch size used to cut arrays
BATCH_SIZE = 64

_RULES = ("sparse", "onehot", "classes", "length")


def is_array(v) -> bool:
    """True for a numpy array or a TensorFlow tensor.

    Example:
        >>> is_array(np.zeros(2)), is_array([0.0, 1.0])
        (True, False)
    """
    return isinstance(v, (np.ndarray, tf.Tensor, tf.Variable))


def _is_nested_list(v) -> bool:
    """A Python list/tuple of numbers or of such lists (``x.tolist()``), not of arrays."""
    if not isinstance(v, list) or not v:
        return False
    first = v[0]
    while isinstance(first, (list, tuple)) and first:
        first = first[0]
    return isinstance(first, (int, float, complex, bool, str, bytes, np.generic)) and not \
        any(is_array(e) or isinstance(e, dict) for e in v)


def _as_array(v, arg):
    """``v`` as a numpy array; nested lists are converted, ragged ones refused."""
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


def _numpy(x, arg):
    """Every array of a batch structure (dicts, lists, tuples) as numpy."""
    if isinstance(x, dict):
        return {k: _numpy(v, arg) for k, v in x.items()}
    if isinstance(x, (list, tuple)) and not _is_nested_list(x):
        return type(x)(_numpy(v, arg) for v in x)
    return _as_array(x, arg)


def split(batch, model=None):
    """``(x, y)`` of one batch: ``y`` is None for a batch of inputs only (``model`` tells
    the inputs ``(a, b)`` of a two-input model from ``(x, y)``).

    Example:
        >>> split((np.zeros((2, 3)), np.ones(2)))[1]
        array([1., 1.])
        >>> split(np.zeros((2, 3)))[1] is None
        True
    """
    k = _n_inputs(model)
    if k > 1 and _is_multi_x(batch, k) and (isinstance(batch, dict)
                                             or not _is_multi_x(batch[0], k)):
        return batch, None
    if isinstance(batch, (tuple, list)) and len(batch) >= 2 and not _is_nested_list(batch):
        return batch[0], batch[1]
    return batch, None


# -- forms ------------------------------------------------------------------------------
def _n_inputs(model) -> int:
    return len(getattr(model, "inputs", None) or []) if model is not None else 1


def _is_multi_x(v, k) -> bool:
    """Inputs keyed by name (a dict, any model), or a list/tuple of ``k`` > 1 arrays."""
    if isinstance(v, dict):
        return bool(v) and all(is_array(a) or _is_nested_list(a) for a in v.values())
    return k > 1 and isinstance(v, (list, tuple)) and len(v) == k and all(
        is_array(a) for a in v)


def _length(x) -> int:
    shape = np.shape(tf.nest.flatten(x)[0])
    return int(shape[0]) if shape else 0


def _cut(x, y, batch_size):
    n = _length(x)
    for i in range(0, n, batch_size):
        part = slice(i, i + batch_size)
        xb = tf.nest.map_structure(lambda a, s=part: a[s], x)
        yield xb if y is None else (xb, y[part])


def _whole(data, k, arg):
    """``(x, y)`` if ``data`` is whole arrays (``x``, ``(x, y)``, nested lists), else None."""
    if is_array(data) or _is_nested_list(data) or _is_multi_x(data, k):
        return _numpy(data, arg), None
    if isinstance(data, tuple) and len(data) == 2:
        x, y = data
        if (is_array(x) or _is_nested_list(x) or _is_multi_x(x, k)) and (
                is_array(y) or _is_nested_list(y)):
            return _numpy(x, arg), _as_array(y, arg)
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


def _elements(data, batch_size, k, arg):
    """The raw batches of ``data`` (not yet checked)."""
    if data is None:
        raise errors.DataError(f"`{arg}` is None: pass x, (x, y), a list of batches, a "
                               "tf.data.Dataset or a generator of batches.")
    whole = _whole(data, k, arg)
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


# -- checks -----------------------------------------------------------------------------
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


def _check_x(model, x, arg, where=""):
    specs = _specs(model) if model is not None else []
    parts = _per_input(x, specs, arg) if specs else tf.nest.flatten(x)
    tokens = bool(specs) and _reads_tokens(model)
    multi = len(specs) > 1
    for i, part in enumerate(parts):
        a = _as_array(part, arg)
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
    y = _as_array(y, arg)
    _check_values(y, arg, f" (labels){where}")
    n = _length(_per_input(x, _specs(model), arg)[0] if _specs(model) else x)
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


def _check_batch(model, batch, rule, arg, where=""):
    x, y = split(batch, model)
    _check_x(model, x, arg, where)
    _check_y(model, x, y, rule, arg, where)


def _check_spec(model, ds, arg):
    """A ``tf.data.Dataset``: shapes and dtypes of its element spec (values as it is read)."""
    spec = ds.element_spec
    x = spec[0] if isinstance(spec, tuple) and len(spec) >= 2 and not _is_multi_x(
        spec, _n_inputs(model)) else spec
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
    if rule is not None and rule not in _RULES:
        raise errors.ConfigError(f"labels={rule!r}: use one of {_RULES} or None.")
    if isinstance(data, tf.data.Dataset):
        _check_spec(model, data, arg)
        return
    k = _n_inputs(model)
    whole = _whole(data, k, arg)
    if whole is not None:
        x, y = whole
        _check_batch(model, x if y is None else (x, y), rule, arg)
    elif isinstance(data, (list, tuple)):
        for i, b in enumerate(data):
            _check_batch(model, _numpy(b, arg), rule, arg, f" (batch {i})")
    elif data is None or isinstance(data, (dict, str, bytes)) or not hasattr(data, "__iter__"):
        _elements(data, BATCH_SIZE, k, arg)  # refuses what is not data


# -- iteration --------------------------------------------------------------------------
def batches(data, *, model=None, loss=None, labels: str | None = None,
            batch_size: int = BATCH_SIZE, max_batches: int | None = None, arg: str = "data"):
    """Iterate the batches of ``data`` (each ``x`` or ``(x, y)``, as numpy arrays), checking
    each one as it is read, at most ``max_batches`` of them.

    Every batch is checked for strings, complex numbers and NaN/inf; with ``model`` also
    for sample shape, unscaled integers and (``loss``/``labels``, as :func:`check`) labels.
    A source of unknown or infinite length without ``max_batches`` stops after
    :data:`DEFAULT_MAX_BATCHES` batches, with a warning saying so.

    Example:
        >>> [b.shape for b in batches(np.zeros((5, 2)), batch_size=4)]
        [(4, 2), (1, 2)]
        >>> def endless():
        ...     while True:
        ...         yield np.zeros((2, 3), "float32")
        >>> len(list(batches(endless(), max_batches=3)))
        3
    """
    rule = labels if labels is not None else label_rule(loss)
    if max_batches is not None and (isinstance(max_batches, bool) or not isinstance(
            max_batches, (int, np.integer)) or max_batches < 1):
        raise errors.ConfigError(f"`max_batches` must be a positive int or None, got "
                                 f"{max_batches!r}.")
    cap = max_batches
    if cap is None and not bounded(data):
        cap = DEFAULT_MAX_BATCHES
    source = _elements(data, batch_size, _n_inputs(model), arg)
    peek = cap + 1 if max_batches is None and cap is not None else cap  # is there more?
    for i, element in enumerate(itertools.islice(source, peek)):
        if i == cap:
            warnings.warn(
                f"`{arg}` has no known length (a generator, an iterator or a tf.data.Dataset "
                f"of infinite or unknown cardinality) and gave more than {cap} batches: "
                f"stopped after {cap}, the default cap. Pass max_batches=... where the "
                "function takes it, or a finite source such as ds.take(n).", stacklevel=2)
            return
        element = _numpy(element, arg)
        _check_batch(model, element, rule, arg, f" (batch {i})")
        yield element


def inputs(data, *, max_batches: int | None = None, arg: str = "data") -> np.ndarray:
    """The inputs ``x`` of ``data`` as one array (single-input models): ``x``, ``(x, y)``,
    a list of batches, a Dataset or a generator (bounded as :func:`batches`).

    Example:
        >>> inputs([(np.ones((2, 3)), np.zeros(2)), np.ones((1, 3))]).shape
        (3, 3)
    """
    whole = _whole(data, 1, arg)
    if whole is not None and max_batches is None:
        _check_x(None, whole[0], arg)
        return np.asarray(whole[0])
    parts = [np.asarray(split(b)[0]) for b in batches(data, max_batches=max_batches, arg=arg)]
    if not parts:
        raise errors.ConfigError(f"`{arg}` gave no batch: pass calibration inputs x.")
    return np.concatenate(parts)
