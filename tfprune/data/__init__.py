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

The forms are read in :mod:`tfprune.data.forms`, checked in :mod:`tfprune.data.checks`;
this module is the bounded iteration (:func:`batches`, :func:`inputs`) and every public name.

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

from tfprune import errors
from tfprune.data.checks import (
    check,
    check_batch,
    check_labels,
    check_lengths,
    check_x,
    label_rule,
)
from tfprune.data.forms import (
    BATCH_SIZE,
    bounded,
    elements,
    head,
    is_array,
    length,
    n_inputs,
    split,
    to_numpy,
    whole_arrays,
)

__all__ = ["DEFAULT_MAX_BATCHES", "BATCH_SIZE", "batches", "check", "check_labels",
           "check_lengths",
           "label_rule", "inputs", "is_array", "split", "bounded", "head", "length"]

#: batches read from a source of unknown or infinite length when ``max_batches`` is not given
DEFAULT_MAX_BATCHES = 1000


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
    source = elements(data, batch_size, n_inputs(model), arg)
    peek = cap + 1 if max_batches is None and cap is not None else cap  # is there more?
    for i, element in enumerate(itertools.islice(source, peek)):
        if i == cap:
            warnings.warn(
                f"`{arg}` has no known length (a generator, an iterator or a tf.data.Dataset "
                f"of infinite or unknown cardinality) and gave more than {cap} batches: "
                f"stopped after {cap}, the default cap. Pass max_batches=... where the "
                "function takes it, or a finite source such as ds.take(n).", stacklevel=2)
            return
        element = to_numpy(element, arg)
        check_batch(model, element, rule, arg, f" (batch {i})")
        yield element


def inputs(data, *, max_batches: int | None = None, arg: str = "data") -> np.ndarray:
    """The inputs ``x`` of ``data`` as one array (single-input models): ``x``, ``(x, y)``,
    a list of batches, a Dataset or a generator (bounded as :func:`batches`).

    Example:
        >>> inputs([(np.ones((2, 3)), np.zeros(2)), np.ones((1, 3))]).shape
        (3, 3)
    """
    whole = whole_arrays(data, 1, arg)
    if whole is not None and max_batches is None:
        check_x(None, whole[0], arg)
        return np.asarray(whole[0])
    parts = [np.asarray(split(b)[0]) for b in batches(data, max_batches=max_batches, arg=arg)]
    if not parts:
        raise errors.ConfigError(f"`{arg}` gave no batch: pass calibration inputs x.")
    return np.concatenate(parts)

