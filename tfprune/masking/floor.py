"""The no-collapse guard of a global weight ranking (``scope="global"``, ``"weight"``): an
output unit of the model (a class) is never left with no weight.

Example:
    >>> import numpy as np, tfprune
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((8,)), keras.layers.Dense(64, name="big"),
    ...                       keras.layers.Dense(4, name="cls")])
    >>> m.get_layer("cls").set_weights([np.full((64, 4), 1e-4, "float32"), np.zeros(4)])
    >>> p = tfprune.one_shot(m, 0.9, scope="global")
    >>> bool((p.get_layer("cls").layer.kernel.numpy() != 0).any(axis=0).all())
    True
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune.graph import keras_nodes
from tfprune.masking import bnfold

__all__ = ["floor_empty_outputs"]


def floor_empty_outputs(w, index, scores, unit, target):
    """The no-collapse guard of a global weight ranking: an output unit of the MODEL (a
    class of the last Dense/Conv layer, with only weightless layers after it) that the
    ranking left with no weight keeps the best ``ceil((1 - target) * fan_in)`` of its
    weights, a uniform cut's share.

    Only such an emptied unit changes, so a ranking that empties none is as before (hidden
    units may still be emptied: that is structured pruning, not a collapse). Without it a
    global ranking can take every weight of a small classifier: on the DS-CNN at 8x, global
    magnitude (BN-folded) kept 1 of the 640 weights of the last Dense layer, 9 of the 10
    classes had no input left and the network scored chance. The total may exceed the
    target by these weights.
    """
    layout = bnfold.output_layout(w.layer, w.prunable_weight_names[index])
    if (w.granularity != "weight" or layout is None
            or tuple(scores.shape) != tuple(unit.shape) or not keras_nodes.feeds_output(w)):
        return unit
    s, u = np.asarray(scores, np.float32), np.asarray(unit, np.float32)
    if s.ndim < 2:
        return unit
    if layout == "second_last":
        s, u = np.swapaxes(s, -1, -2), np.swapaxes(u, -1, -2)
    shape = u.shape
    # [..., out] (a transposed kernel swapped to it) or depthwise [h, w, in, multiplier]
    s = s.reshape(-1, shape[-1] * shape[-2] if layout == "depthwise" else shape[-1])
    u = u.reshape(s.shape).copy()
    empty = np.flatnonzero(u.sum(0) == 0)
    if not empty.size:
        return unit
    share = min(s.shape[0], max(1, int(np.ceil((1.0 - float(target)) * s.shape[0]))))
    for c in empty:
        u[np.argsort(-s[:, c], kind="stable")[:share], c] = 1.0
    u = u.reshape(shape)
    if layout == "second_last":
        u = np.swapaxes(u, -1, -2)
    return tf.constant(u, dtype=tf.convert_to_tensor(unit).dtype)
