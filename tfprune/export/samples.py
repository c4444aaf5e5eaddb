"""Representative and sample data of the export functions: one array per model input.

Every function here returns a list with one ``[n, *input_shape]`` array per Keras input, in
the model's input order. Integer (token-id) inputs stay integers and are checked against the
vocabulary of the Embedding layer that reads them.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,))])
    >>> [a.shape for a in representative(m, np.zeros((5, 3), "float32"))]
    [(5, 3)]
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf

from tfprune import data as data_lib
from tfprune import errors
from tfprune.compat import keras

__all__ = ["InputSpec", "input_specs", "representative", "sample_inputs", "MAX_SAMPLES"]

MAX_SAMPLES = 300  # representative samples used for int8 calibration ("a few hundred")


@dataclasses.dataclass(frozen=True)
class InputSpec:
    """One Keras model input: name, shape without the batch axis, dtype and, for token ids,
    the vocabulary size (``input_dim``) and name of the Embedding layer reading it."""

    name: str
    shape: tuple
    dtype: np.dtype
    vocab: int | None = None
    embedding: str | None = None

    @property
    def is_integer(self) -> bool:
        return self.dtype.kind in "iu"


def _embedding_of(model, tensor):
    """The smallest-vocabulary Embedding layer that reads ``tensor`` directly, or None."""
    best = None
    for layer in model.layers:
        if not isinstance(layer, keras.layers.Embedding):
            continue
        for node in getattr(layer, "_inbound_nodes", []):
            flat = node.input_tensors if isinstance(node.input_tensors, (list, tuple)) \
                else [node.input_tensors]
            if any(t is tensor for t in flat) and (best is None or
                                                    layer.input_dim < best.input_dim):
                best = layer
    return best


def input_specs(model) -> list:
    """An :class:`InputSpec` per input of ``model``, in its input order."""
    specs = []
    names = list(getattr(model, "input_names", None) or [])
    for i, t in enumerate(model.inputs):
        name = names[i] if i < len(names) else t.name.split(":")[0]
        dtype = np.dtype(t.dtype.as_numpy_dtype)
        emb = _embedding_of(model, t) if dtype.kind in "iu" else None
        specs.append(InputSpec(name, tuple(t.shape[1:]), dtype,
                               int(emb.input_dim) if emb is not None else None,
                               emb.name if emb is not None else None))
    return specs


def _expected(shape) -> str:
    return "(n, " + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def _is_multi(x, k) -> bool:
    return isinstance(x, dict) or (isinstance(x, (list, tuple)) and len(x) == k
                                   and not all(np.isscalar(v) for v in x))


def _per_input(data, specs, arg):
    """Split one data element (not a Dataset) into one array-like per input."""
    k = len(specs)
    names = [s.name for s in specs]
    if isinstance(data, dict):
        unknown = sorted(set(data) - set(names))
        missing = [n for n in names if n not in data]
        if unknown or missing:
            raise errors.ExportError(
                f"`{arg}` is a dict with keys {sorted(data)}, but the model inputs are "
                f"{names}. Key the arrays by input name (missing: {missing}, unknown: "
                f"{unknown}).")
        return [data[n] for n in names]
    if k == 1:
        if isinstance(data, (tuple, list)) and len(data) == 1 and isinstance(data[0], dict):
            return _per_input(data[0], specs, arg)
        return [data]
    if isinstance(data, (tuple, list)) and len(data) == 2 and _is_multi(data[0], k) \
            and not (len(data) == k and all(isinstance(v, np.ndarray) for v in data)):
        return _per_input(data[0], specs, arg)  # (x, y) with x a list/tuple/dict
    if isinstance(data, (tuple, list)) and len(data) == k:
        return list(data)
    raise errors.ExportError(
        f"The model has {k} inputs {names}; pass `{arg}` as a list of {k} arrays in that "
        "order, a dict {name: array}, or (inputs, labels) with inputs one of those.")


def _x_of(element, specs):
    if len(specs) == 1 and isinstance(element, (tuple, list)) and not isinstance(
            element[0], dict):
        return element[0]  # (x, y) pairs: keep x
    return element


def _batched(data, specs, arg) -> list:
    """Per input: does the Dataset yield batches (its element spec has an extra axis)?"""
    out = []
    for part, spec in zip(_per_input(_x_of(data.element_spec, specs), specs, arg), specs,
                          strict=True):
        dims = getattr(getattr(part, "shape", None), "as_list", lambda: None)()
        out.append(dims is not None and (len(dims) == len(spec.shape) + 1 or dims[:1] == [None]))
    return out


def _from_source(data, specs, limit, arg):
    """A tf.data.Dataset, generator or iterator, read through :func:`tfprune.data.batches`
    (bounded, strings/complex/NaN refused in every element read) up to ``limit`` samples.
    Each element is a batch, or one sample when its rank is that of the model input."""
    batched = _batched(data, specs, arg) if isinstance(data, tf.data.Dataset) else None
    pieces = [[] for _ in specs]
    count = 0
    try:
        for element in data_lib.batches(data, arg=arg):
            for i, part in enumerate(_per_input(_x_of(element, specs), specs, arg)):
                arr = np.asarray(part)
                one = arr.ndim == len(specs[i].shape) if batched is None else not batched[i]
                pieces[i].append(arr[None] if one else arr)
            count += len(pieces[0][-1])
            if count >= limit:
                break
    except errors.DataError as e:
        raise errors.ExportError(str(e)) from None
    if count == 0:
        raise errors.ExportError(f"`{arg}` gave no sample (an empty tf.data.Dataset or "
                                 "generator).")
    return pieces


def _pieces(data, specs, limit, arg):
    if not data_lib.bounded(data) or isinstance(data, tf.data.Dataset):
        return _from_source(data, specs, limit, arg)
    if len(specs) == 1:
        shape = specs[0].shape
        if isinstance(data, tuple) and len(data) == 2 and not np.isscalar(data[0]) \
                and not isinstance(data[0], dict):
            data = data[0]  # (x, y)
        if isinstance(data, list) and data and all(
                isinstance(p, np.ndarray) and p.ndim == len(shape) + 1 for p in data):
            return [list(data)]  # a list of batches
    out = []
    for part in _per_input(data, specs, arg):
        try:
            out.append([np.asarray(part)])
        except ValueError as e:
            raise errors.ExportError(f"`{arg}` could not be read as an array: {e}") from e
    return out


def _check(arr, spec, model, arg, multi):
    where = f" for input {spec.name!r}" if multi else ""
    if arr.ndim == 0 or arr.shape[0] == 0:
        raise errors.ExportError(f"`{arg}`{where} is empty; give at least one sample of shape "
                                 f"{spec.shape}.")
    sample = arr.shape[1:]
    ok = len(sample) == len(spec.shape) and all(
        m is None or m == d for m, d in zip(spec.shape, sample, strict=True))
    if not ok:
        raise errors.ExportError(
            f"`{arg}`{where} has shape {tuple(arr.shape)}, but the model {model.name!r} expects "
            f"{_expected(spec.shape)}{where} (its input shape with a batch axis first).")
    kind = np.dtype(arr.dtype).kind
    if spec.is_integer and kind not in "iu":
        raise errors.ExportError(
            f"`{arg}`{where} has dtype {arr.dtype}, but the model input {spec.name!r} is "
            f"{spec.dtype.name} (token ids). Pass integer ids, e.g. x.astype('int32').")
    if spec.dtype.kind == "f" and kind != "f":
        raise errors.ExportError(
            f"`{arg}`{where} has dtype {arr.dtype}, but the model input is {spec.dtype.name}. "
            "Scale and cast the data as in training (e.g. x.astype('float32') / 255).")


def _check_ids(arr, spec, arg):
    if not arr.size:
        return
    low, high = int(arr.min()), int(arr.max())
    info = np.iinfo(spec.dtype)
    if low < info.min or high > info.max:
        raise errors.ExportError(f"`{arg}` ids of input {spec.name!r} range {low}..{high}, "
                                 f"outside {spec.dtype.name}.")
    if spec.vocab is not None and (low < 0 or high >= spec.vocab):
        bad = low if low < 0 else high
        raise errors.ExportError(
            f"`{arg}` holds token id {bad} for input {spec.name!r}, but Embedding layer "
            f"{spec.embedding!r} has input_dim={spec.vocab} (valid ids 0..{spec.vocab - 1}). "
            "Map unknown tokens to a valid id (e.g. 0 or an OOV id) before exporting.")


def representative(model, data, *, limit: int = MAX_SAMPLES, arg="representative_data") -> list:
    """Validate ``data`` against the model inputs; return up to ``limit`` samples per input.

    Accepts, for a single-input model, an array ``[n, *input_shape]``, a list of such batches,
    ``(x, y)`` or a ``tf.data.Dataset`` (batched or not, elements ``x`` or ``(x, y)``); for a
    multi-input model a list/tuple of arrays in input order, a dict ``{input_name: array}``,
    ``(inputs, y)`` or a Dataset of those. Returns one array per input in its dtype (float
    inputs float32, token-id inputs their integer dtype, checked against the Embedding's
    ``input_dim``).
    """
    specs = input_specs(model)
    pieces = _pieces(data, specs, limit, arg)
    multi = len(specs) > 1
    arrays = []
    for spec, parts in zip(specs, pieces, strict=True):
        if any(p.shape[1:] != parts[0].shape[1:] for p in parts):
            raise errors.ExportError(f"`{arg}` yields samples of different shapes.")
        _check(parts[0], spec, model, arg, multi)
        arr = np.concatenate(parts)[:limit]
        if spec.is_integer:
            _check_ids(arr, spec, arg)
        arr = arr.astype(spec.dtype, copy=False)
        if spec.dtype.kind == "f" and not np.all(np.isfinite(arr)):
            raise errors.ExportError(f"`{arg}` contains NaN or infinite values.")
        arrays.append(arr)
    counts = {s.name: len(a) for s, a in zip(specs, arrays, strict=True)}
    if len(set(counts.values())) > 1:
        raise errors.ExportError(f"`{arg}` has different sample counts per input: {counts}.")
    return arrays


def sample_inputs(model, data, n: int = 64, seed: int = 0) -> list:
    """Inputs for verification: the first ``n`` of ``data``, or seeded random inputs.

    Without data, float inputs get uniform [0, 1) noise and token-id inputs uniform valid ids
    (0 .. input_dim - 1 of their Embedding).
    """
    if data is not None:
        return representative(model, data, limit=n)
    rng = np.random.default_rng(seed)
    out = []
    for spec in input_specs(model):
        if any(d is None for d in spec.shape):
            raise errors.ExportError(f"Model {model.name!r} has a variable input shape "
                                     f"{spec.shape} ({spec.name!r}); pass sample data to "
                                     "verify it.")
        if spec.is_integer:
            if spec.vocab is None:
                raise errors.ExportError(
                    f"Input {spec.name!r} of model {model.name!r} is integer but no Embedding "
                    "reads it, so valid values are unknown; pass representative_data.")
            out.append(rng.integers(0, spec.vocab, (n, *spec.shape)).astype(spec.dtype))
        else:
            out.append(rng.random((n, *spec.shape)).astype(spec.dtype))
    return out
