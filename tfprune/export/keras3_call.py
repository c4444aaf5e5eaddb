"""Export a subclassed Keras 3 model through its call: a tf_keras view of it.

A subclassed Keras 3 model (``class M(keras.Model)`` written with ``import keras``) has no
layer graph to translate to tf_keras. The export needs none: it converts a concrete function
of the model's call. :func:`view` gives the export functions (``tflite``, ``micro``,
``verify``) a tf_keras Functional model with one input, of the shape the model was built
with, and one layer, :class:`CallLayer`, that runs the Keras 3 model's ``call`` (TensorFlow
backend) on it with ``training=False`` and tracks the model's variables. So the converter,
the int8 calibration, LiteRT/TFLM verification and sparsity detection run unchanged on the
user's own weights (shared, never changed). A model still holding tfprune's Keras 3 masks is
stripped first (a copy, :func:`tfprune.masking.keras3_subclassed.strip`).

Refused with the reason: recurrent layers (their TensorFlow while loop converts to a WHILE
op, on which TF 2.21's int8 calibrator crashes the process), models built with several call
arguments or a list/dict input, unbuilt models and half-precision compute dtypes. The input
is float32 (Keras 3 records the shape a model was built with, not the dtype), so a model fed
integer token ids is not exported this way.

Example:
    >>> import numpy as np, keras
    >>> class M(keras.Model):
    ...     def __init__(self, **kw):
    ...         super().__init__(**kw)
    ...         self.fc = keras.layers.Dense(2, name="fc")
    ...     def call(self, x):
    ...         return self.fc(x)
    >>> m = M(name="m"); _ = m(np.zeros((1, 3), "float32"))
    >>> v = view(m)
    >>> v.input_shape, v.output_shape
    ((None, 3), (None, 2))
"""

from __future__ import annotations

import inspect
import re

import numpy as np
import tf_keras

from tfprune import errors
from tfprune.masking import keras3_slots as slots3
from tfprune.masking import keras3_subclassed

__all__ = ["view", "CallLayer", "scope_name"]


class CallLayer(tf_keras.layers.Layer):
    """A tf_keras layer running a Keras 3 model's ``call`` (``training=False``); its weights
    are the model's variables (the same ``tf.Variable`` s, so zeros and values are shared).

    Example:
        >>> import numpy as np, keras
        >>> k3 = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2)])
        >>> layer = CallLayer(k3)
        >>> layer(np.ones((1, 3), "float32")).shape, len(layer.weights)
        (TensorShape([1, 2]), 2)
    """

    def __init__(self, model, **kwargs):
        super().__init__(name=scope_name(model.name), **kwargs)
        object.__setattr__(self, "_keras3_model", model)  # not tracked: a Keras 3 object
        # tf_keras tracks the tf.Variables assigned here: weights, the converter's trackable
        self.keras3_variables = [v.value for v in model.weights]

    def call(self, inputs):
        return self._keras3_model(inputs, training=False)

    def get_config(self):
        raise NotImplementedError(
            "CallLayer wraps a live Keras 3 model for export and is not serialized; save the "
            "Keras 3 model itself (model.save).")


def scope_name(name: str) -> str:
    """``name`` as a TensorFlow root name scope accepts it (Keras 3 names a class ``_Net``
    ``"__net"``; TensorFlow refuses a leading underscore).

    Example:
        >>> scope_name("__net"), scope_name("my model")
        ('net', 'my_model')
    """
    return re.sub(r"[^A-Za-z0-9_.\-]", "_", name).lstrip("_-") or "keras3_model"


def _stripped(model):
    """``model``, or a stripped copy when it still holds tfprune's Keras 3 masks."""
    if slots3.state_of(model) is None:
        return model
    try:
        return keras3_subclassed.strip(model)
    except errors.ModelTypeError as exc:
        raise errors.ModelTypeError(
            f"{type(model).__name__} {model.name!r} still holds tfprune's pruning masks and "
            f"could not be stripped to a copy for export ({str(exc)[:300]}). Strip it first "
            "with tfprune.strip(model, inplace=True) and export the result.") from exc


def _walk(model):
    return model._flatten_layers(include_self=False, recursive=True)  # noqa: SLF001


