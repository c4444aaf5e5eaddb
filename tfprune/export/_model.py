"""Model inputs of the export functions: load a saved model, strip wrappers, find RNNs.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.layers.LSTM(2, input_shape=(5, 3))])
    >>> is_recurrent(m)
    True
"""

from __future__ import annotations

import os
import weakref

import numpy as np
import tensorflow_model_optimization as tfmot

from tfprune import compat, errors
from tfprune.compat import keras
from tfprune.export import keras3_call
from tfprune.masking import api as masking_api
from tfprune.masking import slots, subclassed

__all__ = ["resolve", "strip", "walk_layers", "is_recurrent", "output_names", "check_int8_recurrent",
           "check_finite_weights"]


def resolve(model):
    """Return ``(keras_model, source_path_or_None)``; loads a model given as a file path.

    A subclassed model (tf_keras, or Keras 3: :mod:`tfprune.export.keras3_call`) comes back
    as a tf_keras Functional view of its call, stripped of pruning state.
    """
    if isinstance(model, (str, os.PathLike)):
        source = os.fspath(model)
        if not os.path.exists(source):
            raise errors.ExportError(f"Model file {source!r} does not exist.")
        try:  # tfprune's wrapper classes are registered by importing masking.api (above)
            with tfmot.sparsity.keras.prune_scope():
                loaded = keras.models.load_model(source, compile=False)
        except Exception as e:  # h5py, zipfile, json, protobuf and Keras errors alike
            first = (str(e).strip().splitlines() or [""])[0][:200]
            raise errors.ExportError(
                f"Model file {source!r} could not be loaded as a tf_keras model "
                f"({type(e).__name__}: {first}). Check that it is a complete .keras/.h5 file "
                "or SavedModel folder saved by tf_keras (re-save it with model.save), and "
                "that custom layers are registered and imported.") from e
        compat.check_tf_keras_model(loaded)
        return loaded, source
    if slots.is_subclassed(model):  # exported through a Functional view of its call
        return _view(model), None
    if compat.is_keras3_subclassed(model):  # Keras 3: a tf_keras view running its call
        view = keras3_call.view(model)
        _VIEWS.add(view)
        return view, None
    compat.check_tf_keras_model(model)
    return model, None


_VIEWS = weakref.WeakSet()  # Functional views of subclassed models made by resolve()


def _view(model):
    """A Functional view of subclassed ``model`` (stripped first if it holds wrappers)."""
    if any(isinstance(lyr, keras.layers.Wrapper) and hasattr(lyr, "pruning_vars")
           for _, _, _, lyr in slots.slots(model)):
        model = subclassed.strip(model)
    view = slots.functional_view(model)
    _VIEWS.add(view)
    return view


def strip(model):
    """A new plain tf_keras model without pruning wrappers; ``model`` itself is not changed."""
    if model in _VIEWS:  # already plain, and a new object: nothing to clone
        return model
    with tfmot.quantization.keras.quantize_scope():  # a QAT model's wrappers clone too
        plain = masking_api.strip(model)
    if plain is model:  # never convert (or mutate) the user's object itself
        plain = keras.models.clone_model(model)
        plain.set_weights(model.get_weights())
    return float32(plain)


_MIXED = ("mixed_float16", "mixed_bfloat16", "float16", "bfloat16")


def _policy_name(value):
    if isinstance(value, dict):  # a serialized Policy
        return (value.get("config") or {}).get("name")
    return value if isinstance(value, str) else None


def _float32_config(value):
    """``value`` (a model config) with every half-precision dtype policy set to float32."""
    if isinstance(value, dict):
        return {k: ("float32" if k == "dtype" and _policy_name(v) in _MIXED
                    else _float32_config(v)) for k, v in value.items()}
    if isinstance(value, list):
        return [_float32_config(v) for v in value]
    return value


