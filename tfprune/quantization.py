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

A BatchNormalization right after a Conv2D, DepthwiseConv2D or Dense is taken into QAT, so that
TF-MOT's Conv+BN(+ReLU) layout transforms put no fake-quant between the layer and its BN: the
int8 file folds the BN into the layer and has no quantisation point there either. Pass ``representative_data`` to start the activation ranges at their calibrated
values instead of TF-MOT's [-6, 6].

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
import tensorflow as tf
import tensorflow_model_optimization as tfmot
from tensorflow_model_optimization.python.core.quantization.keras import (
    quantize_annotate as _quantize_annotate,
)
from tensorflow_model_optimization.python.core.quantization.keras import (
    quantizers as _quantizers,
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
from tfprune.export import samples as export_samples
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


def _follows_quantized_linear(layer, quantized) -> bool:
    """A BatchNormalization right after a quantised linear Conv2D/DepthwiseConv2D/Dense.

    TF-MOT's pruning-preserving registry does not take BatchNormalization; annotated, TF-MOT's
    layout transforms drop the fake-quant between the layer and its BN (the int8 file folds
    the BN into the layer).
    Left out, the conv output is fake-quantised per tensor before the BN scale, a point the
    converted file does not have.
    """
    if not isinstance(layer, keras.layers.BatchNormalization) or len(layer._inbound_nodes) != 1:
        return False
    inbound = layer._inbound_nodes[0].inbound_layers
    if isinstance(inbound, (list, tuple)):
        if len(inbound) != 1:
            return False
        inbound = inbound[0]
    # exact classes: TF-MOT's patterns match class names (not Conv2DTranspose, a subclass)
    return (type(inbound) in (keras.layers.Conv2D, keras.layers.DepthwiseConv2D,
                              keras.layers.Dense)
            and keras.activations.serialize(inbound.activation) in ("linear", {"class_name": "linear"})
            and quantized(inbound))


class _RangeObserver(_quantizers.MovingAverageQuantizer):
    """Stands in for an activation quantizer during calibration: widens its [min, max] to
    the values it sees (0 always inside, as TFLite needs) and lets them pass unquantised,
    as the int8 converter's calibration does."""

    def __call__(self, inputs, training, weights, **kwargs):
        low = tf.minimum(tf.reduce_min(inputs), 0.0)
        high = tf.maximum(tf.reduce_max(inputs), 0.0)
        weights["min_var"].assign(tf.minimum(weights["min_var"], low))
        weights["max_var"].assign(tf.maximum(weights["max_var"], high))
        return inputs


def _activation_ranges(qat):
    """``[(quantizer, {"min_var", "max_var"})]`` of every per-tensor activation quantizer."""
    found = []
    for layer in qat.layers:
        if getattr(layer, "quantizer_vars", None) is not None:  # the input QuantizeLayer
            found.append((layer.quantizer, layer.quantizer_vars))
        for act in getattr(layer, "_quantize_activations", None) or []:
            for v in (getattr(act, "_pre_activation_vars", None),
                      getattr(act, "_post_activation_vars", None)):
                if v:
                    found.append((act.quantizer, v))
        if getattr(layer, "_output_quantizers", None):
            found.append((layer._output_quantizers[0], layer._output_quantizer_vars))
    kinds = (_quantizers.MovingAverageQuantizer, _quantizers.AllValuesQuantizer)
    return [(q, v) for q, v in found
            if isinstance(q, kinds) and v["min_var"].shape.rank == 0]


def _calibrate(qat, arrays, batch_size=64):
    """Set every activation range of ``qat`` to the min/max over ``arrays`` (inference mode).

    TF-MOT starts activation ranges at [-6, 6] and moves them by an EMA of decay 0.999 per
    training step, so a short QAT run trains and exports with ranges several times too wide.
    """
    for layer in qat.layers:  # weight ranges from the weights, as the first training step does
        for weight, quantizer, qvars in getattr(layer, "_weight_vars", None) or []:
            quantizer(weight, True, weights=qvars)
    found = _activation_ranges(qat)
    kinds = [type(q) for q, _ in found]
    for q, v in found:
        v["min_var"].assign(tf.zeros_like(v["min_var"]))
        v["max_var"].assign(tf.zeros_like(v["max_var"]))
        q.__class__ = _RangeObserver
    try:
        for i in range(0, len(arrays[0]), batch_size):
            batch = [a[i:i + batch_size] for a in arrays]
            qat(batch if len(batch) > 1 else batch[0], training=False)
    finally:
        for (q, _), kind in zip(found, kinds, strict=True):
            q.__class__ = kind


def _leaf_layers(model):
    for layer in model.layers:
        if isinstance(layer, keras.Model):
            yield from _leaf_layers(layer)
        else:
            yield layer


@keras3_io(returns=None)
def quantize_aware(model, *, exclude=None, representative_data=None):
    """Return a quantization-aware training copy of ``model`` whose zero weights stay zero.

    Args:
        model: a plain (stripped or shrunk) Sequential or Functional model, tf_keras or
            Keras 3 (translated; the QAT model is tf_keras, like every training model here).
        exclude: layer names to leave out of QAT (quantised after training by the converter).
        representative_data: a few hundred typical inputs (array, ``(x, y)`` or Dataset, as
            for ``tfprune.export.tflite``). Every activation range then starts at its min/max
            over this data, as the post-training int8 converter calibrates. Without it the
            ranges start at TF-MOT's [-6, 6] and move by 0.1 % a step, so a short QAT run
            trains and exports with wide ranges (8x too wide on the demo CNN's first ReLU,
            whose values stay in [0, 1.5], after one epoch).

    Returns:
        A new tf_keras model (TF-MOT ``QuantizeWrapperV2`` layers), uncompiled; ``model`` is
        not changed. Compile, fit, then export it with ``tfprune.export.tflite(...,
        quantize="int8")`` or ``tfprune.export.micro``.

    Raises:
        AlreadyPrunedError: ``model`` still holds pruning wrappers (``tfprune.strip`` it first).
        ConfigError: an ``exclude`` name is not a layer of the model; no layer can be
            quantised in training.
        ExportError: ``representative_data`` does not fit the model's inputs.
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
    arrays = (None if representative_data is None else
              export_samples.representative(model, representative_data))
    copy = keras.models.clone_model(model)
    copy.set_weights(model.get_weights())
    registry = _Registry()
    frozen, skipped = [], []

    def quantized(layer):
        return layer.name not in exclude and registry.supports(layer)

    def annotate(layer):
        if not quantized(layer) and not _follows_quantized_linear(layer, quantized):
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
        qat = tfmot.quantization.keras.quantize_apply(annotated, PrunePreserveScheme())
    if arrays is not None:
        _calibrate(qat, arrays)
    return qat
