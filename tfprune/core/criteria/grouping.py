"""Group importance: per-weight scores of a dependency group's members -> one score per
channel. The ONE place where scores are reduced over a channel's slices, combined over
members and normalised (as Torch-Pruning's group importance does).

A *member* is one weight axis carrying a group's channels: ``positions[p]`` is the
group channel at position ``p`` of that axis (``-1``: another group's channel). Pure
tensor functions; no Keras, no variables.

Example:
    >>> import numpy as np, tensorflow as tf
    >>> k = tf.constant([[1., -2.], [3., 0.]])           # a Dense kernel [in, out]
    >>> p = slice_scores(tf.abs(k), axis=-1)             # L1 per output position
    >>> to_channels(p, np.array([1, 0]), 2)[0].numpy()   # positions hold channels 1, 0
    array([2., 4.], dtype=float32)
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.core import masks
from tfprune.core.criteria.base import checked_scores

__all__ = ["REDUCTIONS", "score_positions", "slice_scores", "to_channels", "reduce_members", "normalize",
           "channel_alive", "member_mask"]

REDUCTIONS = ("sum", "mean", "max")


def slice_scores(scores, axis: int, size: int | None = None) -> tf.Tensor:
    """Scores per position along ``axis``: per-weight scores summed over the other axes.

    A 1-D ``scores`` (a per-channel criterion) is already per position; when its length
    is ``size * m`` (a depthwise layer's output, ``m`` = depth multiplier) the ``m``
    outputs of each input position are summed.

    Example:
        >>> slice_scores(tf.ones([3, 3, 2, 4]), axis=-1).numpy()
        array([18., 18., 18., 18.], dtype=float32)
        >>> slice_scores(tf.constant([1., 2., 3., 4.]), axis=0, size=2).numpy()
        array([3., 7.], dtype=float32)
    """
    s = tf.cast(tf.convert_to_tensor(scores), tf.float32)
    if s.shape.rank == 1:
        if size is not None and int(s.shape[0]) != size:
            if int(s.shape[0]) % size:
                raise errors.ConfigError(
                    f"per-channel scores of length {int(s.shape[0])} do not fit a weight axis "
                    f"of {size} positions.")
            s = tf.reduce_sum(tf.reshape(s, [size, -1]), axis=1)
        return s
    axis = axis % s.shape.rank
    return tf.reduce_sum(s, axis=[a for a in range(s.shape.rank) if a != axis])


def score_positions(criterion, weight, stats, axis: int, *, where: str = "") -> tf.Tensor:
    """Scores per position along ``axis`` of one weight: THE way a group member is
    scored, for a wrapper (``stats``: its statistics) and a plain layer alike
    (:func:`tfprune.core.criteria.base.checked_scores`, then :func:`slice_scores`).

    Example:
        >>> from tfprune.core.criteria.base import get
        >>> score_positions(get("l1"), tf.constant([[1., -2.], [3., 0.]]), {}, -1).numpy()
        array([4., 2.], dtype=float32)
    """
    weight = tf.convert_to_tensor(weight)
    scores = checked_scores(criterion, weight, dict(stats, axis=axis), where=where)
    return slice_scores(scores, axis, size=int(weight.shape[axis]))


def to_channels(position_scores, positions, channels: int):
    """Sum position scores into the group's channels.

    Returns:
        ``(scores [channels], covered bool [channels])``; ``covered[c]`` is False when
        no position of this member holds channel ``c``.

    Example:
        >>> s, c = to_channels(tf.constant([1., 2., 3.]), np.array([0, -1, 0]), 2)
        >>> s.numpy(), c
        (array([4., 0.], dtype=float32), array([ True, False]))
    """
    positions = np.asarray(positions, dtype=np.int64)
    sel = np.flatnonzero(positions >= 0)
    ps = tf.gather(tf.cast(position_scores, tf.float32), sel)
    acc = tf.math.unsorted_segment_sum(ps, positions[sel], channels)
    covered = np.zeros(channels, bool)
    covered[positions[sel]] = True
    return acc, covered


def reduce_members(parts, reduction: str = "sum") -> tf.Tensor:
    """Combine members' per-channel scores ``[(scores, covered), ...]`` by ``reduction``.

    ``"sum"``; ``"mean"`` over the members holding each channel; ``"max"``.

    Example:
        >>> a = (tf.constant([1., 4.]), np.array([True, True]))
        >>> b = (tf.constant([3., 0.]), np.array([True, False]))
        >>> [reduce_members([a, b], r).numpy().tolist() for r in REDUCTIONS]
        [[4.0, 4.0], [2.0, 4.0], [3.0, 4.0]]
    """
    if reduction not in REDUCTIONS:
        raise errors.unknown_name("reduction", reduction, REDUCTIONS)
    if not parts:
        raise errors.ConfigError("a group needs at least one scored member.")
    acc = tf.stack([p[0] for p in parts])
    cov = np.stack([p[1] for p in parts]).astype(np.float32)
    if reduction == "sum":
        return tf.reduce_sum(acc, 0)
    if reduction == "max":
        return tf.reduce_max(tf.where(cov > 0, acc, -np.inf), 0)
    return tf.reduce_sum(acc, 0) / np.maximum(cov.sum(0), 1.0)


def normalize(scores) -> tf.Tensor:
    """Make group scores comparable across groups: divide by the mean of the live scores.

    Removed channels (``-inf``) stay ``-inf``.

    Example:
        >>> normalize(tf.constant([1., 3., -np.inf])).numpy()
        array([ 0.5,  1.5, -inf], dtype=float32)
    """
    return masks.normalize_by_mean(scores)


def channel_alive(mask, positions, axis: int, channels: int) -> np.ndarray:
    """Which group channels a member's 0/1 ``mask`` still keeps (any kept entry).

    Example:
        >>> channel_alive(np.array([[1., 0.], [1., 0.]]), np.array([1, 0]), -1, 2)
        array([False,  True])
    """
    m = np.asarray(mask)
    axis = axis % m.ndim
    per_pos = m.max(axis=tuple(a for a in range(m.ndim) if a != axis)) > 0
    positions = np.asarray(positions, dtype=np.int64)
    alive = np.zeros(channels, bool)
    sel = positions >= 0
    np.logical_or.at(alive, positions[sel], per_pos[sel])
    return alive


def member_mask(keep, positions, shape, axis: int) -> np.ndarray:
    """0/1 mask of a member weight from the group's ``keep`` flags (float32, broadcastable
    to ``shape``: size 1 on the axes that carry no channel; 1 where another group lives).

    Example:
        >>> member_mask(np.array([True, False]), np.array([0, 1, -1]), [2, 3], -1)
        array([[1., 0., 1.]], dtype=float32)
    """
    keep = np.asarray(keep, bool)
    positions = np.asarray(positions, dtype=np.int64)
    flags = np.where(positions >= 0, keep[np.maximum(positions, 0)], True)
    view = [1] * len(shape)
    view[axis % len(shape)] = -1
    return flags.astype(np.float32).reshape(view)
