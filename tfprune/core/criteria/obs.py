"""Layer-wise Optimal Brain Surgeon (OBS) for one-shot pruning (Dense, Conv, DepthwiseConv, MHA).

From calibration data the wrapper accumulates ``H = X^T X / rows`` of the layer's
input rows ``X`` (im2col patches for convolutions), so the layer's pre-bias output is
``X @ W`` with the kernel viewed as ``W: [rows, out]``. The reconstruction error of
column ``j`` after removing weight ``q`` and optimally updating the others is
``w_qj^2 / [H^-1]_qq``: the score, with ``[H^-1]_qq`` taken after the rows before ``q``
are eliminated (the squared diagonal of the upper Cholesky factor of ``H^-1``, as
SparseGPT does), so that of two collinear inputs only one is judged redundant. ``compensate`` then applies the OBS update
``delta = -(w_q / [H^-1]_qq) H^-1[:, q]`` for every removed weight, in the
sequential, Cholesky-based order of SparseGPT (exact for a fixed mask).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.core import masks
from tfprune.core.criteria.base import Criterion, register_criterion

__all__ = ["OBS", "damped", "obs_update", "matrix_views", "tf_matrix_view", "output_scale",
           "folded_mask"]


def matrix_views(weight, hessian):
    """The kernel as the matrices ``W`` of ``X @ W`` that ``hessian`` (``X^T X``) belongs to.

    A ``[rows, rows]`` Hessian: one view ``weight.reshape(rows, -1)`` (Dense and Conv:
    ``rows = prod(shape[:-1])``; a MultiHeadAttention query/key/value kernel ``[d, heads,
    dim]``: ``rows = d``). A ``[C, k, k]`` Hessian (DepthwiseConv): one ``[k, multiplier]``
    view per input channel ``c`` (``weight[..., c, :]``).

    Returns:
        ``(views, back)``: a list of ``(matrix, hessian)`` pairs and ``back(matrices)`` that
        puts a list of matrices of the same shapes back into ``weight``'s shape.

    Example:
        >>> views, back = matrix_views(np.arange(8.).reshape(2, 2, 2), np.ones((2, 2, 2)))
        >>> [v[0].tolist() for v in views]  # channel c: weight[:, c, :]
        [[[0.0, 1.0], [4.0, 5.0]], [[2.0, 3.0], [6.0, 7.0]]]
        >>> back([v[0] for v in views]).tolist() == np.arange(8.).reshape(2, 2, 2).tolist()
        True
    """
    w, h = np.asarray(weight), np.asarray(hessian)
    if h.ndim == 3:
        moved = np.moveaxis(w, -2, 0)
        mats = moved.reshape(h.shape[0], h.shape[1], -1)
        return (list(zip(mats, h, strict=True)),
                lambda ms: np.moveaxis(np.stack(ms).reshape(moved.shape), 0, -2))
    return [(w.reshape(len(h), -1), h)], lambda ms: ms[0].reshape(w.shape)


def tf_matrix_view(weight, hessian):
    """:func:`matrix_views` in TensorFlow, batched: ``(mats [G, rows, cols], hessians [G, rows,
    rows], back)`` with ``G = C`` for a depthwise ``[C, k, k]`` Hessian, else 1.

    Example:
        >>> mats, hs, back = tf_matrix_view(tf.ones([3, 3, 2, 1]), tf.ones([2, 9, 9]))
        >>> mats.shape.as_list(), back(mats).shape.as_list()
        ([2, 9, 1], [3, 3, 2, 1])
    """
    w, h = tf.convert_to_tensor(weight), tf.convert_to_tensor(hessian)
    if h.shape.rank == 3:
        rank = w.shape.rank
        perm = [rank - 2, *range(rank - 2), rank - 1]
        moved = tf.transpose(w, perm)
        inverse = [perm.index(i) for i in range(rank)]
        return (tf.reshape(moved, [tf.shape(h)[0], tf.shape(h)[1], -1]), h,
                lambda m: tf.transpose(tf.reshape(m, tf.shape(moved)), inverse))
    return (tf.reshape(w, [1, tf.shape(h)[0], -1]), h[None],
            lambda m: tf.reshape(m, tf.shape(w)))


def damped(h, damp):
    """``(H + damp * mean(diag H) * I, dead)``: the Hessian made invertible for OBS updates.

    Inputs that never fired (zero diagonal, ``dead``) get a unit diagonal first; the result
    is float64. SparseGPT and OBS share it.

    Example:
        >>> h, dead = damped(np.diag([2.0, 0.0]), 0.5)
        >>> h.tolist(), dead.tolist()
        ([[2.75, 0.0], [0.0, 1.75]], [False, True])
    """
    h = np.array(h, dtype=np.float64)
    dead = np.diag(h) == 0
    h[dead, dead] = 1.0
    h += np.eye(len(h)) * damp * max(float(np.mean(np.diag(h))), 1e-12)
    return h, dead


def output_scale(weight, stats):
    """``stats["output_scale"]`` (one factor per output of the layer, e.g. a following
    BatchNormalization's ``|gamma| / sqrt(var + eps)``) shaped to broadcast over ``weight``
    (a depthwise kernel ``[..., C, multiplier]``: output ``c * multiplier + m``), or None
    when absent, of the wrong size or not positive (a factor of 0 is taken as 1).

    Example:
        >>> output_scale(np.ones((2, 3)), {"output_scale": [1., 2., 0.]}).tolist()
        [1.0, 2.0, 1.0]
        >>> output_scale(np.ones((3, 3, 2, 1)), {"output_scale": [1., 2.], "hessian":
        ...     np.ones((2, 9, 9))}).shape
        (2, 1)
    """
    f = stats.get("output_scale")
    if f is None:
        return None
    f = np.asarray(f, dtype=np.float64).ravel()
    f = np.where(f > 0, f, 1.0)
    shape = np.shape(weight)
    if np.ndim(stats.get("hessian", np.zeros((1, 1)))) == 3:  # depthwise
        return f.reshape(shape[-2:]) if f.size == shape[-2] * shape[-1] else None
    return f if f.size == shape[-1] else None


def folded_mask(criterion, weight, mask, stats):
    """The mask ``criterion`` chooses on ``weight`` (already folded by :func:`output_scale`)
    keeping as many weights as ``mask``: top-k of its scores, or N:M for ``granularity
    "n:m"`` (groups along axis -2).

    Example:
        >>> s = {"hessian": np.eye(2), "granularity": "weight"}
        >>> folded_mask(OBS(damp=0.0), np.array([[1., 3.], [2., .5]]), np.eye(2), s).tolist()
        [[0.0, 1.0], [1.0, 0.0]]
    """
    scores = criterion.score(tf.constant(weight, tf.float32), stats).numpy()
    if stats.get("granularity", "weight") == "n:m":
        return masks.nm_mask(scores, *stats["n_m"]).numpy().astype(np.asarray(mask).dtype)
    kept = int(np.count_nonzero(mask))
    out = np.zeros(scores.size, dtype=np.asarray(mask).dtype)
    out[np.argsort(-scores.ravel(), kind="stable")[:kept]] = 1
    return out.reshape(scores.shape)


def obs_update(weight, mask, hessian, *, damp: float = 0.01, block_size: int = 128):
    """Zero the masked weights and update the kept ones to minimise ``||X W - X W'||^2``.

    Args:
        weight: kernel (viewed as ``[rows, -1]``, :func:`matrix_views`).
        mask: 0/1 array of the same shape (1 = keep).
        hessian: ``X^T X`` (any positive scale), ``[rows, rows]``; or ``[C, k, k]`` for a
            depthwise kernel (each channel updated on its own).
        damp: dampening ``lambda * mean(diag H)`` added to the diagonal.
        block_size: columns processed together (SparseGPT's lazy batch updates).

    Returns:
        float32 numpy array of ``weight``'s shape, zero where ``mask`` is 0.

    References:
        Frantar, Alistarh. Optimal Brain Compression (NeurIPS 2022); SparseGPT:
        Massive Language Models Can Be Accurately Pruned in One-Shot (ICML 2023).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(64, 3)); w = np.array([[1.], [.5], [.2]])
        >>> m = np.array([[1.], [1.], [0.]])
        >>> w2 = obs_update(w, m, x.T @ x, damp=1e-6)
        >>> bool(np.sum((x @ w - x @ w2) ** 2) <= np.sum((x @ w - x @ (w * m)) ** 2))
        True
    """
    if np.ndim(hessian) == 3:  # depthwise: one small layer per channel
        views, back = matrix_views(weight, hessian)
        masks = [m for m, _ in matrix_views(mask, hessian)[0]]
        return back([obs_update(w, m, h, damp=damp, block_size=block_size)
                     for (w, h), m in zip(views, masks, strict=True)])
    shape = np.shape(weight)
    w = np.array(weight, dtype=np.float64).reshape(len(hessian), -1).T  # [out, rows]
    m = np.array(mask, dtype=np.float64).reshape(len(hessian), -1).T
    h, dead = damped(hessian, damp)
    w[:, dead] = 0.0
    hinv = np.linalg.cholesky(np.linalg.inv(h)).T  # upper Cholesky factor of H^-1
    rows = w.shape[1]
    for i1 in range(0, rows, block_size):
        i2 = min(i1 + block_size, rows)
        w1, err1, hinv1 = w[:, i1:i2].copy(), np.zeros((w.shape[0], i2 - i1)), hinv[i1:i2, i1:i2]
        for i in range(i2 - i1):
            col, d = w1[:, i], hinv1[i, i]
            q = col * m[:, i1 + i]
            err = (col - q) / d
            w1[:, i:] -= np.outer(err, hinv1[i, i:])
            w1[:, i] = q
            err1[:, i] = err
        w[:, i1:i2] = w1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    return (w * m).T.reshape(shape).astype(np.float32)


@register_criterion("obs")
class OBS(Criterion):
    """Layer-wise OBS: score ``w_qj^2 / [H^-1]_qq``, then the OBS weight update.

    ``H = X^T X`` of the layer's inputs from calibration data (``one_shot(data=...)``),
    dampened by ``damp * mean(diag H)``. In ``one_shot`` the kept weights are updated to
    compensate the removed ones (:func:`obs_update`) and, with ``sequential=True``
    (layer scope), each layer is calibrated on the outputs of the already pruned
    layers before it, as OBC/SparseGPT do. In ``fit`` only the score is used.

    Args:
        damp: relative dampening of the Hessian diagonal (0.1 suits calibration sets
            smaller than a layer's input dimension; SparseGPT uses 0.01 with more data).
        sequential: calibrate layer after layer in one_shot (layer scope).
        normalize: divide the scores by the layer's mean output energy
            ``mean_j w_j^T H w_j``, so that scores compare across layers (global scope):
            a score is then the relative output error of removing the weight.

    References:
        Hassibi, Stork. Second order derivatives for network pruning: Optimal Brain
        Surgeon. NeurIPS 1992; Frantar, Alistarh. Optimal Brain Compression.
        NeurIPS 2022; SparseGPT, ICML 2023.

    Example:
        >>> h = tf.constant([[2., 0.], [0., 0.5]])  # diagonal: [H^-1]_qq = 1 / H_qq
        >>> OBS(damp=0.0, normalize=False).score(tf.constant([[1.], [1.]]), {"hessian": h}).numpy()
        array([[2. ],
               [0.5]], dtype=float32)
    """

    needs = frozenset({"hessian"})
    granularities = ("weight", "n:m", "block")

    def __init__(self, damp: float = 0.1, sequential: bool = True, normalize: bool = True):
        if isinstance(damp, bool) or not isinstance(damp, (int, float)) or damp < 0:
            raise errors.ConfigError(f"OBS: damp must be a number >= 0, got damp={damp!r}.")
        for arg, value in (("sequential", sequential), ("normalize", normalize)):
            if not isinstance(value, bool):
                raise errors.ConfigError(f"OBS: {arg} must be a bool, got {arg}={value!r}.")
        self.normalize = normalize
        self.damp = float(damp)
        self.sequential = sequential

    def score(self, weight, stats):
        # [G, rows, cols] views: G = 1, or one per channel of a depthwise kernel
        mat, h32, back = tf_matrix_view(tf.cast(weight, tf.float32),
                                        tf.cast(stats["hessian"], tf.float32))
        h = tf.cast(h32, tf.float64)
        diag = tf.linalg.diag_part(h)
        dead = tf.equal(diag, 0.0)
        h = tf.linalg.set_diag(h, tf.where(dead, tf.ones_like(diag), diag))
        scale = self.damp * tf.maximum(tf.reduce_mean(tf.linalg.diag_part(h), -1), 1e-12)
        h = h + scale[:, None, None] * tf.eye(tf.shape(h)[-1], dtype=tf.float64)
        # [H^-1]_qq after eliminating the rows before q: the diagonal of the upper
        # Cholesky factor of H^-1, squared (SparseGPT's ordering-aware OBS score).
        lower = tf.linalg.cholesky(tf.linalg.inv(h))  # the upper factor's transpose
        hinv_diag = tf.cast(tf.square(tf.linalg.diag_part(lower)), tf.float32)
        s = tf.square(mat) / hinv_diag[:, :, None]
        if self.normalize:
            energy = tf.reduce_mean(tf.reduce_sum(mat * tf.matmul(h32, mat), axis=1))
            s = s / tf.maximum(energy, 1e-12)
        s = tf.where(dead[:, :, None], tf.zeros_like(s), s)
        return back(s)

    def compensate(self, weight, mask, stats):
        """The OBS-updated weight for ``mask`` (see :func:`obs_update`). With
        ``stats["output_scale"]`` (a BatchNormalization after the layer) the mask is chosen
        again on the folded weight ``w * scale`` (same count), so that every output's error
        counts as the network sees it, and ``(weight, mask)`` is returned."""
        weight, mask = np.asarray(weight), np.asarray(mask)
        scale = output_scale(weight, stats)
        if scale is None:
            return obs_update(weight, mask, np.asarray(stats["hessian"]), damp=self.damp)
        mask = folded_mask(self, weight * scale, mask, stats)
        new = obs_update(weight * scale, mask, np.asarray(stats["hessian"]), damp=self.damp)
        return (new / scale).astype(np.float32), mask

    def get_config(self):
        return {"damp": self.damp, "sequential": self.sequential, "normalize": self.normalize}
