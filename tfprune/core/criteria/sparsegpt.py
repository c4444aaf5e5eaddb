"""SparseGPT: one-shot pruning with OBS weight reconstruction and adaptive masks.

For a layer whose pre-bias output is ``X @ W`` (kernel viewed as ``W: [rows, out]``,
im2col rows for convolutions) and ``H = X^T X`` from calibration data, SparseGPT
(Frantar & Alistarh 2023) visits the input rows in order, in blocks of ``block_size``:

* at the start of each block it chooses the block's mask from the *current* (already
  updated) weights with the OBS error ``w_qj^2 / [H^-1]_qq^2`` (``[H^-1]`` the upper
  Cholesky factor of the inverse of the dampened ``H``): the lowest scores of the block
  go (unstructured), or the ``M - N`` lowest of every ``M`` consecutive rows (N:M);
* it then removes the rows one at a time and updates the not-yet-visited weights of
  every output with the OBS update ``delta = -(w_q / [H^-1]_qq) [H^-1]_{q, q:}``.

Unlike :mod:`~tfprune.core.criteria.obs` (mask from the original weights, then the
update) the mask follows the reconstruction. The score (used during ``fit`` and for
``scope="global"`` budgets) is OBS's.
"""

from __future__ import annotations

import numpy as np

from tfprune import errors
from tfprune.core.criteria.base import register_criterion
from tfprune.core.criteria.obs import (
    OBS,
    damped,
    folded_mask,
    matrix_views,
    obs_update,
    output_scale,
)

__all__ = ["SparseGPT", "sparsegpt_prune"]


def _block_counts(rows: int, out: int, pruned: int, block_size: int) -> list[int]:
    """Pruned entries per block of rows, summing exactly to ``pruned``."""
    frac = pruned / max(rows * out, 1)
    ends = [min(i + block_size, rows) for i in range(0, rows, block_size)]
    cum = [int(round(e * out * frac)) for e in ends]
    return [c - p for c, p in zip(cum, [0] + cum[:-1], strict=True)]


def sparsegpt_prune(weight, hessian, *, sparsity: float | None = None, n_m=None,
                    damp: float = 0.01, block_size: int = 128):
    """Prune ``weight`` to ``sparsity`` (or N:M) minimising ``||X W - X W'||^2``.

    Args:
        weight: kernel, viewed as ``[rows, -1]`` (``rows = len(hessian)``: Dense/Conv
            ``prod(shape[:-1])``, a MultiHeadAttention query/key/value kernel ``d``).
        hessian: ``X^T X`` (any positive scale), ``[rows, rows]``.
        sparsity: fraction of the weights removed (unstructured); the count is
            ``round(sparsity * size)`` exactly.
        n_m: ``(N, M)``: keep N of every M consecutive rows of each output instead
            (rows must be divisible by M; the input-channel axis of a Dense/Conv kernel).
        damp: dampening ``damp * mean(diag H)`` added to the diagonal.
        block_size: rows whose mask is chosen together (a multiple of M for N:M).

    Returns:
        ``(weight, mask)``: float32 arrays of ``weight``'s shape, the weight zero where
        the mask is 0.

    References:
        Frantar, Alistarh. SparseGPT: Massive Language Models Can Be Accurately Pruned
        in One-Shot. ICML 2023.

    Example:
        >>> rng = np.random.default_rng(0)
        >>> x = rng.normal(size=(256, 8)); x[:, 1] += x[:, 0]; w = rng.normal(size=(8, 4))
        >>> w2, m = sparsegpt_prune(w, x.T @ x, sparsity=0.5)
        >>> float(m.mean()), bool(np.all(w2[m == 0] == 0))
        (0.5, True)
        >>> mag = w * (np.abs(w) >= np.median(np.abs(w)))
        >>> bool(np.sum((x @ w - x @ w2) ** 2) < np.sum((x @ w - x @ mag) ** 2))
        True
    """
    if (sparsity is None) == (n_m is None):
        raise errors.ConfigError("sparsegpt_prune: give exactly one of sparsity=... or n_m=(N, M).")
    shape = np.shape(weight)
    w = np.array(weight, dtype=np.float64).reshape(len(hessian), -1).T  # [out, rows]
    out, rows = w.shape
    if n_m is not None:
        n, m = int(n_m[0]), int(n_m[1])
        if not 0 < n < m or rows % m:
            raise errors.ConfigError(f"sparsegpt_prune: n_m={tuple(n_m)} needs 0 < N < M and "
                                     f"rows ({rows}) divisible by M.")
        block_size = max(m, block_size - block_size % m)
    h, dead = damped(hessian, damp)
    w[:, dead] = 0.0
    hinv = np.linalg.cholesky(np.linalg.inv(h)).T  # upper Cholesky factor of H^-1
    keep = np.ones_like(w, dtype=bool)
    counts = (_block_counts(rows, out, int(round(sparsity * w.size)), block_size)
              if n_m is None else None)
    for b, i1 in enumerate(range(0, rows, block_size)):
        i2 = min(i1 + block_size, rows)
        w1, hinv1 = w[:, i1:i2].copy(), hinv[i1:i2, i1:i2]
        err1 = np.zeros_like(w1)
        d2 = np.diag(hinv1) ** 2
        k1 = np.ones_like(w1, dtype=bool)
        if n_m is None and counts[b]:
            order = np.argsort((w1 ** 2 / d2).ravel(), kind="stable")
            k1.ravel()[order[:counts[b]]] = False
        for i in range(i2 - i1):
            if n_m is not None and i % m == 0:
                tmp = w1[:, i:i + m] ** 2 / d2[i:i + m]
                low = np.argsort(tmp, axis=1, kind="stable")[:, :m - n]
                np.put_along_axis(k1[:, i:i + m], low, False, axis=1)
            col, d = w1[:, i], hinv1[i, i]
            q = col * k1[:, i]
            err = (col - q) / d
            w1[:, i:] -= np.outer(err, hinv1[i, i:])
            w1[:, i] = q
            err1[:, i] = err
        w[:, i1:i2] = w1
        keep[:, i1:i2] = k1
        w[:, i2:] -= err1 @ hinv[i1:i2, i2:]
    mask = keep.astype(np.float64)
    return ((w * mask).T.reshape(shape).astype(np.float32),
            mask.T.reshape(shape).astype(np.float32))


