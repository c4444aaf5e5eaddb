"""The model and data checks of :mod:`tfprune.errors` (layer names, N:M pairs, labels,
losses, calibration data, output folders, already-pruned models).

Users import them from ``tfprune.errors``, which re-exports every name here.

Example:
    >>> from tfprune import errors
    >>> errors.check_pair((2, 4))
    (2, 4)
"""

from __future__ import annotations

import difflib
import numbers

from tfprune.errors import (
    AlreadyPrunedError,
    ConfigError,
    DataError,
    OutputPathError,
    unknown_name,
)

__all__ = ["check_layer_names", "check_pair", "check_labels", "check_loss", "check_calibration_data", "check_output_dir", "check_not_pruned"]


def _names(model) -> list[str]:
    out = []
    for layer in getattr(model, "layers", []):
        out.append(layer.name)
        inner = getattr(layer, "layer", None)  # a pruning wrapper
        if inner is not None and getattr(inner, "name", None):
            out.append(inner.name)
        if hasattr(layer, "layers") and layer is not model:
            out.extend(_names(layer))
    return out


def check_layer_names(arg: str, value, model) -> list[str]:
    """Return ``value`` as a list of layer names of ``model``; unknown names are refused.

    A string is ONE name (``exclude="fc1"`` means ``["fc1"]``, never its letters). Each
    unknown name is reported with the closest existing name.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1, name="fc1")])
        >>> check_layer_names("exclude", "fc1", m)
        ['fc1']
        >>> check_layer_names("exclude", ["fc"], m)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: `exclude` names layer 'fc', which model ... Did you mean 'fc1'? ...
    """
    if value is None:
        return []
    names = [value] if isinstance(value, str) else value
    try:
        names = list(names)
    except TypeError:
        raise ConfigError(f"`{arg}` must be a layer name or a list of layer names, got "
                          f"{value!r}.") from None
    valid = _names(model)
    for name in names:
        if not isinstance(name, str):
            raise ConfigError(f"`{arg}` must hold layer names (strings), got {name!r} in "
                              f"{value!r}.")
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f" Did you mean {close[0]!r}?" if close else ""
            raise ConfigError(
                f"`{arg}` names layer {name!r}, which model {getattr(model, 'name', '?')!r} "
                f"does not have.{hint} Layers: {', '.join(repr(v) for v in valid)}.")
    return names


def check_pair(value, arg: str = "n_m") -> tuple[int, int]:
    """Return an N:M pair ``(n, m)`` with 0 < n < m, or raise a ConfigError naming ``arg``.

    Example:
        >>> check_pair((2, 4))
        (2, 4)
        >>> check_pair((4, 2))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: `n_m` = (4, 2): N:M keeps N of every M weights, so ...
    """
    try:
        n, m = value
    except (TypeError, ValueError):
        raise ConfigError(f"`{arg}` must be a pair (N, M) such as (2, 4), got {value!r}.") \
            from None
    for v in (n, m):
        if isinstance(v, bool) or not isinstance(v, numbers.Integral):
            raise ConfigError(f"`{arg}` must hold two integers (N, M) such as (2, 4), got "
                              f"{value!r}.")
    if not 0 < n < m:
        raise ConfigError(
            f"`{arg}` = {tuple(value)!r}: N:M keeps N of every M weights, so it needs "
            f"0 < N < M, e.g. (2, 4) or ({min(n, m)}, {max(n, m)}). (`sparsity` is not used "
            "with n:m: it is 1 - N/M.)")
    return int(n), int(m)


def _outputs(model) -> int | None:
    shape = getattr(model, "output_shape", None)
    if isinstance(shape, tuple) and shape and isinstance(shape[-1], int):
        return shape[-1]
    return None


def check_labels(y, model, *, sparse: bool | None = None, n_samples: int | None = None):
    """Check class labels against the model's output: length, one-hot vs sparse, range.

    Args:
        y: labels (array-like).
        model: the model (its last output dimension is the number of classes).
        sparse: True for integer labels (sparse_categorical_*), False for one-hot,
            None to accept either.
        n_samples: the number of inputs, when known.

    Raises:
        DataError: naming the problem and the fix.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(3)])
        >>> check_labels(np.array([0, 2]), m, sparse=True, n_samples=2)
        >>> check_labels(np.array([0, 3]), m, sparse=True)  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: labels hold class 3, but model ... has 3 outputs ...
    """
    import numpy as np

    y = np.asarray(y)
    classes = _outputs(model)
    if n_samples is not None and len(y) != n_samples:
        raise DataError(f"labels have length {len(y)} but the data has {n_samples} samples; "
                        "pass one label per sample (x and y of the same length).")
    onehot = y.ndim == 2 and y.shape[-1] > 1
    if sparse is True and onehot:
        raise DataError(
            f"labels are one-hot (shape {y.shape}) but the loss expects class ids: use "
            "y.argmax(-1), or the loss 'categorical_crossentropy'.")
    if sparse is False and not onehot:
        raise DataError(
            f"labels are class ids (shape {y.shape}) but the loss expects one-hot rows: use "
            "keras.utils.to_categorical(y), or the loss 'sparse_categorical_crossentropy'.")
    if onehot and classes is not None and y.shape[-1] != classes:
        raise DataError(f"one-hot labels have {y.shape[-1]} columns but model "
                        f"{model.name!r} has {classes} outputs.")
    if not onehot and y.size and y.dtype.kind in "iu" and classes is not None and classes > 1:
        low, high = int(y.min()), int(y.max())
        if low < 0 or high >= classes:
            bad = low if low < 0 else high
            raise DataError(
                f"labels hold class {bad}, but model {model.name!r} has {classes} outputs "
                f"(valid classes 0..{classes - 1}). Remap the labels or give the model "
                f"{high + 1} outputs.")


