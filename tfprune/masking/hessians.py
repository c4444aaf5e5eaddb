"""The input rows ``X`` of each prunable weight, whose ``X^T X`` OBS, SparseGPT and Wanda use.

One pre-bias output is ``X @ W`` for every layer these criteria handle, with ``W`` the kernel
viewed as a matrix whose rows are the kernel's input axes (all but the output axes):

* Dense, Conv1D, Conv2D (``groups=1``): ``W = kernel.reshape(-1, out)``, ``X`` the inputs
  flattened to ``[-1, in]`` (Dense) or their im2col patches (:func:`patches`);
* DepthwiseConv1D/2D: every input channel ``c`` is its own small layer, ``W_c =
  kernel[..., c, :].reshape(k, multiplier)`` (``k`` taps) and ``X_c`` the ``k``-patches of
  channel ``c``: the rows come as a batch ``[C, N, k]`` and ``X^T X`` is ``[C, k, k]``;
* MultiHeadAttention: the query/key/value kernels ``[d, heads, dim]`` are ``W = kernel.reshape(d,
  -1)`` with ``X`` the query/key/value inputs; the output kernel ``[heads, dim, out]`` is
  ``kernel.reshape(heads * dim, -1)`` with ``X`` the attention output before the output
  projection, recomputed here from the inputs (dropout off).

Example:
    >>> from tfprune.compat import keras
    >>> dw = keras.layers.DepthwiseConv2D(3); dw.build((None, 5, 5, 2))
    >>> [s for s in hessian_shapes(dw, [dw.depthwise_kernel])]
    [[2, 9, 9]]
    >>> gram_sums(dw, tf.ones([1, 5, 5, 2]))[0][0].shape.as_list()
    [2, 9, 9]
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune.compat import keras

__all__ = ["patches", "hessian_shapes", "gram_sums", "is_depthwise"]

_DEPTHWISE = tuple(c for c in (getattr(keras.layers, "DepthwiseConv1D", None),
                               keras.layers.DepthwiseConv2D) if c is not None)


def is_depthwise(layer) -> bool:
    """True for DepthwiseConv1D/2D (one small layer per input channel).

    Example:
        >>> is_depthwise(keras.layers.DepthwiseConv2D(3)), is_depthwise(keras.layers.Dense(2))
        (True, False)
    """
    return isinstance(layer, _DEPTHWISE)


def patches(layer, inputs) -> tf.Tensor:
    """Rows ``X`` such that the layer's pre-bias output is ``X @ kernel.reshape(-1, out)``.

    Dense: the inputs flattened to ``[-1, in]``. Conv2D/Conv1D (``groups=1``): im2col
    patches from ``tf.image.extract_patches`` in the kernel's ``(kh, kw, in)`` order
    (a depthwise layer gets the same patches, ``(kh, kw, channel)`` order).

    Example:
        >>> patches(keras.layers.Conv2D(2, 3), tf.ones([1, 4, 4, 1])).shape.as_list()
        [4, 9]
    """
    x = tf.cast(inputs, tf.float32)
    if not hasattr(layer, "kernel_size"):
        return tf.reshape(x, [-1, x.shape[-1]])
    one_d = len(layer.kernel_size) == 1
    if one_d:
        x = tf.expand_dims(x, 1)
    ks = (1,) + tuple(layer.kernel_size) if one_d else tuple(layer.kernel_size)
    st = (1,) + tuple(layer.strides) if one_d else tuple(layer.strides)
    dl = (1,) + tuple(layer.dilation_rate) if one_d else tuple(layer.dilation_rate)
    p = tf.image.extract_patches(x, sizes=[1, *ks, 1], strides=[1, *st, 1],
                                 rates=[1, *dl, 1], padding=layer.padding.upper())
    return tf.reshape(p, [-1, p.shape[-1]])


def hessian_shapes(layer, weights) -> list:
    """The shape of ``X^T X`` for the layer's kernels (see the module docstring): the first
    prunable weight, or MultiHeadAttention's four projection kernels; a bias (at channel
    granularity) gets none.

    Example:
        >>> mha = keras.layers.MultiHeadAttention(2, 4); x = tf.ones([1, 3, 6])
        >>> _ = mha(x, x)
        >>> ws = [mha._query_dense.kernel, mha._output_dense.kernel]
        >>> hessian_shapes(mha, ws)
        [[6, 6], [8, 8]]
    """
    out = []
    attention = isinstance(layer, keras.layers.MultiHeadAttention)
    for w in weights[:4] if attention else weights[:1]:  # kernels only, in order
        shape = w.shape.as_list()
        if len(shape) < 2:
            break
        if is_depthwise(layer):
            k = int(np.prod(shape[:-2]))
            out.append([shape[-2], k, k])
        elif attention and "output" not in w.name:
            out.append([shape[0], shape[0]])
        else:
            rows = int(np.prod(shape[:-1]))
            out.append([rows, rows])
    return out


def _attention_rows(layer, query, value, key=None, attention_mask=None,
                    use_causal_mask=False) -> list:
    """Rows of the query/key/value/output projections of a MultiHeadAttention call."""
    key = value if key is None else key
    mask = layer._compute_attention_mask(query, value, key=key, attention_mask=attention_mask,
                                         use_causal_mask=use_causal_mask)
    q, k, v = layer._query_dense(query), layer._key_dense(key), layer._value_dense(value)
    attended, _ = layer._compute_attention(q, k, v, mask, False)
    heads = int(np.prod(attended.shape[-2:]))
    flat = [tf.reshape(tf.cast(t, tf.float32), [-1, t.shape[-1]]) for t in (query, key, value)]
    return flat + [tf.reshape(tf.cast(attended, tf.float32), [-1, heads])]


def gram_sums(layer, inputs, args=(), kwargs=None) -> list:
    """``[(X^T X, rows of X), ...]`` of one call, one pair per prunable weight: Dense/Conv one
    ``[rows, rows]`` sum; depthwise one ``[C, k, k]``; MultiHeadAttention four (query, key,
    value, output projection).

    Args:
        layer: the wrapped layer.
        inputs, args, kwargs: what the layer's ``call`` received (tensors and options).

    Example:
        >>> d = keras.layers.Dense(2); d.build((None, 3))
        >>> float(gram_sums(d, tf.ones([4, 3]))[0][1])
        4.0
    """
    kwargs = dict(kwargs or {})
    first = tf.nest.flatten(inputs)[0]
    if isinstance(layer, keras.layers.MultiHeadAttention):
        value = args[0] if args else kwargs.get("value", first)
        key = args[1] if len(args) > 1 else kwargs.get("key")
        xs = _attention_rows(layer, first, value, key, kwargs.get("attention_mask"),
                             bool(kwargs.get("use_causal_mask", False)))
    elif is_depthwise(layer):
        channels = int(first.shape[-1])
        p = patches(layer, first)  # [N, k * C] in (taps, channel) order
        xs = [tf.transpose(tf.reshape(p, [-1, p.shape[-1] // channels, channels]), [2, 0, 1])]
    else:
        xs = [patches(layer, first)]
    return [(tf.matmul(x, x, transpose_a=True), tf.cast(tf.shape(x)[-2], tf.float32))
            for x in xs]
