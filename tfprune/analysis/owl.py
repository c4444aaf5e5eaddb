"""OWL: outlier-weighed layer-wise sparsity (Yin et al. 2023) for ``allocate(method="owl")``.

A layer's *outlier ratio* ``D_l`` is the fraction of its Wanda scores
``|w_ij| * ||x_i||_2`` (:func:`tfprune.core.criteria.wanda.wanda_scores`, inputs from
calibration data) larger than ``M`` times the layer's mean score. Layers with more
outliers keep more weights:

    s_l = t - 2 * lambda * (d_l - mean_l d_l),   d_l = (D_l - min D) / (max D - min D)

so the sparsities spread over ``[t - lambda, t + lambda]`` around a common level ``t``,
which :func:`tfprune.analysis.allocate.allocate` chooses (by bisection, as for the other
rule-based methods) so that the target is met exactly (a fraction of all prunable
weights, or params/MACs). Layers whose inputs cannot be read from the model's graph
(nested models, layers other than Dense/Conv/DepthwiseConv) are scored by ``|w|`` alone.

Example:
    >>> import numpy as np
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(8, name="a"),
    ...                       keras.layers.Dense(4, name="b")])
    >>> r = outlier_ratios(m, np.random.default_rng(0).normal(size=(32, 8)), ["a", "b"], m=2.0)
    >>> sorted(r), all(0 <= v <= 1 for v in r.values())
    (['a', 'b'], True)
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tfprune import errors, layers
from tfprune.compat import keras
from tfprune.core.criteria.wanda import wanda_scores
from tfprune.masking import pruner
from tfprune.masking.stats import patches

__all__ = ["OWL", "outlier_ratios", "owl_family", "offsets", "check_options"]

_PATCHED = (keras.layers.Dense, keras.layers.Conv1D, keras.layers.Conv2D,
            keras.layers.DepthwiseConv2D)


def check_options(m, lam) -> None:
    """Refuse an OWL threshold ``m`` <= 0 or a ``lam`` outside [0, 0.5)."""
    for arg, old, value, ok in (("m", "owl_m", m, lambda v: v > 0),
                                ("lam", "owl_lambda", lam, lambda v: 0 <= v < 0.5)):
        if isinstance(value, bool) or not isinstance(value, (int, float)) or not ok(value):
            raise errors.ConfigError(
                f"allocate: OWL's {arg} (formerly {old}) must be a number "
                f"({'> 0' if arg == 'm' else 'in [0, 0.5)'}), got OWL({arg}={value!r}) (OWL's "
                "defaults: OWL(m=5, lam=0.08)).")


@dataclasses.dataclass(frozen=True)
class OWL:
    """``allocate(..., method=OWL(m=..., lam=...))``: OWL with its two options.

    ``method="owl"`` is ``method=OWL()`` (Yin et al.'s defaults).

    Attributes:
        m: a weight is an outlier when its Wanda score exceeds ``m`` times its layer's mean.
        lam: the sparsities spread over ``+- lam`` around a common level, in [0, 0.5).

    Example:
        >>> OWL(lam=0.1)
        OWL(m=5.0, lam=0.1)
    """

    m: float = 5.0
    lam: float = 0.08

    def __post_init__(self):
        check_options(self.m, self.lam)


def _input_sq(model, names, data) -> dict:
    """Layer name -> mean ``x_i^2`` per input row (im2col rows for convolutions)."""
    top = {lyr.name: lyr for lyr in model.layers}
    probed = [top[n] for n in names if n in top and isinstance(top[n], _PATCHED)]
    if not probed:
        return {}
    probe = keras.Model(model.inputs, [lyr.input for lyr in probed])
    sums, rows = {}, {}
    for batch in pruner.batches(data):
        x = batch[0] if isinstance(batch, (tuple, list)) else batch
        outs = probe(x, training=False)
        outs = outs if isinstance(outs, (list, tuple)) else [outs]
        for lyr, inp in zip(probed, outs, strict=True):
            p = patches(lyr, inp).numpy().astype(np.float64)
            sums[lyr.name] = sums.get(lyr.name, 0.0) + np.sum(p ** 2, axis=0)
            rows[lyr.name] = rows.get(lyr.name, 0) + len(p)
    return {n: sums[n] / max(rows[n], 1) for n in sums}


def outlier_ratios(model, data, names, *, m: float = 5.0) -> dict:
    """Layer name -> fraction of its Wanda scores above ``m`` times their mean.

    Args:
        model: a built tf_keras model.
        data: calibration inputs (``x``, ``(x, y)``, batches or a ``tf.data.Dataset``).
        names: the layers (weight-granularity units of :class:`~tfprune.analysis.costs.Costs`).
        m: the outlier threshold ``M`` (OWL: 5 for LLMs).
    """
    pruner.check_data(model, data)
    sq = _input_sq(model, names, data)
    by_name = {lyr.name: lyr for lyr in layers.leaf_layers(model)}
    out = {}
    for name in names:
        lyr = by_name[name]
        ws = layers.prunable_weights(lyr, layers.prunable_weight_names(lyr))
        scores = []
        for i, w in enumerate(ws):
            if i == 0 and name in sq and int(np.prod(w.shape[:-1])) == len(sq[name]):
                scores.append(wanda_scores(w, sq[name].astype(np.float32)).numpy().ravel())
            else:
                scores.append(np.abs(np.asarray(w)).ravel())
        s = np.concatenate(scores)
        out[name] = float(np.mean(s > m * np.mean(s))) if s.size else 0.0
    return out


def owl_family(ratios, lam: float, cap: float):
    """``t in [0, 1] -> per-unit sparsities``, monotone: 0 gives every unit 0, 1 every unit
    ``cap``; in between ``clip(level - offsets(ratios, lam), 0, cap)``.

    Example:
        >>> f = owl_family([0.0, 0.1, 0.2], 0.1, 0.99)
        >>> f(0.0).tolist(), f(1.0).tolist()
        ([0.0, 0.0, 0.0], [0.99, 0.99, 0.99])
        >>> np.diff(f(0.5)).round(3).tolist()  # more outliers: less sparsity
        [-0.1, -0.1]
    """
    off = offsets(ratios, lam)
    lo, hi = float(off.min()), cap + float(off.max())
    return lambda t: np.clip(lo + t * (hi - lo) - off, 0.0, cap)


def offsets(ratios, lam: float) -> np.ndarray:
    """``2 * lam * (d_l - mean d)``, ``d`` the ratios scaled to [0, 1] (0 if all equal).

    Example:
        >>> offsets([0.0, 0.1, 0.2], 0.1).round(3).tolist()
        [-0.1, 0.0, 0.1]
    """
    r = np.asarray(ratios, dtype=np.float64)
    span = r.max() - r.min() if r.size else 0.0
    d = (r - r.min()) / span if span > 0 else np.zeros_like(r)
    return 2.0 * lam * (d - d.mean())