def check_loss(name):
    """Return a Keras loss for ``name`` (a name, a Loss or a callable); typos get a hint.

    Example:
        >>> check_loss("mse").__name__
        'mean_squared_error'
        >>> check_loss("sparse_categorical_crosentropy")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: Unknown loss 'sparse_categorical_crosentropy'. Did you mean 'sparse_categorical_crossentropy'? ...
    """
    from tfprune.compat import keras

    if callable(name):
        return name
    if not isinstance(name, str):
        raise ConfigError(f"`loss` must be a loss name, a keras Loss or a function "
                          f"(y_true, y_pred), got {name!r}.")
    try:
        return keras.losses.get(name)
    except (ValueError, TypeError):
        valid = [n for n in dir(keras.losses) if not n.startswith("_") and n.islower()
                 and n not in ("get", "serialize", "deserialize")]
        raise unknown_name("loss", name, valid) from None


def check_calibration_data(model, data, *, arg: str = "data") -> None:
    """Check calibration inputs against the model before any work.

    Refused (DataError): a sample shape that differs from the model input (both shapes
    named), strings, NaN/inf, and unscaled uint8 images (integer data in 0..255 for a
    float input: the model was trained on scaled floats). Integer data for an integer
    input (token ids) passes. ``tf.data.Dataset`` inputs are checked on their spec.
    The same rule as export's representative data.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> check_calibration_data(m, np.zeros((3, 4), "float32"))
        >>> check_calibration_data(m, np.zeros((3, 5), "float32"))  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.DataError: `data` samples have shape (5,) but model ... expects (4,) ...
    """
    import numpy as np
    import tensorflow as tf

    specs = getattr(model, "inputs", None) or []
    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        x = spec[0] if isinstance(spec, tuple) else spec
        arrays, shapes = [], [tuple(x.shape[1:])] if hasattr(x, "shape") else []
    else:
        x = data[0] if isinstance(data, tuple) and len(data) == 2 else data
        if isinstance(x, list) and x and all(hasattr(b, "shape") for b in x) and len(specs) == 1:
            arrays = [np.asarray(b) for b in x]  # a list of batches
        else:
            try:
                arrays = [np.asarray(x)]
            except ValueError as e:
                raise DataError(f"`{arg}` could not be read as an array: {e}") from None
        shapes = [a.shape[1:] for a in arrays]
    if len(specs) != 1:
        return  # several inputs: leave to Keras
    want = tuple(specs[0].shape[1:])
    for shape in shapes:
        if len(shape) != len(want) or any(w is not None and w != d
                                          for w, d in zip(want, shape, strict=False)):
            raise DataError(
                f"`{arg}` samples have shape {tuple(shape)} but model {model.name!r} expects "
                f"{want} (its input shape without the batch axis). Reshape the data, e.g. "
                f"x.reshape(-1, *{want}).")
    float_input = specs[0].dtype.is_floating
    for a in arrays:
        if a.dtype.kind in "USO":
            raise DataError(f"`{arg}` holds strings ({a.dtype}); the model needs numbers: "
                            "tokenize/encode the data first.")
        if a.dtype.kind in "fc":
            bad = ~np.isfinite(a)
            if bad.any():
                first = tuple(int(i) for i in np.argwhere(bad)[0])
                raise DataError(
                    f"`{arg}` holds {int(bad.sum())} NaN/inf value(s) (first at index {first}); "
                    "clean or drop those samples (np.isfinite) first.")
        elif float_input and a.dtype.kind in "iu" and a.size and int(a.max()) > 1:
            raise DataError(
                f"`{arg}` is {a.dtype} with values up to {int(a.max())}, but model "
                f"{model.name!r} takes floats: scale and cast it as in training, e.g. "
                "x.astype('float32') / 255.")


def check_output_dir(path, *, arg: str = "out"):
    """Check, before any work, that ``path`` (a folder to create or fill) can be written.

    Returns:
        ``path`` as a ``pathlib.Path``.

    Raises:
        OutputPathError: ``path`` is an existing file, or its nearest existing folder is
            not writable.

    Example:
        >>> import tempfile
        >>> check_output_dir(tempfile.mkdtemp()).is_dir()
        True
    """
    import os
    import pathlib

    p = pathlib.Path(path)
    if p.exists() and not p.is_dir():
        raise OutputPathError(f"`{arg}`={str(path)!r} is an existing file, not a folder: "
                              "choose another path or remove the file.")
    probe = p
    while not probe.exists() and probe != probe.parent:
        probe = probe.parent
    if not os.access(probe, os.W_OK | os.X_OK):
        raise OutputPathError(f"`{arg}`={str(path)!r} cannot be written ({str(probe)!r} is "
                              "read-only for this user): choose a writable folder.")
    return p


def check_not_pruned(model, arg: str = "model") -> None:
    """Refuse a model that already holds pruning wrappers (tfprune's or TF-MOT's).

    Example:
        >>> from tfprune.compat import keras
        >>> check_not_pruned(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
    """
    from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

    def found(m):
        for layer in getattr(m, "layers", []):
            if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
                yield layer
            elif hasattr(layer, "layers"):
                yield from found(layer)

    hits = [w.name for w in found(model)]
    if hits:
        raise AlreadyPrunedError(
            f"`{arg}` {getattr(model, 'name', '?')!r} is already pruned (pruning wrappers: "
            f"{', '.join(hits[:5])}{', ...' if len(hits) > 5 else ''}). Strip it first with "
            "tfprune.strip(model) (TF-MOT: tfmot.sparsity.keras.strip_pruning) and prune the "
            "plain model, or keep training the pruned one.")
