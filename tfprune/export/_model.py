"""Model and data inputs of the export functions: load, strip wrappers, validate data.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> representative(m, np.zeros((5, 3), "float32")).shape
    (5, 3)
"""

from __future__ import annotations

import os

import numpy as np

from tfprune import compat, errors
from tfprune.compat import keras

__all__ = ["resolve", "strip", "representative", "sample_inputs", "MAX_SAMPLES"]

MAX_SAMPLES = 300  # representative samples used for int8 calibration ("a few hundred")


def resolve(model):
    """Return ``(keras_model, source_path_or_None)``; loads a model given as a file path."""
    if isinstance(model, (str, os.PathLike)):
        source = os.fspath(model)
        if not os.path.exists(source):
            raise errors.ExportError(f"Model file {source!r} does not exist.")
        import tensorflow_model_optimization as tfmot

        try:  # registers tfprune's wrapper classes, when that module exists
            from tfprune.masking import api as pruning  # noqa: F401
        except ImportError:
            pass
        with tfmot.sparsity.keras.prune_scope():
            loaded = keras.models.load_model(source, compile=False)
        compat.check_tf_keras_model(loaded)
        return loaded, source
    compat.check_tf_keras_model(model)
    return model, None


def strip(model):
    """A new plain tf_keras model without pruning wrappers; ``model`` itself is not changed."""
    try:
        from tfprune.masking import api as pruning

        strip_fn = pruning.strip
    except (ImportError, AttributeError):
        import tensorflow_model_optimization as tfmot

        strip_fn = tfmot.sparsity.keras.strip_pruning
    plain = strip_fn(model)
    if plain is model:  # never convert (or mutate) the user's object itself
        plain = keras.models.clone_model(model)
        plain.set_weights(model.get_weights())
    if len(plain.inputs) != 1 or len(plain.outputs) != 1:
        raise errors.ExportError(
            f"Model {model.name!r} has {len(plain.inputs)} inputs and {len(plain.outputs)} "
            "outputs; tfprune.export supports single-input, single-output models for now."
        )
    return plain


def _input_spec(model):
    shape = tuple(model.inputs[0].shape[1:])
    return shape, np.dtype(model.inputs[0].dtype.as_numpy_dtype)


def _from_dataset(data, limit):
    rows = []
    count = 0
    for element in data:
        if isinstance(element, (tuple, list)):
            element = element[0]  # (x, y) pairs: keep x
        if isinstance(element, dict):
            raise errors.ExportError("`representative_data` yields dicts; yield arrays or "
                                     "(x, y) tuples for a single-input model.")
        arr = np.asarray(element)
        rows.append(arr)
        count += 1 if arr.ndim == 0 else arr.shape[0]
        if count >= limit:
            break
    if not rows:
        raise errors.ExportError("`representative_data` is an empty tf.data.Dataset.")
    return rows


def representative(model, data, *, limit: int = MAX_SAMPLES, arg="representative_data"):
    """Validate ``data`` against the model input and return up to ``limit`` samples.

    Accepts an array ``[n, *input_shape]``, a list of such arrays, an ``(x, y)`` tuple or a
    ``tf.data.Dataset`` (batched or not, elements ``x`` or ``(x, y)``). Returns a float32
    (or the model's input dtype) array with a batch axis.
    """
    shape, dtype = _input_spec(model)
    import tensorflow as tf

    if isinstance(data, tf.data.Dataset):
        spec = data.element_spec
        spec = spec[0] if isinstance(spec, (tuple, list)) else spec
        dims = getattr(getattr(spec, "shape", None), "as_list", lambda: None)()
        batched = dims is not None and (len(dims) == len(shape) + 1 or dims[:1] == [None])
        pieces = [p if batched else p[None] for p in _from_dataset(data, limit)]
    elif isinstance(data, tuple) and len(data) == 2 and not np.isscalar(data[0]):
        pieces = [np.asarray(data[0])]
    elif isinstance(data, list) and data and all(
        isinstance(p, np.ndarray) and p.ndim == len(shape) + 1 for p in data
    ):
        pieces = list(data)  # a list of batches
    else:
        try:
            pieces = [np.asarray(data)]
        except ValueError as e:
            raise errors.ExportError(f"`{arg}` could not be read as an array: {e}") from e
    arr = pieces[0]
    if any(p.shape[1:] != arr.shape[1:] for p in pieces):
        raise errors.ExportError(f"`{arg}` yields samples of different shapes.")
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise errors.ExportError(f"`{arg}` is empty; give at least one sample of shape {shape}.")
    sample = arr.shape[1:]
    ok = len(sample) == len(shape) and all(m is None or m == d for m, d in zip(shape, sample, strict=True))
    if not ok:
        expected = "(n, " + ", ".join("None" if d is None else str(d) for d in shape) + ")"
        raise errors.ExportError(
            f"`{arg}` has shape {tuple(arr.shape)}, but the model {model.name!r} expects "
            f"{expected} (its input shape with a batch axis first)."
        )
    kind = np.dtype(arr.dtype).kind
    if (dtype.kind == "f" and kind != "f") or (dtype.kind in "iu" and kind not in "iu"):
        raise errors.ExportError(
            f"`{arg}` has dtype {arr.dtype}, but the model input is {dtype.name}. Scale and "
            f"cast the data as in training (e.g. x.astype('float32') / 255)."
        )
    out = np.concatenate(pieces)[:limit].astype(dtype, copy=False)
    if dtype.kind == "f" and not np.all(np.isfinite(out)):
        raise errors.ExportError(f"`{arg}` contains NaN or infinite values.")
    return out


def sample_inputs(model, data, n: int = 64, seed: int = 0):
    """Inputs for verification: the first ``n`` of ``data``, or seeded uniform [0, 1) noise."""
    if data is not None:
        return representative(model, data, limit=n)
    shape, dtype = _input_spec(model)
    if any(d is None for d in shape):
        raise errors.ExportError(f"Model {model.name!r} has a variable input shape {shape}; "
                                 "pass sample data to verify it.")
    rng = np.random.default_rng(seed)
    return rng.random((n, *shape)).astype(dtype)
