"""Weight-granularity sensitivity units: each layer's prunable weights scored by a weight-only
criterion, pruned alone at each level and restored (``tfprune.sensitivity(granularity=
"weight")`` scans them; plain and subclassed models)."""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import errors, layers
from tfprune.core import criteria as criteria_lib
from tfprune.core import masks as masks_lib
from tfprune.masking import slots

__all__ = ["units", "leaves", "apply_level", "points"]


def units(work, criterion):
    """The weight units of ``work``: ``{layer name: ([layer name], prunable weights, scores)}``,
    scored by a weight-only ``criterion``.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> u = units(m, "magnitude")
        >>> list(u), [tuple(w.shape) for w in u["d"][1]]
        (['d'], [(3, 2)])
    """
    crit = criteria_lib.get(criterion)
    if crit.needs_data or crit.per_channel:
        raise errors.ConfigError(
            f"sensitivity(granularity='weight') supports weight-only criteria such as "
            f"'magnitude' or 'random'; {crit.name!r} needs data or scores channels.")
    units = {}
    for layer in leaves(work):
        names = layers.prunable_weight_names(layer)
        if names is None or not layer.weights:
            continue
        ws = layers.prunable_weights(layer, names)
        if ws:
            units[layer.name] = ([layer.name], ws, [criteria_lib.checked_scores(
                crit, w, {"key": criteria_lib.weight_key(layer.name, i)},
                where=f"layer {layer.name!r}") for i, w in enumerate(ws)])
    return units


def leaves(work):
    """The leaf layers of ``work`` (a subclassed model: those its attributes hold).

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> [layer.name for layer in leaves(m)]
        ['d']
    """
    if not slots.is_subclassed(work):
        return list(layers.leaf_layers(work))
    found = {}
    for _, _, _, layer in slots.slots(work):
        inner = layers.leaf_layers(layer) if slots.is_graph_model(layer) else (
            [layer] if slots.is_leaf(layer) else [])
        for leaf in inner:
            found.setdefault(id(leaf), leaf)
    return list(found.values())


def apply_level(unit, level):
    """Zero the ``level`` fraction of lowest-scored weights of ``unit`` (in place).

    Example:
        >>> import tensorflow as tf
        >>> w = tf.Variable([[1.0, -3.0], [0.5, 2.0]])
        >>> apply_level((["d"], [w], [tf.abs(w)]), 0.5)
        >>> w.numpy().tolist()
        [[0.0, -3.0], [0.0, 2.0]]
    """
    _, ws, scores = unit
    for w, s in zip(ws, scores, strict=True):
        w.assign(w * tf.cast(masks_lib.topk_mask(s, level), w.dtype))


def points(units, run, levels):
    """Yields ``(unit, members, size, value)``: ``run()`` with each unit pruned alone at each
    level; every weight is restored after each point.

    Example:
        >>> import tensorflow as tf
        >>> w = tf.Variable([[1.0, -3.0], [0.5, 2.0]])
        >>> pts = list(points({"d": (["d"], [w], [tf.abs(w)])},
        ...                   lambda: float(tf.reduce_sum(tf.abs(w))), (0.5,)))
        >>> pts, w.numpy().tolist()
        ([('d', ['d'], 4, 5.0)], [[1.0, -3.0], [0.5, 2.0]])
    """
    for uname, unit in units.items():
        saved = [(v, v.numpy()) for v in unit[1]]
        size = int(sum(int(np.prod(w.shape)) for w in unit[1]))
        for s in levels:
            apply_level(unit, s)
            value = float(run())
            for v, orig in saved:
                v.assign(orig)
            yield uname, list(unit[0]), size, value
