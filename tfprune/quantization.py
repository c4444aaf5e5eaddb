"""Quantization-aware training that keeps what pruning did.

``quantize_aware(model)`` takes a plain pruned model (after ``strip``, or after ``shrink``) and
returns TF-MOT's quantization-aware training model (fake-quantised weights and activations),
built with TF-MOT's pruning-preserving scheme: every weight that is exactly zero when the QAT
model is built stays exactly zero through training and in the int8 file, whatever pattern
produced it (unstructured, N:M, blocks, channels). TF-MOT leaves DepthwiseConv2D out of its
pruning-preserving registry because TF-MOT never prunes it; tfprune prunes it, so the registry
here covers it too. Layers TF-MOT cannot quantise in training (Conv1D, SeparableConv,
recurrent and attention layers, ...) stay float during QAT and are quantised after training by
the int8 converter; if such a layer holds pruned zeros it is frozen (not trained), so that its
zeros stay, and a warning names it.

Train the result with ``compile``/``fit`` as usual, then export it unchanged:
``tfprune.export.tflite(qat, path, quantize="int8", representative_data=x)`` or
``tfprune.export.micro(qat, out_dir, representative_data=x)``.

References:
    Jacob et al. 2018, Quantization and Training of Neural Networks for Efficient
    Integer-Arithmetic-Only Inference. TF-MOT collaborative optimization (PQAT).

Example:
    >>> import numpy as np, tfprune
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(16), keras.layers.Dense(3)])
    >>> plain = tfprune.strip(tfprune.one_shot(m, 0.5))
    >>> qat = tfprune.quantize_aware(plain)
    >>> qat.compile("adam", "mse")
    >>> _ = qat.fit(np.random.rand(32, 8), np.random.rand(32, 3), epochs=1, verbose=0)
    >>> [round(s, 2) for s in tfprune.quantization.zero_fractions(qat).values()]
    [0.5, 0.5]
"""

from __future__ import annotations

import warnings

import numpy as np
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras import (
    quantize_annotate as _quantize_annotate,
)
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (  # noqa: E501
    default_8bit_prune_preserve_quantize_scheme as _pp_scheme,
)
from tensorflow_model_optimization.python.core.quantization.keras.collab_opts.prune_preserve import (  # noqa: E501
    prune_preserve_quantize_registry as _pp_registry,
)
from tensorflow_model_optimization.python.core.quantization.keras.default_8bit import (
    default_8bit_quantize_registry as _default_registry,
)

from tfprune import errors
from tfprune.compat import check_tf_keras_model, keras, keras3_io
from tfprune.masking import pruner

__all__ = ["quantize_aware", "zero_fractions", "PrunePreserveScheme"]

_KERNELS = ("kernel", "depthwise_kernel", "pointwise_kernel", "recurrent_kernel", "embeddings")


class _Registry(_pp_registry.Default8bitPrunePreserveQuantizeRegistry):
    """TF-MOT's pruning-preserving registry, with DepthwiseConv2D preserved too."""

    _LAYERS_CONFIG_MAP = {
        **_pp_registry.PrunePreserveQuantizeRegistry._LAYERS_CONFIG_MAP,
        keras.layers.DepthwiseConv2D: _pp_registry._PrunePreserveInfo(
            ["depthwise_kernel"], ["Default8BitConvQuantizeConfig"]),
    }
    _DISABLE_PRUNE_PRESERVE = frozenset()

    def get_quantize_config(self, layer):
        # A layer left float (frozen: no trainable weights any more) that feeds a quantised
        # one: TF-MOT asks for its output config; no config keeps it float.
        if not _default_registry.Default8BitQuantizeRegistry().supports(layer):
            return None
        return super().get_quantize_config(layer)


class PrunePreserveScheme(_pp_scheme.Default8BitPrunePreserveQuantizeScheme):
    """TF-MOT's 8-bit pruning-preserving QAT scheme, extended to DepthwiseConv2D.

    Example:
        >>> PrunePreserveScheme().get_quantize_registry().supports(
        ...     keras.layers.DepthwiseConv2D(3))
        True
    """

    def get_quantize_registry(self):
        return _Registry()


