"""Pure mask functions: scores in, 0/1 masks out.

No Keras, no variables, no state: the same tensor in gives the same mask out.
Every function here keeps an *exact* number of entries,
``kept_count(n, sparsity) = max(1, round(n * (1 - sparsity)))``, breaking ties
by position (lower flat index wins), so masks are reproducible.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

__all__ = ["kept_count", "kept_counts", "topk_mask", "keep_top", "group_keep_masks", "global_keep_masks", "global_topk_masks", "normalize_by_mean", "mask_sparsity",
           "nm_mask", "block_mask",
           "channel_mask"]


def _kept(n, sparsity, round_to, minimum, ops):
    """The rule, written once for both array kinds (``ops``: numpy or tf.math)."""
    k = ops.maximum(ops.round(n * (1.0 - sparsity)), float(max(int(minimum), 1)))
    if round_to > 1:
        k = ops.ceil(k / float(round_to)) * float(round_to)
    return ops.minimum(k, n)


def kept_count(n, sparsity, *, round_to: int = 1, minimum: int = 1):
    """Units kept out of ``n`` at ``sparsity``: THE kept-count rule of tfprune.

    ``k = max(minimum, round(n * (1 - s)))``, then rounded UP to a multiple of
    ``round_to``, at most ``n``. Computed in float64 so that graph and Python agree.
    Works on tensors (:func:`kept_counts` is the same rule on numpy arrays).

    Example:
        >>> int(kept_count(10, 0.25))
        8
        >>> int(kept_count(3, 0.99))
        1
        >>> int(kept_count(16, 0.7, round_to=8))  # 16 - 11 = 5 -> 8
        8
    """
    n64 = tf.cast(n, tf.float64)
    s64 = tf.cast(sparsity, tf.float64)
    return tf.cast(_kept(n64, s64, round_to, minimum, tf.math), tf.int32)


def kept_counts(n, sparsity, *, round_to: int = 1, minimum: int = 1) -> np.ndarray:
    """:func:`kept_count` on numpy arrays (or numbers), in float64: no TensorFlow call,
    for the many evaluations of an allocation search.

    Example:
        >>> kept_counts(np.array([10, 3, 16]), np.array([0.25, 0.99, 0.7])).tolist()
        [8.0, 1.0, 5.0]
    """
    n64 = np.asarray(n, np.float64)
    s64 = np.asarray(sparsity, np.float64)
    return _kept(n64, s64, round_to, minimum, np)


def keep_top(scores, k) -> tf.Tensor:
    """0/1 float32 mask keeping the ``k`` largest entries of a 1-D ``scores`` (ties: lower
    index wins).

    Example:
        >>> keep_top(tf.constant([1., 5., 3.]), 2).numpy()
        array([0., 1., 1.], dtype=float32)
    """
    flat = tf.reshape(tf.cast(scores, tf.float32), [-1])
    order = tf.argsort(flat, direction="DESCENDING", stable=True)[:k]
    return tf.scatter_nd(order[:, None], tf.ones_like(order, tf.float32), tf.shape(flat))


def group_keep_masks(scores_list, sparsity, *, scope: str = "layer", unit_sizes=None,
                     round_to: int = 1, min_channels: int = 1) -> list:
    """Keep masks for the channels of several dependency groups (one score per channel).

    ``scope="layer"``: every group keeps ``kept_count(n, s)`` of its channels
    (``sparsity`` a float, or one per group). ``scope="global"``: one ranking of all
    channels (scores should be :func:`tfprune.core.criteria.grouping.normalize`-d) under
    ONE budget of weights (``unit_sizes``: weights per channel of each group), as
    :func:`global_topk_masks`; every group keeps at least ``min_channels``. Kept counts
    are then rounded up to multiples of ``round_to``. ``-inf`` marks removed channels.

    Example:
        >>> a, b = group_keep_masks([tf.constant([1., 3.]), tf.constant([2., 4., 0.])], 0.5)
        >>> a.numpy(), b.numpy()
        (array([0., 1.], dtype=float32), array([1., 1., 0.], dtype=float32))
        >>> [m.numpy().tolist() for m in group_keep_masks(
        ...     [tf.constant([1., 3.]), tf.constant([2., 4., 0.])], 0.4, scope="global")]
        [[0.0, 1.0], [1.0, 1.0, 0.0]]
    """
    if scope == "global":
        return [tf.reshape(m, [-1]) for m in global_keep_masks(
            scores_list, sparsity, unit_sizes=unit_sizes, min_per_tensor=min_channels,
            round_to=round_to)]
    else:
        per = sparsity if isinstance(sparsity, (list, tuple)) else [sparsity] * len(scores_list)
        counts = [int(kept_count(int(tf.size(s)), sp, round_to=round_to, minimum=min_channels))
                  for s, sp in zip(scores_list, per, strict=True)]
    return [keep_top(s, k) for s, k in zip(scores_list, counts, strict=True)]


def global_keep_masks(scores_list, sparsity, *, unit_sizes=None, min_per_tensor: int = 1,
                      round_to: int = 1) -> list:
    """THE global ranking of tfprune: weights, blocks, channel groups and heads alike.

    One ranking of all units of all tensors under one budget of weights
    (:func:`global_topk_masks`; ``unit_sizes``: weights per unit of each tensor), every
    tensor keeping at least ``min_per_tensor`` units; each tensor's kept count is then
    rounded up to a multiple of ``round_to`` and its best units kept. Masks have the
    shapes of ``scores_list``.

    Example:
        >>> [m.numpy().tolist() for m in global_keep_masks(
        ...     [tf.constant([[1., 9.]]), tf.constant([5., 0., 7.])], 0.4)]
        [[[0.0, 1.0]], [1.0, 0.0, 1.0]]
    """
    first = global_topk_masks(scores_list, sparsity, min_per_tensor=min_per_tensor,
                              unit_sizes=unit_sizes)
    out = []
    for s, m in zip(scores_list, first, strict=True):
        n = int(tf.size(s))
        k = min(n, -(-int(tf.reduce_sum(m)) // round_to) * round_to)
        out.append(tf.reshape(keep_top(s, k), tf.shape(s)))
    return out


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


def global_topk_masks(scores_list, sparsity, *, min_per_tensor: int = 0,
                      unit_sizes=None) -> list[tf.Tensor]:
    """Masks for several tensors under ONE ranking: the total kept meets the target.

    Without ``unit_sizes`` every entry counts as one weight and exactly
    ``kept_count(total_size, sparsity)`` entries are kept. With ``unit_sizes`` (the number
    of weights each entry of tensor ``i`` stands for: a channel, a block) entries are taken
    in score order while the kept WEIGHTS stay within ``kept_count(total_weights,
    sparsity)``, so the weight sparsity meets the target whatever the unit sizes.
    Single tensors may end up far sparser or denser than ``sparsity``. With
    ``min_per_tensor=k`` every tensor keeps at least its ``k`` best entries (no layer is
    cut off entirely); the total may then exceed the target by up to ``k`` units per tensor.

    Args:
        scores_list: list of score tensors (any shapes); ``-inf`` marks removed units.
        sparsity: overall fraction of weights to remove, in [0, 1).
        min_per_tensor: entries every tensor keeps regardless of the global ranking.
        unit_sizes: optional list of ints, weights per entry of each tensor.

    Returns:
        A list of float32 masks, one per input, same shapes.

    Example:
        >>> a, b = global_topk_masks([tf.constant([1., 9.]), tf.constant([5., 0., 7.])], 0.4)
        >>> a.numpy(), b.numpy()
        (array([0., 1.], dtype=float32), array([1., 0., 1.], dtype=float32))
        >>> a, b = global_topk_masks([tf.constant([1., 2.]), tf.constant([5., 6.])], 0.5,
        ...                          min_per_tensor=1)
        >>> a.numpy(), b.numpy()
        (array([0., 1.], dtype=float32), array([1., 1.], dtype=float32))
        >>> a, b = global_topk_masks([tf.constant([3., 2.]), tf.constant([4., 1.])], 0.5,
        ...                          unit_sizes=[1, 3])  # 8 weights, keep 4
        >>> a.numpy(), b.numpy()
        (array([1., 0.], dtype=float32), array([1., 0.], dtype=float32))
    """
    flats = [tf.reshape(tf.cast(s, tf.float32), [-1]) for s in scores_list]
    sizes = [int(f.shape[0]) for f in flats]
    joined = tf.concat(flats, axis=0)
    if unit_sizes is None:
        merged = topk_mask(joined, sparsity)
    else:
        weights = tf.concat([tf.fill([n], tf.cast(u, tf.float64))
                             for n, u in zip(sizes, unit_sizes, strict=True)], axis=0)
        budget = tf.cast(kept_count(tf.reduce_sum(weights), sparsity), tf.float64)
        order = tf.argsort(joined, direction="DESCENDING", stable=True)
        used = tf.cumsum(tf.gather(weights, order))
        keep = tf.logical_or(used <= budget, tf.range(tf.size(order)) == 0)
        merged = tf.scatter_nd(order[:, None], tf.cast(keep, tf.float32), tf.shape(joined))
    parts = tf.split(merged, sizes)
    if min_per_tensor > 0:
        parts = [tf.maximum(p, topk_mask(f, 1.0 - min(min_per_tensor, n) / n))
                 for p, f, n in zip(parts, flats, sizes, strict=True)]
    return [tf.reshape(p, tf.shape(s)) for p, s in zip(parts, scores_list, strict=True)]


def normalize_by_mean(scores) -> tf.Tensor:
    """``scores / mean(finite scores)``: makes per-channel scores of layers comparable.

    Entries that are ``-inf`` (already removed units) stay ``-inf``.

    Example:
        >>> normalize_by_mean(tf.constant([1., 3., -float("inf")])).numpy()
        array([ 0.5,  1.5, -inf], dtype=float32)
    """
    scores = tf.cast(scores, tf.float32)
    finite = tf.math.is_finite(scores)
    mean = tf.reduce_sum(tf.where(finite, scores, 0.0)) / tf.maximum(
        tf.reduce_sum(tf.cast(finite, tf.float32)), 1.0)
    return tf.where(finite, scores / (mean + 1e-12), scores)


def mask_sparsity(mask) -> float:
    """Fraction of zeros in a mask (Python float).

    Example:
        >>> mask_sparsity(tf.constant([1., 0., 0., 1.]))
        0.5
    """
    mask = tf.convert_to_tensor(mask)
    return float(1.0 - tf.reduce_mean(tf.cast(mask, tf.float32)).numpy())


def _check_nm(n, m):
    if not (isinstance(n, int) and isinstance(m, int)) or isinstance(n, bool) or n < 1 or n >= m:
        raise ValueError(f"N:M sparsity needs integers 1 <= N < M, got N={n!r}, M={m!r} "
                         "(2:4 keeps 2 of every 4 weights).")


def nm_mask(scores: tf.Tensor, n: int, m: int, axis: int = -2) -> tf.Tensor:
    """N:M mask: in every group of ``m`` consecutive entries along ``axis``, keep the ``n`` largest.

    ``axis=-2`` is the input-channel axis of Keras Dense ``[in, out]`` and Conv
    ``[..., in, out]`` kernels, the layout sparse tensor cores expect. Sparsity is
    exactly ``1 - n/m``.

    Args:
        scores: tensor of rank >= 1 (rank-1 tensors use ``axis=0``); the length of
            ``axis`` must be divisible by ``m``.
        n: entries kept per group, ``1 <= n < m``.
        m: group size.
        axis: grouping axis.

    Returns:
        float32 0/1 mask of ``scores.shape`` with exactly ``n`` ones per group.

    Raises:
        ValueError: ``n >= m`` or the axis length is not divisible by ``m``.

    References:
        Mishra et al. Accelerating Sparse Deep Neural Networks (NVIDIA 2:4), 2021.

    Example:
        >>> nm_mask(tf.constant([[1.], [4.], [3.], [2.]]), 2, 4)[:, 0].numpy()
        array([0., 1., 1., 0.], dtype=float32)
    """
    _check_nm(n, m)
    scores = tf.cast(tf.convert_to_tensor(scores), tf.float32)
    rank = scores.shape.rank
    axis = 0 if rank == 1 else axis % rank
    length = scores.shape[axis]
    if length % m:
        raise ValueError(f"N:M sparsity with M={m} needs axis {axis} of length divisible by {m}, "
                         f"got shape {scores.shape.as_list()}.")
    moved = tf.experimental.numpy.moveaxis(scores, axis, -1)
    moved_shape = tf.shape(moved)
    groups = tf.reshape(moved, [-1, m])
    _, idx = tf.math.top_k(groups, k=n, sorted=False)
    keep = tf.reduce_sum(tf.one_hot(idx, m, dtype=tf.float32), axis=1)
    keep = tf.reshape(keep, moved_shape)
    return tf.experimental.numpy.moveaxis(keep, -1, axis)


def block_mask(scores: tf.Tensor, sparsity, block=(4, 1)) -> tf.Tensor:
    """Block mask: rank ``r x c`` blocks of a 2-D score matrix by their mean; keep whole blocks.

    Tensors of rank > 2 are viewed as ``[prod(shape[:-1]), shape[-1]]`` (input-major,
    output last, as Keras kernels are stored). ``(4, 1)`` (float) and ``(16, 1)``
    (int8) blocks along the input axis of a Dense kernel are the layouts TFLite
    stores natively. Exactly ``kept_count(n_blocks, sparsity)`` blocks are kept.

    Args:
        scores: tensor of rank >= 2 whose (flattened) dims are divisible by ``block``.
        sparsity: fraction of blocks removed, in [0, 1).
        block: ``(r, c)`` block shape.

    Returns:
        float32 0/1 mask of ``scores.shape``.

    Raises:
        ValueError: the block does not tile the matrix.

    Example:
        >>> s = tf.constant([[1., 2.], [1., 2.], [5., 0.], [5., 0.]])
        >>> block_mask(s, 0.5, (2, 1)).numpy()
        array([[0., 1.],
               [0., 1.],
               [1., 0.],
               [1., 0.]], dtype=float32)
    """
    r, c = (int(b) for b in block)
    scores = tf.cast(tf.convert_to_tensor(scores), tf.float32)
    shape = scores.shape.as_list()
    if len(shape) < 2:
        raise ValueError(f"block sparsity needs a tensor of rank >= 2, got shape {shape}.")
    rows, cols = int(np.prod(shape[:-1])), shape[-1]
    if r < 1 or c < 1 or rows % r or cols % c:
        raise ValueError(f"block {(r, c)} does not tile a {rows}x{cols} matrix (shape {shape}).")
    mat = tf.reshape(scores, [rows // r, r, cols // c, c])
    pooled = tf.reduce_mean(mat, axis=[1, 3])
    keep = topk_mask(pooled, sparsity)
    full = tf.tile(keep[:, None, :, None], [1, r, 1, c])
    return tf.reshape(full, shape)


def channel_mask(scores: tf.Tensor, sparsity, shape, axis: int = -1) -> tf.Tensor:
    """Expand one score per channel to a mask of ``shape`` keeping whole channels.

    Keeps ``kept_count(channels, sparsity)`` channels (largest scores) along ``axis``.

    Args:
        scores: 1-D tensor, one score per channel.
        sparsity: fraction of channels removed, in [0, 1).
        shape: the weight shape; ``shape[axis] == len(scores)``.
        axis: the channel axis of the weight.

    Returns:
        float32 0/1 mask of ``shape``.

    Example:
        >>> channel_mask(tf.constant([1., 3.]), 0.5, [2, 2]).numpy()
        array([[0., 1.],
               [0., 1.]], dtype=float32)
    """
    shape = [int(d) for d in shape]
    axis = axis % len(shape)
    keep = topk_mask(scores, sparsity)
    view = [1] * len(shape)
    view[axis] = shape[axis]
    return tf.broadcast_to(tf.reshape(keep, view), shape)
