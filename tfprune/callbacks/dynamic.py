"""Shared glue of the callbacks that own the masks (guard, lottery, RigL). Private.

They work on every TF-MOT ``PruneLowMagnitude`` wrapper (tfprune's ``PruningWrapper``
included) through its ``pruning_vars`` (weight, mask, threshold) and ``pruning_step``.

Run state (the guard's level and last good weights, the lottery round and rewind target,
RigL's schedule) lives in variables of a :class:`RunState` attached to the model, so
``BackupAndRestore``, ``tf.train.Checkpoint`` and TF-format ``save_weights`` carry it; a
killed run resumes where it stopped. A ``.keras``/``.h5`` file holds only the layers'
weights: after such a reload the callbacks start a new run from the masks they find and
never lower their sparsity (no pruned weight is revived).
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

    Entries already masked stay masked (they may hold the optimizer's last update): the
    sparsity used is at least the mask's current one, so no pruned weight is revived.

    Example:
        >>> magnitude_mask(tf.constant([4., 3., 2., 1.]), tf.constant([0., 1., 1., 1.]),
        ...                0.5).numpy()  # the pruned 4. stays pruned
        array([0., 1., 1., 0.], dtype=float32)
        >>> magnitude_mask(tf.constant([4., 3., 2., 1.]), tf.constant([0., 1., 1., 1.]),
        ...                0.0).numpy()  # a lower target never revives it
        array([0., 1., 1., 1.], dtype=float32)
    """
    current = 1.0 - float(np.count_nonzero(np.asarray(mask))) / max(int(np.size(mask)), 1)
    sparsity = max(float(sparsity), current)
    scores = tf.where(tf.cast(mask, tf.bool), tf.abs(tf.cast(weight, tf.float32)), -1.0)
    return masks.topk_mask(scores, sparsity)


def set_mask(weight, mask, new_mask) -> None:
    """Assign ``new_mask`` and zero the pruned entries of ``weight``."""
    mask.assign(tf.cast(new_mask, mask.dtype))
    weight.assign(tf.cast(weight * tf.cast(new_mask, weight.dtype), weight.dtype))


def overall_sparsity(model) -> float:
    """All masked weights together (the one sparsity report: ``pruner.sparsity_report``)."""
    return pruner.sparsity_report(model)["sparsity"]


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


class RunState(tf.Module):
    """Variables holding one callback's run state; tracked by the model's checkpoints."""


def run_state(model, key: str, scalars: dict, mirrors: dict | None = None):
    """The model's :class:`RunState` for ``key``, created on first use.

    Args:
        model: the pruned model (the state becomes its attribute ``_tfprune_<key>_state``,
            which checkpoints of the model track, but not ``model.weights``).
        key: the callback kind (``"guard"``, ``"lottery"``, ``"rigl"``).
        scalars: ``{name: initial value}`` (a Python int, float or list; dtype follows it).
        mirrors: ``{name: [variables]}``: a copy of each variable (e.g. a weight snapshot).

    Returns:
        ``(state, created)``. A state restored by a checkpoint (also after it is attached:
        TF restores deferred dependencies) keeps the restored values.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
        >>> st, created = run_state(m, "demo", {"round": 0})
        >>> created, int(st.round.numpy()), len(m.weights)
        (True, 0, 2)
    """
    attr = f"_tfprune_{key}_state"
    state = getattr(model, attr, None)
    if state is not None:
        return state, False
    state = RunState(name=f"tfprune_{key}_state")
    state.fields = ",".join([*scalars, *(mirrors or {})])  # a str: not tracked
    for name, value in scalars.items():
        dtype = tf.float64 if isinstance(value, float) or (
            isinstance(value, list) and any(isinstance(v, float) for v in value)) else tf.int64
        setattr(state, name, tf.Variable(value, dtype=dtype, trainable=False, name=name))
    for name, variables in (mirrors or {}).items():
        setattr(state, name, [tf.Variable(tf.identity(v), trainable=False) for v in variables])
    setattr(model, attr, state)  # restores pending checkpoint values (BackupAndRestore)
    return state, True


def state_dict(state) -> dict:
    """``{name: numpy value, or list of arrays for a mirror}`` of a :class:`RunState`."""
    out = {}
    for name in state.fields.split(","):
        value = getattr(state, name)
        out[name] = (value.numpy() if isinstance(value, tf.Variable)
                     else [np.array(v.numpy()) for v in value])
    return out


def load_state_dict(state, values: dict, owner: str) -> None:
    """Assign ``values`` (from :func:`state_dict`) to ``state``; unknown names are refused."""
    current = state_dict(state)
    unknown = sorted(set(values) - set(current))
    if unknown:
        raise errors.ConfigError(
            f"{owner}.set_state: unknown state names {unknown}; expected names from "
            f"{owner}.get_state(): {sorted(current)}.")
    for name, value in values.items():
        target = getattr(state, name)
        if isinstance(target, tf.Variable):
            target.assign(value)
        else:
            restore(list(target), value)


def snapshot(variables) -> list[np.ndarray]:
    return [np.array(v.numpy()) for v in variables]


def restore(variables, values) -> None:
    for v, value in zip(variables, values, strict=True):
        v.assign(value)
