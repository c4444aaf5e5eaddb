"""Shared glue of the callbacks that own the masks (guard, lottery, RigL). Private.

They work on every TF-MOT ``PruneLowMagnitude`` wrapper (tfprune's ``PruningWrapper``
included) through its ``pruning_vars`` (weight, mask, threshold) and ``pruning_step``.
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from tfprune import errors
from tfprune.core import masks
from tfprune.masking import pruner

HORIZON = 1_000_000  # steps checked when fit does not know its length


def wrappers_or_raise(model, owner: str) -> list:
    """The model's pruning wrappers; a clear error if there are none."""
    found = pruner.wrapped_layers(model)
    if not found:
        raise errors.NothingToPruneError(
            f"{owner}: model {model.name!r} has no pruning wrappers. Wrap it first with "
            "tfprune.prune(model, schedule=tfprune.schedules.Manual()) or TF-MOT's "
            "prune_low_magnitude(model, pruning_schedule=tfprune.schedules.Manual()).")
    return found


def start_steps(model) -> int:
    """Set a fresh model's pruning step to 0 (as UpdatePruningStep does); return the step."""
    if pruner.global_step(model) < 0:
        pruner.set_step(model, 0)
    return pruner.global_step(model)


def fit_length(callback) -> int:
    """Number of training steps ``fit`` will run at most (a large horizon if unknown)."""
    params = getattr(callback, "params", None) or {}
    steps, epochs = params.get("steps"), params.get("epochs")
    return int(steps) * int(epochs) if steps and epochs else HORIZON


def firing_steps(schedule, first: int, last: int) -> list[int]:
    """Steps in [first, last] at which ``schedule`` says to update masks."""
    if last < first:
        return []
    steps = tf.range(first, last + 1, dtype=tf.int64)
    try:
        should = np.asarray(schedule(steps)[0])
        if should.shape != tuple(steps.shape):
            raise ValueError("schedule is not element-wise")
    except Exception:  # a custom schedule that only takes a scalar step
        last = min(last, first + 10_000)
        should = np.array([bool(schedule(tf.constant(s, tf.int64))[0])
                           for s in range(first, last + 1)])
    return [first + int(i) for i in np.flatnonzero(should)]


def refuse_active_schedules(wrappers, first: int, last: int, owner: str) -> None:
    """Raise if a wrapper's schedule would overwrite the masks this callback sets."""
    for w in wrappers:
        hits = firing_steps(w.pruning_schedule, first, last)
        if hits:
            shown = ", ".join(str(s) for s in hits[:5]) + (", ..." if len(hits) > 5 else "")
            raise errors.ConfigError(
                f"{owner} sets the masks itself, but layer {w.name!r} has the schedule "
                f"{w.pruning_schedule!r}, which recomputes them at steps {shown} of this fit "
                "and would overwrite them. Wrap the model with "
                "schedule=tfprune.schedules.Manual() (TF-MOT: pruning_schedule=...), or let "
                "the schedule finish before the callback starts.")


def triples(wrappers):
    """Every (wrapper, weight, mask) of the wrappers, in order."""
    return [(w, weight, mask) for w in wrappers for weight, mask, _ in w.pruning_vars]


def magnitude_mask(weight, mask, sparsity: float) -> tf.Tensor:
    """Keep the largest |weight| among the currently active entries at ``sparsity``.

    Entries already masked stay masked (they may hold the optimizer's last update).
    """
    scores = tf.where(tf.cast(mask, tf.bool), tf.abs(tf.cast(weight, tf.float32)), -1.0)
    return masks.topk_mask(scores, sparsity)


def set_mask(weight, mask, new_mask) -> None:
    """Assign ``new_mask`` and zero the pruned entries of ``weight``."""
    mask.assign(tf.cast(new_mask, mask.dtype))
    weight.assign(tf.cast(weight * tf.cast(new_mask, weight.dtype), weight.dtype))


def overall_sparsity(wrappers) -> float:
    zeros = total = 0
    for _, _, mask in triples(wrappers):
        m = mask.numpy()
        zeros += m.size - np.count_nonzero(m)
        total += m.size
    return zeros / total if total else 0.0


def bookkeeping_refs(wrappers) -> set:
    """Refs of the variables a wrapper adds to its layer (masks, thresholds, step, stats)."""
    refs = set()
    for w in wrappers:
        inner = {v.ref() for v in w.layer.weights}
        refs |= {v.ref() for v in w.weights if v.ref() not in inner}
    return refs


def layer_variables(model, wrappers) -> list:
    """The model's own variables (trainable and not), without wrapper bookkeeping."""
    skip = bookkeeping_refs(wrappers)
    return [v for v in model.weights if v.ref() not in skip]


def state_variables(model, wrappers) -> list:
    """Layer variables plus masks: what defines the pruned model's function."""
    return layer_variables(model, wrappers) + [m for _, _, m in triples(wrappers)]


def snapshot(variables) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in variables]


def restore(variables, values) -> None:
    for v, value in zip(variables, values, strict=True):
        v.assign(value)
