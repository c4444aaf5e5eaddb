"""Model-level pruning: find the wrappers, compute masks for a scope, assign them.

The one place that knows the scope (per layer, global threshold, or per-layer
allocation). Used by ``one_shot``, the callbacks and custom training loops.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune import masks
from tfprune.compat import keras

__all__ = ["wrapped_layers", "is_pruned", "update_masks", "apply_masks", "sparsity_report",
           "global_step", "set_step"]


def wrapped_layers(model) -> list:
    """Every pruning wrapper in ``model`` (TF-MOT's and tfprune's), nested models included.

    Example:
        >>> from tfprune.compat import keras
        >>> wrapped_layers(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        []
    """
    found = []
    for layer in model.layers:
        if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
            found.append(layer)
        elif isinstance(layer, keras.Model):
            found.extend(wrapped_layers(layer))
    return found


def is_pruned(model) -> bool:
    """True if ``model`` contains pruning wrappers."""
    return bool(wrapped_layers(model))


def global_step(model) -> int:
    """The pruning step of the model's wrappers (-1 before training starts)."""
    ws = wrapped_layers(model)
    return int(keras.backend.get_value(ws[0].pruning_step)) if ws else -1


def set_step(model, step: int) -> None:
    """Set every wrapper's pruning step."""
    keras.backend.batch_set_value([(w.pruning_step, step) for w in wrapped_layers(model)])


def _is_tfprune(w) -> bool:
    return hasattr(w, "mask_for")


def update_masks(model, step: int | None = None, *, scope: str = "layer",
                 sparsity: float | None = None) -> None:
    """Recompute and assign every wrapper's masks, then zero the pruned weights.

    Args:
        model: a pruned model.
        step: schedule step used for each layer's target (default: current step).
        scope: ``"layer"`` (each layer at its own target) or ``"global"`` (one
            ranking of all prunable weights; the total meets ``sparsity``).
        sparsity: overall target; default: the schedule's value at ``step``.
    """
    ws = [w for w in wrapped_layers(model) if _is_tfprune(w)]
    if not ws:
        return
    if step is None:
        step = max(global_step(model), 0)
    if scope == "global":
        target = ws[0].target_sparsity(step) if sparsity is None else sparsity
        scores = [w.scores(i) for w in ws for i in range(len(w.pruning_vars))]
        new = masks.global_topk_masks(scores, target)
        it = iter(new)
        for w in ws:
            for (weight, mask, thr) in w.pruning_vars:
                m = tf.cast(next(it), mask.dtype)
                mask.assign(m)
                thr.assign(tf.cast(0.0, thr.dtype))
    else:
        for w in ws:
            target = w.target_sparsity(step) if sparsity is None else sparsity
            for i, (_, mask, thr) in enumerate(w.pruning_vars):
                t, m = w.mask_for(i, target)
                mask.assign(m)
                thr.assign(t)
    apply_masks(model)


def apply_masks(model) -> None:
    """Assign ``weight * mask`` to every pruned weight (the function is unchanged)."""
    for w in wrapped_layers(model):
        for weight, mask, _ in w.pruning_vars:
            weight.assign(tf.cast(weight * mask, weight.dtype))


def sparsity_report(model) -> dict:
    """Overall and per-layer sparsity of the masks: ``{"sparsity": s, "layers": {name: s}}``.

    Overall sparsity counts every masked weight together.
    """
    zeros = total = 0
    per_layer = {}
    for w in wrapped_layers(model):
        lz = ln = 0
        for _, mask, _ in w.pruning_vars:
            m = np.asarray(keras.backend.get_value(mask))
            lz += int(m.size - np.count_nonzero(m))
            ln += int(m.size)
        per_layer[w.layer.name] = lz / ln if ln else 0.0
        zeros += lz
        total += ln
    return {"sparsity": zeros / total if total else 0.0, "layers": per_layer}