def _kernels(layer):
    return [w for w in layer.trainable_weights
            if w.name.split("/")[-1].split(":")[0] in _KERNELS]


def zero_fractions(model) -> dict:
    """``{weight name: fraction of exact zeros}`` of every kernel of ``model`` (QAT or plain).

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(2, name="d")])
        >>> m.layers[0].kernel.assign([[0., 1.], [0., 1.]])  # doctest: +ELLIPSIS
        <...>
        >>> zero_fractions(m)
        {'d/kernel:0': 0.5}
    """
    out = {}
    for w in model.weights:
        if w.name.split("/")[-1].split(":")[0] in _KERNELS:
            out[w.name] = float(np.mean(w.numpy() == 0))
    return out


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


@keras3_io(returns=None)
def quantize_aware(model, *, exclude=None):
    """Return a quantization-aware training copy of ``model`` whose zero weights stay zero.

    Args:
        model: a plain (stripped or shrunk) Sequential or Functional model, tf_keras or
            Keras 3 (translated; the QAT model is tf_keras, like every training model here).
        exclude: layer names to leave out of QAT (quantised after training by the converter).

    Returns:
        A new tf_keras model (TF-MOT ``QuantizeWrapperV2`` layers), uncompiled; ``model`` is
        not changed. Compile, fit, then export it with ``tfprune.export.tflite(...,
        quantize="int8")`` or ``tfprune.export.micro``.

    Raises:
        AlreadyPrunedError: ``model`` still holds pruning wrappers (``tfprune.strip`` it first).
        ConfigError: an ``exclude`` name is not a layer of the model; no layer can be
            quantised in training.
        ModelTypeError, KerasVersionError: not a Sequential/Functional model.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(2)])
        >>> [type(l).__name__ for l in quantize_aware(m).layers]
        ['QuantizeLayer', 'QuantizeWrapperV2']
    """
    check_tf_keras_model(model)
    if pruner.wrapped_layers(model):
        raise errors.AlreadyPrunedError(
            f"Model {model.name!r} still holds pruning wrappers: quantization-aware training "
            "starts from the plain pruned model. Call tfprune.strip(model) first (and "
            "tfprune.shrink for channel pruning).")
    if any(isinstance(layer, keras.Model) for layer in model.layers):
        raise errors.ModelTypeError(
            f"Model {model.name!r} nests models: TF-MOT's quantization-aware training takes a "
            "flat Sequential/Functional model. Flatten it first (rebuild it from the nested "
            "model's layers).")
    exclude = set(errors.check_layer_names("exclude", exclude, model))
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    registry = _Registry()
    frozen, skipped = [], []

    def annotate(layer):
        if layer.name in exclude or not registry.supports(layer):
            if not isinstance(layer, keras.layers.InputLayer) and layer.weights:
                skipped.append(layer.name)
                if any(np.any(w.numpy() == 0) for w in _kernels(layer)):
                    layer.trainable = False
                    frozen.append(layer.name)
            return layer
        return tfmot.quantization.keras.quantize_annotate_layer(layer)

    annotated = keras.models.clone_model(copy, clone_function=annotate)
    if not any(isinstance(lyr, _quantize_annotate.QuantizeAnnotate)
               for lyr in annotated.layers):
        raise errors.ConfigError(
            f"No layer of model {model.name!r} can be trained quantization-aware (TF-MOT "
            "supports Dense, Conv2D, DepthwiseConv2D and a few others; skipped: "
            f"{skipped}). Export it with post-training int8 instead: "
            "tfprune.export.tflite(model, path, quantize='int8', representative_data=x).")
    if frozen:
        warnings.warn(
            f"Layers {frozen} hold pruned zeros but TF-MOT cannot train them "
            "quantization-aware: they are frozen during QAT (their zeros stay) and quantised "
            "after training by the int8 converter.", stacklevel=2)
    with tfmot.quantization.keras.quantize_scope():
        return tfmot.quantization.keras.quantize_apply(annotated, PrunePreserveScheme())
