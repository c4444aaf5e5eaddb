"""Wanda: Pruning by Weights and activations (Sun et al. 2023), no weight update.

The score of weight ``w_ij`` (input feature ``i``, output ``j``; the kernel viewed as
``[rows, out]``, im2col rows for convolutions) is

    s_ij = |w_ij| * ||x_i||_2

where ``||x_i||_2`` is the L2 norm of input feature ``i`` over the calibration rows. The
wrapper gathers ``H = X^T X / rows`` (the statistic ``hessian`` OBS uses), whose diagonal
is ``||x_i||^2 / rows``: the constant ``1 / rows`` does not change any ranking within a
layer. Wanda compares weights *per output* (each output keeps the same number of its
inputs): in ``one_shot`` the :meth:`Wanda.compensate` hook re-selects the mask of each
output column with the layer's kept count (no weight changes); n:m is per output by
construction; during ``fit`` and at ``channel`` granularity the scores are used as they
are (a channel's score is the sum of its weights' scores, as for every per-weight
criterion).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.core.criteria.base import Criterion, register_criterion
from tfprune.core.criteria.obs import matrix_views, tf_matrix_view

__all__ = ["Wanda", "wanda_scores", "per_output_mask"]


def wanda_scores(weight, input_sq) -> tf.Tensor:
    """``|w| * sqrt(input_sq)`` broadcast over the outputs; the weight's shape.

    Args:
        weight: kernel, viewed as ``[rows, -1]`` with ``rows = len(input_sq)`` (Dense/Conv
            ``prod(shape[:-1])``; MultiHeadAttention query/key/value ``d``).
        input_sq: ``[rows]`` mean (or sum) of ``x_i^2`` per input row, e.g. ``diag(X^T X)``;
            ``[C, k]`` for a depthwise kernel (per channel, per tap).

    Returns:
        float32 tensor of ``weight``'s shape.

    Example:
        >>> wanda_scores(tf.constant([[1., -2.], [3., 1.]]), tf.constant([4., 1.])).numpy()
        array([[2., 4.],
               [3., 1.]], dtype=float32)
    """
    w = tf.cast(weight, tf.float32)
    norm = tf.sqrt(tf.maximum(tf.cast(input_sq, tf.float32), 0.0))
    # norm[..., None] has the leading shape of the Hessian it comes from ([rows, rows] or
    # [C, k, k]): the views of OBS, [G, rows, cols] with one norm per (G, row)
    mat, _, back = tf_matrix_view(w, norm[..., None])
    rows = norm if norm.shape.rank == 2 else norm[None]
    return back(tf.abs(mat) * rows[:, :, None])


def per_output_mask(scores, kept: int) -> np.ndarray:
    """0/1 mask keeping ``kept`` entries in total, spread evenly over the output columns.

    Every column of ``scores`` (viewed as ``[rows, out]``) keeps its ``kept // out`` best
    entries; the ``kept % out`` columns whose next-best entry scores highest keep one
    more. This is Wanda's per-output comparison group at any layer sparsity.

    Example:
        >>> per_output_mask(np.array([[3., 1.], [2., 5.], [1., 4.]]), 3)
        array([[1., 0.],
               [0., 1.],
               [0., 1.]], dtype=float32)
    """
    s = np.asarray(scores, dtype=np.float64)
    mat = s.reshape(-1, s.shape[-1])
    rows, out = mat.shape
    kept = int(np.clip(kept, 0, mat.size))
    base, extra = divmod(kept, out)
    order = np.argsort(-mat, axis=0, kind="stable")  # best first, per column
    counts = np.full(out, base)
    if extra and base < rows:
        nxt = mat[order[base], np.arange(out)]
        counts[np.argsort(-nxt, kind="stable")[:extra]] += 1
    keep = np.arange(rows)[:, None] < counts[None, :]
    mask = np.zeros_like(mat, dtype=np.float32)
    np.put_along_axis(mask, order, keep.astype(np.float32), axis=0)
    return mask.reshape(s.shape)


@register_criterion("wanda")
class Wanda(Criterion):
    """Wanda: ``|w_ij| * ||x_i||_2`` from calibration inputs, compared per output.

    Needs ``one_shot(..., data=x)`` (or training data during ``fit``). Layers: Dense,
    Conv1D and Conv2D (the input statistic of OBS; im2col rows for convolutions),
    DepthwiseConv (per channel and tap) and MultiHeadAttention projections. The weights
    are not updated.

    Args:
        per_output: in ``one_shot`` at weight granularity, every output keeps the same
            number of inputs (the paper's comparison group); False ranks the whole layer.
        sequential: calibrate layer after layer in ``one_shot`` (layer scope), so every
            layer sees the inputs of the already pruned layers before it.

    References:
        Sun, Liu, Bair, Kolter. A Simple and Effective Pruning Approach for Large
        Language Models. ICLR 2024 (arXiv:2306.11695, 2023).

    Example:
        >>> h = tf.constant([[4., 0.], [0., 1.]])
        >>> Wanda().score(tf.constant([[1.], [-3.]]), {"hessian": h}).numpy()
        array([[2.],
               [3.]], dtype=float32)
    """

    needs = frozenset({"hessian"})
    granularities = ("weight", "n:m", "block", "channel")

    def __init__(self, per_output: bool = True, sequential: bool = True):
        for arg, value in (("per_output", per_output), ("sequential", sequential)):
            if not isinstance(value, bool):
                raise errors.ConfigError(f"Wanda: {arg} must be a bool, got {arg}={value!r}.")
        self.per_output = per_output
        self.sequential = sequential

    def score(self, weight, stats):
        # diag_part of [rows, rows] -> [rows]; of a depthwise [C, k, k] -> [C, k]
        return wanda_scores(weight, tf.linalg.diag_part(tf.convert_to_tensor(stats["hessian"])))

    def compensate(self, weight, mask, stats):
        """Hook of ``one_shot`` (declared here; the pruner calls it after the masks are
        set): ``(weight, mask)`` with the mask re-chosen per output column at weight
        granularity (same kept count), the weight unchanged elsewhere (zeros are applied
        by the pruner)."""
        weight, mask = np.asarray(weight), np.asarray(mask)
        if not self.per_output or stats.get("granularity", "weight") != "weight":
            return weight, mask
        scores = self.score(weight, stats).numpy()
        # one column per output: [rows, outputs] (depthwise: [taps, channels * multiplier])
        views, back = matrix_views(scores, np.asarray(stats["hessian"]))
        cols = np.concatenate([v for v, _ in views], axis=1)
        chosen = per_output_mask(cols, int(np.count_nonzero(mask)))
        parts = np.split(chosen, len(views), axis=1)
        return weight, back(parts).astype(mask.dtype)

    def get_config(self):
        return {"per_output": self.per_output, "sequential": self.sequential}