@register_criterion("sparsegpt")
class SparseGPT(OBS):
    """SparseGPT: OBS reconstruction with the mask chosen block by block as it updates.

    ``one_shot(model, s, criterion="sparsegpt", data=x)`` (``granularity="weight"`` or
    ``"n:m"``): the layers are calibrated one after the other on the outputs of the
    already pruned layers, and each layer's kept weights are updated
    (:func:`sparsegpt_prune`). Layers: Dense, Conv1D and Conv2D (im2col), DepthwiseConv
    (one Hessian per channel over its taps) and MultiHeadAttention (query/key/value/output
    projections, each on its own inputs). During ``fit`` only the score (OBS's) is used.

    Args:
        damp: relative dampening of the Hessian diagonal (the paper: 0.01).
        block_size: rows whose mask is chosen together (the paper: 128).
        sequential: calibrate layer after layer in ``one_shot`` (layer scope).
        normalize: as for :class:`~tfprune.core.criteria.obs.OBS` (global scope).

    References:
        Frantar, Alistarh. SparseGPT: Massive Language Models Can Be Accurately Pruned
        in One-Shot. ICML 2023.

    Example:
        >>> SparseGPT(block_size=64).get_config()["block_size"]
        64
    """

    granularities = ("weight", "n:m")

    def __init__(self, damp: float = 0.01, block_size: int = 128, sequential: bool = True,
                 normalize: bool = True):
        super().__init__(damp=damp, sequential=sequential, normalize=normalize)
        if isinstance(block_size, bool) or not isinstance(block_size, int) or block_size < 1:
            raise errors.ConfigError(
                f"SparseGPT: block_size must be an int >= 1, got block_size={block_size!r}.")
        self.block_size = block_size

    def compensate(self, weight, mask, stats):
        """Hook of ``one_shot`` (declared here; the pruner calls it after the masks are
        set): ``(weight, mask)`` chosen by :func:`sparsegpt_prune` with as many weights
        removed as ``mask`` removes (weight) or the layer's N:M (``stats["n_m"]``).

        A depthwise kernel (``[C, k, k]`` Hessian) is pruned channel by channel, each
        channel removing as many weights as ``mask`` removes there (the OBS score ranks
        the whole layer). Where the layer's N:M groups do not run along the rows of
        ``X @ W`` (depthwise: across channels; MultiHeadAttention query/key/value: along
        the heads axis) the mask stays as the score chose it and only the OBS update runs.
        With ``stats["output_scale"]`` (a BatchNormalization after the layer) all of this
        runs on the folded weight ``w * scale``: the error of each output is weighed as the
        network sees it after BN (otherwise the channels of small scale lose most weights).
        """
        weight, mask, h = np.asarray(weight), np.asarray(mask), np.asarray(stats["hessian"])
        scale = output_scale(weight, stats)
        if scale is not None:  # a BatchNormalization follows: prune the folded weight
            mask = folded_mask(self, weight * scale, mask, stats)
            new, chosen = self.compensate(weight * scale, mask,
                                          {k: v for k, v in stats.items() if k != "output_scale"})
            return (new / scale).astype(np.float32), chosen
        nm = stats.get("granularity", "weight") == "n:m"
        if nm and not (h.ndim == 2 and len(h) == int(np.prod(weight.shape[:-1]))):
            return obs_update(weight, mask, h, damp=self.damp, block_size=self.block_size), mask
        views, back = matrix_views(weight, h)
        masks = [m for m, _ in matrix_views(mask, h)[0]]
        pairs = []
        for (w, hc), mc in zip(views, masks, strict=True):
            kw = ({"n_m": tuple(stats["n_m"])} if nm else
                  {"sparsity": 1.0 - np.count_nonzero(mc) / max(mc.size, 1)})
            pairs.append(sparsegpt_prune(w, hc, damp=self.damp, block_size=self.block_size, **kw))
        return (back([p[0] for p in pairs]).astype(np.float32),
                back([p[1] for p in pairs]).astype(mask.dtype))

    def get_config(self):
        return dict(super().get_config(), block_size=self.block_size)
