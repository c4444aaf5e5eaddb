"""Pure mask functions: scores in, 0/1 masks out.

No Keras, no variables, no state: the same tensor in gives the same mask out.
Every function here keeps an *exact* number of entries,
``kept_count(n, sparsity) = max(1, round(n * (1 - sparsity)))``, breaking ties
by position (lower flat index wins), so masks are reproducible.
"""

from __future__ import annotations

import tensorflow as tf

__all__ = ["kept_count", "topk_mask", "global_topk_masks", "mask_sparsity"]


def kept_count(n, sparsity):
    """Number of entries kept out of ``n`` at ``sparsity``: ``max(1, round(n * (1 - s)))``.

    Computed in float64 so that graph and Python agree. Works on tensors.

    Example:
        >>> int(kept_count(10, 0.25))
        8
        >>> int(kept_count(3, 0.99))
        1
    """
    n64 = tf.cast(n, tf.float64)
    s64 = tf.cast(sparsity, tf.float64)
    k = tf.math.maximum(tf.math.round(n64 * (1.0 - s64)), 1.0)
    return tf.cast(tf.math.minimum(k, n64), tf.int32)


def topk_mask(scores: tf.Tensor, sparsity) -> tf.Tensor:
    """0/1 mask (same shape and float dtype as ``scores``) keeping the largest scores.

    Args:
        scores: any-shape tensor; larger means more important.
        sparsity: fraction to remove, in [0, 1) (float or scalar tensor).

    Returns:
        A float32 tensor of ``scores.shape`` with exactly ``kept_count(size, sparsity)`` ones.

    Example:
        >>> topk_mask(tf.constant([3., 1., 2., 4.]), 0.5).numpy()
        array([1., 0., 0., 1.], dtype=float32)
    """
    scores = tf.convert_to_tensor(scores)
    flat = tf.reshape(tf.cast(scores, tf.float32), [-1])
    n = tf.size(flat)
    k = kept_count(n, sparsity)
    _, idx = tf.math.top_k(flat, k=k, sorted=False)
    mask = tf.scatter_nd(tf.expand_dims(idx, 1), tf.ones([k], tf.float32), [n])
    return tf.reshape(mask, tf.shape(scores))


def global_topk_masks(scores_list, sparsity) -> list[tf.Tensor]:
    """Masks for several tensors under ONE threshold: the total kept meets the target.

    The kept count is ``kept_count(total_size, sparsity)`` over all tensors together,
    so single tensors may end up far sparser or denser than ``sparsity``.

    Args:
        scores_list: list of score tensors (any shapes).
        sparsity: overall fraction to remove, in [0, 1).

    Returns:
        A list of float32 masks, one per input, same shapes.

    Example:
        >>> a, b = global_topk_masks([tf.constant([1., 9.]), tf.constant([5., 0., 7.])], 0.4)
        >>> a.numpy(), b.numpy()
        (array([0., 1.], dtype=float32), array([1., 0., 1.], dtype=float32))
    """
    flats = [tf.reshape(tf.cast(s, tf.float32), [-1]) for s in scores_list]
    sizes = [int(f.shape[0]) for f in flats]
    joined = tf.concat(flats, axis=0)
    merged = topk_mask(joined, sparsity)
    parts = tf.split(merged, sizes)
    return [tf.reshape(p, tf.shape(s)) for p, s in zip(parts, scores_list)]


def mask_sparsity(mask) -> float:
    """Fraction of zeros in a mask (Python float).

    Example:
        >>> mask_sparsity(tf.constant([1., 0., 0., 1.]))
        0.5
    """
    mask = tf.convert_to_tensor(mask)
    return float(1.0 - tf.reduce_mean(tf.cast(mask, tf.float32)).numpy())
