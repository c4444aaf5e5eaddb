"""Layer-wise Optimal Brain Surgeon (OBS) for one-shot pruning of Dense and Conv layers.

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
from tfprune.core.criteria.base import Criterion, register_criterion

__all__ = ["OBS", "damped", "obs_update"]


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


def obs_update(weight, mask, hessian, *, damp: float = 0.01, block_size: int = 128):
    """Zero the masked weights and update the kept ones to minimise ``||X W - X W'||^2``.

    Args:
        weight: kernel, any shape ``[..., out]`` (viewed as ``[rows, out]``).
        mask: 0/1 array of the same shape (1 = keep).
        hessian: ``X^T X`` (any positive scale), ``[rows, rows]``.
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
    shape = np.shape(weight)
    w = np.array(weight, dtype=np.float64).reshape(-1, shape[-1]).T  # [out, rows]
    m = np.array(mask, dtype=np.float64).reshape(-1, shape[-1]).T
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
        w = tf.cast(weight, tf.float32)
        h = tf.cast(stats["hessian"], tf.float64)
        diag = tf.linalg.diag_part(h)
        dead = tf.equal(diag, 0.0)
        h = h + tf.linalg.diag(tf.where(dead, tf.ones_like(diag), tf.zeros_like(diag)))
        scale = self.damp * tf.maximum(tf.reduce_mean(tf.linalg.diag_part(h)), 1e-12)
        h = h + scale * tf.eye(tf.shape(h)[0], dtype=tf.float64)
        # [H^-1]_qq after eliminating the rows before q: the diagonal of the upper
        # Cholesky factor of H^-1, squared (SparseGPT's ordering-aware OBS score).
        upper = tf.transpose(tf.linalg.cholesky(tf.linalg.inv(h)))
        hinv_diag = tf.cast(tf.square(tf.linalg.diag_part(upper)), tf.float32)
        mat = tf.reshape(w, [-1, tf.shape(w)[-1]])
        s = tf.square(mat) / hinv_diag[:, None]
        if self.normalize:
            h32 = tf.cast(stats["hessian"], tf.float32)
            energy = tf.reduce_mean(tf.reduce_sum(mat * tf.matmul(h32, mat), axis=0))
            s = s / tf.maximum(energy, 1e-12)
        s = tf.where(tf.cast(dead, tf.bool)[:, None], tf.zeros_like(s), s)
        return tf.reshape(s, tf.shape(w))

    def compensate(self, weight, mask, stats):
        """The OBS-updated weight for ``mask`` (see :func:`obs_update`)."""
        return obs_update(np.asarray(weight), np.asarray(mask), np.asarray(stats["hessian"]),
                          damp=self.damp)

    def get_config(self):
        return {"damp": self.damp, "sequential": self.sequential, "normalize": self.normalize}
