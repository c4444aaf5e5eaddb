"""Post-training weight clustering, so that the TFLM LUT encoding pays.

:func:`cluster` snaps the non-zero values of every kernel to ``clusters - 1`` shared values
(1-D k-means per tensor, numpy), keeping zeros at zero, and returns a new model. After int8
per-channel quantization each output channel then holds at most ``clusters`` int8 values, so
``export.micro(compress="lut")`` stores 4-bit indices for ``clusters=16`` (the per-channel
table absorbs the per-channel scales).

Ours, not TF-MOT's ``tfmot.clustering.keras``: TF-MOT clusters during training (wrap with
``cluster_weights``, fine-tune, strip), needs tf_keras and a training loop, and keeps zeros
at zero only with ``preserve_sparsity=True``. A post-training
k-means is one deterministic call on any stripped model (Keras 3 through the usual
conversion), never moves a zero, and needs no data. If the accuracy loss is too large,
fine-tune with TF-MOT's sparsity-preserving clustering instead (same encoding afterwards).

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.layers.Dense(32, input_shape=(16,))])
    >>> c = cluster(m, clusters=4)
    >>> len(np.unique(c.get_weights()[0])) <= 4, len(np.unique(m.get_weights()[0])) > 4
    (True, True)
"""

from __future__ import annotations

import numpy as np

from tfprune import errors
from tfprune.compat import keras3_io
from tfprune.export import _model

__all__ = ["cluster", "kmeans_1d"]

_ITERATIONS = 30


def kmeans_1d(values: np.ndarray, k: int) -> tuple:
    """``(centroids, labels)`` of a 1-D k-means (Lloyd, quantile start, deterministic).

    Example:
        >>> c, lab = kmeans_1d(np.array([0.1, 0.12, 0.9, 1.0]), 2)
        >>> np.round(c, 2).tolist(), lab.tolist()
        ([0.11, 0.95], [0, 0, 1, 1])
    """
    values = np.asarray(values, np.float64).reshape(-1)
    uniq = np.unique(values)
    if len(uniq) <= k:
        return uniq, np.searchsorted(uniq, values)
    centroids = np.unique(np.quantile(values, (np.arange(k) + 0.5) / k))
    for _ in range(_ITERATIONS):
        edges = (centroids[1:] + centroids[:-1]) / 2
        labels = np.searchsorted(edges, values)
        sums = np.bincount(labels, values, len(centroids))
        counts = np.bincount(labels, minlength=len(centroids))
        new = np.where(counts > 0, sums / np.maximum(counts, 1), centroids)
        if np.allclose(new, centroids):
            break
        centroids = np.sort(new)
    edges = (centroids[1:] + centroids[:-1]) / 2
    return centroids, np.searchsorted(edges, values)


def _kernels(model):
    seen = set()
    for layer in _model.walk_layers(model):
        for v in getattr(layer, "trainable_weights", []):
            name = v.name.split("/")[-1].split(":")[0]
            if id(v) in seen or "kernel" not in name or len(v.shape) < 2:
                continue
            seen.add(id(v))
            yield layer, v


@keras3_io(returns="model")
def cluster(model, clusters: int = 16):
    """A new model whose kernels each hold at most ``clusters`` distinct values (zero kept).

    Per kernel (Dense, Conv, DepthwiseConv, ... variables named ``*kernel``; biases and
    normalization weights stay as they are): if it has zeros, its non-zeros are clustered to
    ``clusters - 1`` values and the zeros stay exactly zero (sparsity and the prune encoding
    are unchanged); otherwise to ``clusters`` values. The input model is not changed;
    pruning wrappers are stripped. Post-training: check accuracy, and fine-tune if needed.

    Args:
        model: a tf_keras (or Keras 3) model, or its saved file.
        clusters: distinct values per kernel, 2-128 (16 -> 4-bit LUT indices).

    Returns:
        The clustered model (plain, no wrappers), same architecture.

    Raises:
        tfprune.errors.ConfigError: ``clusters`` outside 2-128.

    Example:
        >>> import numpy as np
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.layers.Dense(8, input_shape=(8,))])
        >>> w, b = m.get_weights(); w[:4] = 0; m.set_weights([w, b])
        >>> k = cluster(m, clusters=3).get_weights()[0]
        >>> len(np.unique(k)), bool(np.all(k[:4] == 0))
        (3, True)
    """
    if isinstance(clusters, bool) or not isinstance(clusters, int) or not 2 <= clusters <= 128:
        raise errors.ConfigError(
            f"`clusters` must be an int in 2-128 (values per kernel; 16 gives 4-bit LUT "
            f"indices), got {clusters!r}.")
    plain = _model.strip(_model.resolve(model)[0])
    for _, v in _kernels(plain):
        w = np.asarray(v.numpy())
        nonzero = w != 0
        k = clusters - 1 if not nonzero.all() else clusters
        if not nonzero.any():
            continue
        centroids, labels = kmeans_1d(w[nonzero], k)
        out = np.zeros_like(w)
        out[nonzero] = centroids[labels].astype(w.dtype)
        v.assign(out)
    return plain
