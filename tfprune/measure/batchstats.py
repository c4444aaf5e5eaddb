"""Evaluating a model as if its BatchNormalization statistics were re-estimated.

Removing channels changes what every later BatchNormalization sees; measured against the
dense model's moving statistics, a removal looks far worse than it is after
:func:`tfprune.masking.refit.recalibrate_bn` (or any fine-tuning). A working copy whose
BatchNormalization layers normalise with the statistics of the batch they are given
measures the re-estimated model directly, at the cost of one evaluation.

Example:
    >>> import numpy as np
    >>> m = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()])
    >>> w = working_copy(m, batch_stats=True)
    >>> np.round(w(np.array([[1.0, 0.0], [3.0, 2.0]], "float32")).numpy(), 2).tolist()
    [[-1.0, -1.0], [1.0, 1.0]]
"""

from __future__ import annotations

import tensorflow as tf

from tfprune.compat import keras

__all__ = ["BatchStatsNormalization", "working_copy", "has_batch_norm"]


class BatchStatsNormalization(keras.layers.BatchNormalization):
    """A BatchNormalization that normalises with the mean and variance of the batch it is
    given, never its moving statistics, and updates nothing: evaluating a model with
    channels removed through it is evaluating it after
    :func:`tfprune.masking.refit.recalibrate_bn` on that batch (all at once).

    Example:
        >>> import numpy as np
        >>> bn = BatchStatsNormalization()
        >>> y = bn(np.array([[1.0], [3.0]], "float32"))
        >>> np.round(y.numpy().ravel(), 2).tolist()
        [-1.0, 1.0]
    """

    def call(self, inputs, training=None, mask=None):  # mask: Keras 3 configs pass it
        if len(inputs.shape) == 4 and inputs.dtype == tf.float32:  # one fused kernel
            ones = tf.ones([inputs.shape[-1]], inputs.dtype)
            y, _, _ = tf.compat.v1.nn.fused_batch_norm(
                inputs, self.gamma if self.scale else ones,
                self.beta if self.center else tf.zeros_like(ones), epsilon=self.epsilon,
                is_training=True)
            return y
        mean, var = tf.nn.moments(inputs, list(range(len(inputs.shape) - 1)))
        return tf.nn.batch_normalization(inputs, mean, var, self.beta if self.center else None,
                                         self.gamma if self.scale else None, self.epsilon)


def _channels_last_bn(layer) -> bool:
    if type(layer) is not keras.layers.BatchNormalization:
        return False
    axis = layer.axis if isinstance(layer.axis, (list, tuple)) else [layer.axis]
    try:
        rank = len(layer.input.shape)
    except (AttributeError, RuntimeError, ValueError):
        rank = None
    return (len(axis) == 1 and (axis[0] == -1 or (rank is not None and axis[0] == rank - 1)))


def working_copy(model, *, batch_stats: bool = False):
    """A clone of ``model`` with its weights; with ``batch_stats`` every channels-last
    BatchNormalization becomes a :class:`BatchStatsNormalization`.

    Example:
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.BatchNormalization()])
        >>> type(working_copy(m, batch_stats=True).layers[0]).__name__
        'BatchStatsNormalization'
    """
    def clone(layer):
        if batch_stats and _channels_last_bn(layer):
            return BatchStatsNormalization.from_config(layer.get_config())
        return layer.__class__.from_config(layer.get_config())

    work = keras.models.clone_model(model, clone_function=clone if batch_stats else None)
    work.set_weights(model.get_weights())
    return work


def has_batch_norm(model) -> bool:
    """True when ``model`` (or a nested model) has a BatchNormalization layer."""
    return any(isinstance(la, keras.layers.BatchNormalization) or
               (isinstance(la, keras.Model) and has_batch_norm(la)) for la in model.layers)