def _check_layers(model) -> None:
    """Refuse recurrent layers and half-precision compute; refuse NaN/inf weights."""
    import keras  # a Keras 3 model exists here, so Keras 3 is imported already

    for layer in _walk(model):
        if isinstance(layer, (keras.layers.RNN, keras.layers.Bidirectional)):
            raise errors.ModelTypeError(
                f"Layer {layer.name!r} ({type(layer).__name__}) of subclassed Keras 3 model "
                f"{model.name!r} is recurrent: its call converts to a TFLite WHILE loop, on "
                "which TensorFlow's int8 calibrator crashes the process (TF 2.21), and tfprune "
                "exports a subclassed Keras 3 model only through its call. Rebuild the model "
                "with keras.Model(inputs, outputs) (translated to tf_keras, whose LSTM "
                "converts to one fused op) or define the class on tf_keras "
                "(`import tf_keras as keras`), then export.")
    policy = getattr(getattr(model, "dtype_policy", None), "compute_dtype", "float32")
    if policy != "float32":
        raise errors.ModelTypeError(
            f"Subclassed Keras 3 model {model.name!r} computes in {policy}; TFLite's builtin "
            "kernels take float32 (and int8). Rebuild it with dtype='float32' (or "
            "keras.mixed_precision.set_global_policy('float32') before creating it), copy "
            "the weights over (set_weights) and export that.")
    for w in model.weights:
        value = np.asarray(w.numpy())
        bad = int(value.size - np.count_nonzero(np.isfinite(value)))
        if np.issubdtype(value.dtype, np.floating) and bad:
            raise errors.ExportError(
                f"Weight {w.path!r} of {model.name!r} holds {bad} NaN/infinite value"
                f"{'s' if bad > 1 else ''} (of {value.size}); a file converted from it would "
                "compute NaN. Nothing was converted. Re-train from a finite checkpoint (a "
                "diverged run is the usual cause: lower the learning rate) or fix the "
                "weights, then export again.")


def _input_shape(model) -> tuple:
    """The shape (without the batch axis) of the one tensor ``model`` was built with."""
    shapes = dict(getattr(model, "_build_shapes_dict", None) or {})
    shape = next(iter(shapes.values())) if len(shapes) == 1 else None
    if not getattr(model, "built", False) or not shapes:
        raise errors.ModelTypeError(
            f"Subclassed Keras 3 model {model.name!r} is not built, so its input shape is "
            "unknown. Call it once on a batch (model(x)) before exporting.")
    if shape is None or (shape and isinstance(shape[0], (list, tuple, dict))) \
            or isinstance(shape, dict):
        raise errors.ModelTypeError(
            f"Subclassed Keras 3 model {model.name!r} was built with inputs {shapes}; tfprune "
            "exports a subclassed Keras 3 model called on one tensor (model(x)). Rebuild it "
            "with keras.Model(inputs, outputs) to export several inputs.")
    return tuple(shape[1:])


def _input_name(model) -> str:
    params = list(inspect.signature(model.call).parameters)
    return params[0] if params and params[0] not in ("args", "kwargs") else "input"


def view(model):
    """A tf_keras Functional model running subclassed Keras 3 ``model``'s call (stripped
    first if it holds tfprune's masks): what the export functions convert and verify.

    Its input is float32 of the shape ``model`` was built with (any batch size) and named
    after the call's first argument; its outputs are the call's (a tensor, a list/tuple, or
    a dict: then named by its keys); it shares ``model``'s variables (nothing is copied or
    changed unless masks had to be stripped).

    Raises:
        ModelTypeError: recurrent layers, half-precision compute, an unbuilt model, several
            call inputs, or masks on a model whose class cannot be copied; each message names
            the fix.
        ExportError: a NaN/infinite weight.

    Example:
        >>> import numpy as np, keras
        >>> class M(keras.Model):
        ...     def __init__(self, **kw):
        ...         super().__init__(**kw)
        ...         self.fc = keras.layers.Dense(2)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(name="m"); _ = m(np.zeros((1, 3), "float32"))
        >>> v = view(m)
        >>> v.input_names, v.name, np.allclose(v(np.ones((1, 3))), m(np.ones((1, 3))))
        (['x'], 'm', True)
    """
    model = _stripped(model)
    shape = _input_shape(model)
    _check_layers(model)
    inputs = tf_keras.Input(shape, dtype="float32", name=_input_name(model))
    try:
        outputs = CallLayer(model)(inputs)
    except Exception as exc:  # noqa: BLE001 - any failure of the user's call is reported
        raise errors.ModelTypeError(
            f"{type(model).__name__}.call could not be traced on a symbolic float32 input of "
            f"shape {(None, *shape)} ({type(exc).__name__}: {str(exc)[:200]}); tfprune "
            "exports a subclassed Keras 3 model through its call. Use keras.ops in call (no "
            ".numpy(), no Python branching on tensor values).") from exc
    if isinstance(outputs, dict):  # named outputs: one identity layer named by each key
        outputs = [tf_keras.layers.Activation("linear", name=str(k))(v)
                   for k, v in outputs.items()]
    return tf_keras.Model(inputs, outputs, name=scope_name(model.name))