def float32(plain):
    """``plain`` itself, or a float32 copy when it computes in half precision (a
    ``mixed_float16``/``mixed_bfloat16`` policy): TFLite's builtin kernels take float32
    (and int8), and the weights of a mixed-precision model are float32 already.

    Example:
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, dtype="mixed_float16")])
        >>> float32(m).layers[0].compute_dtype
        'float32'
    """
    halves = [layer for layer in walk_layers(plain) if layer.compute_dtype in _MIXED]
    if not halves or not (isinstance(plain, keras.Sequential)
                          or getattr(plain, "_is_graph_network", False)):
        return plain
    config = _float32_config(plain.get_config())
    copy = type(plain).from_config(config)
    copy.set_weights(plain.get_weights())
    return copy


def walk_layers(model):
    """Every layer of ``model``: nested models (and their layers) and a wrapper's inner layer.

    Example:
        >>> m = keras.Sequential([keras.layers.Bidirectional(keras.layers.LSTM(2),
        ...                                                  input_shape=(3, 4))])
        >>> [type(layer).__name__ for layer in walk_layers(m)]
        ['Bidirectional', 'LSTM']
    """
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from walk_layers(layer)
        inner = getattr(layer, "layer", None) or getattr(layer, "forward_layer", None)
        if isinstance(inner, keras.layers.Layer):
            yield inner


def is_recurrent(model) -> bool:
    """True if ``model`` holds an RNN layer (LSTM, GRU, SimpleRNN, ConvLSTM, Bidirectional):
    the TFLite converter needs a static batch size for those (FACTS.md)."""
    return any(isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional))
               for layer in walk_layers(model))


def output_names(model) -> list:
    """The model's output names, as its TFLite signature names them."""
    names = list(getattr(model, "output_names", None) or [])
    if len(names) != len(model.outputs):
        names = [t.name.split("/")[0].split(":")[0] for t in model.outputs]
    return names


def check_int8_recurrent(model) -> None:
    """Refuse full-int8 conversion of RNN layers other than LSTM, before the converter runs.

    An LSTM converts to one fused UNIDIRECTIONAL_SEQUENCE_LSTM op; GRU, SimpleRNN and other
    RNN cells convert to a WHILE loop, and TF 2.21's int8 calibrator crashes the Python process
    on it (segmentation fault, checked with GRU(4)). Float, float16 and dynamic files work.
    """
    for layer in walk_layers(model):
        if isinstance(layer, keras.layers.RNN) and not isinstance(layer, keras.layers.LSTM):
            raise errors.ExportError(
                f"Layer {layer.name!r} ({type(layer).__name__}) cannot be quantised to full "
                "int8: it converts to a WHILE loop on which TensorFlow's int8 calibrator "
                "crashes the process (segmentation fault, TF 2.21). Use an LSTM layer for "
                "int8/micro, or export it with quantize=None, 'float16' or 'dynamic'.")


def check_finite_weights(model) -> None:
    """Refuse a model holding a NaN or infinite weight, naming the layer and the weight.

    Example:
        >>> m = keras.Sequential([keras.layers.Dense(2, input_shape=(3,), name="fc")])
        >>> w, b = m.layers[0].get_weights(); w[0, 0] = np.nan; m.layers[0].set_weights([w, b])
        >>> try:
        ...     check_finite_weights(m)
        ... except ValueError as e:
        ...     print(str(e)[:47])
        Layer 'fc' holds 1 NaN/infinite value in weight
    """
    for layer in walk_layers(model):
        if isinstance(layer, keras.Model):
            continue
        for w in layer.weights:
            value = np.asarray(w.numpy())
            if not np.issubdtype(value.dtype, np.floating):
                continue
            bad = int(np.size(value) - np.count_nonzero(np.isfinite(value)))
            if bad:
                name = w.name.split("/")[-1].split(":")[0]
                raise errors.ExportError(
                    f"Layer {layer.name!r} holds {bad} NaN/infinite value"
                    f"{'s' if bad > 1 else ''} in weight {name!r} (of {value.size}); a file "
                    "converted from it would compute NaN. Nothing was converted. Re-train "
                    "from a finite checkpoint (a diverged run is the usual cause: lower the "
                    "learning rate) or fix the weights, then export again.")
