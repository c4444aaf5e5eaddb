"""Pruning subclassed tf_keras models: ``prune``, ``one_shot`` and ``strip`` without a graph.

A subclassed model has no layer graph to clone, but its ``call`` reaches its layers through
its attributes (``self.fc1``, ``self.blocks[i]``, ``self.heads["a"]``, and the same inside
custom layers it holds: :mod:`tfprune.masking.slots`). So the model is copied (``type(model).from_config(get_config())``,
weights copied attribute by attribute; or the model itself with ``inplace=True``) and every
prunable layer attribute is replaced by a :class:`~tfprune.masking.wrapper.PruningWrapper`
around that layer: the model's own ``call`` goes through the wrappers, ``PruningCallback``
trains it, and :func:`strip` gives back the user's class with the masked weights.

Granularities that follow channels or heads through the graph (``"channel"``, ``"head"``)
are refused: there is no graph to follow them through. ``"weight"``, ``"n:m"`` and
``"block"`` work, with every criterion that needs no model-level measurement.

Example:
    >>> import numpy as np, tfprune
    >>> from tfprune.compat import keras
    >>> class MLP(keras.Model):
    ...     def __init__(self, **kw):
    ...         super().__init__(**kw)
    ...         self.fc = keras.layers.Dense(8)
    ...     def call(self, x):
    ...         return self.fc(x)
    >>> m = MLP(); _ = m(np.zeros((1, 4), "float32"))
    >>> p = tfprune.one_shot(m, 0.5)
    >>> type(p).__name__, type(p.fc).__name__
    ('MLP', 'PruningWrapper')
    >>> plain = tfprune.strip(p)
    >>> type(plain.fc).__name__, float((plain.fc.kernel.numpy() == 0).mean())
    ('Dense', 0.5)
"""

from __future__ import annotations

import dataclasses

import numpy as np
import tensorflow as tf  # noqa: F401 - the doctests use it
from tensorflow_model_optimization.python.core.sparsity.keras import (
    pruning_schedule as tfmot_schedules,
)
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune import errors
from tfprune import layers as layers_lib
from tfprune.compat import keras
from tfprune.core import criteria as criteria_lib
from tfprune.core import schedules as schedules_lib
from tfprune.masking import arguments, pruner
from tfprune.masking import granularity as granularity_lib
from tfprune.masking import scope as scope_lib
from tfprune.masking import slots as slots_lib
from tfprune.masking.arguments import Request
from tfprune.masking.slots import copy_model, is_subclassed, slots
from tfprune.masking.validate import (
    DEFAULT_FREQUENCY,
)
from tfprune.masking.validate import check_layers as _check_layers
from tfprune.masking.validate import check_schedule_args as _check_schedule_args
from tfprune.masking.validate import final_sparsity as _final_sparsity
from tfprune.masking.wrapper import PruningWrapper, WrapperOptions

__all__ = ["is_subclassed", "check_inplace", "check_graph_free", "slots", "copy_model", "prune",
           "one_shot", "strip"]

_GRAPH_FREE = ("weight", "n:m", "block")


def check_inplace(inplace) -> None:
    """Refuse ``inplace=True`` for a Sequential/Functional model (always cloned).

    Example:
        >>> check_inplace(False)
    """
    if inplace is not False:
        raise errors.ConfigError(
            f"inplace={inplace!r}: only subclassed models can be pruned or stripped in place; "
            "a Sequential or Functional model is cloned (a new model is returned and yours is "
            "unchanged). Leave inplace out.")


# -- prune ----------------------------------------------------------------------------
def _targets(model, exclude, scope):
    """``{name: [(container, key), ...]}`` and ``{name: layer}`` of the prunable leaves."""
    where, by_name = {}, {}
    for path, container, key, layer in slots_lib.slots(model):
        if not slots_lib.is_leaf(layer) or not layers_lib.is_prunable(layer):
            continue
        if slots_lib.is_graph_model(layer):
            raise errors.UnsupportedLayerError(
                f"{path!r} of {type(model).__name__} is a Sequential/Functional model "
                f"({layer.name!r}) inside a subclassed model: its layers run through its own "
                "graph, so they cannot be wrapped in place. Prune it on its own "
                "(tfprune.prune(submodel, ...)) and assign the result, or hold its layers "
                "in a list.")
        if layer.name in by_name and by_name[layer.name] is not layer:
            raise errors.ConfigError(
                f"two layers of {type(model).__name__} are named {layer.name!r} ({path!r} and "
                "another): give them unique names (name=...) so exclude/scope and reports "
                "can tell them apart.")
        by_name[layer.name] = layer
        where.setdefault(layer.name, []).append((container, key))
    valid = set(by_name) | {lyr.name for _, _, _, lyr in slots_lib.slots(model)}
    for arg, names in (("exclude", exclude), ("scope", list(scope.targets or {}))):
        for name in names:
            if name not in valid:
                raise errors.ConfigError(
                    f"`{arg}` names layer {name!r}, which {type(model).__name__} does not "
                    f"hold. Its prunable layers: {sorted(by_name)}.")
    return where, by_name


def prune(model, request: Request, fixed: bool = False):
    """:func:`tfprune.prune` for a subclassed tf_keras model (it dispatches here), with the
    call's arguments in ``request``; ``fixed``: one-shot (a ``OneShot`` schedule at step 0).

    Returns a copy of ``model`` (its class, names and weights) whose prunable layers are
    :class:`PruningWrapper` s, or ``model`` itself changed so with ``inplace=True``.

    Raises:
        ConfigError: ``granularity="channel"``/``"head"`` (no graph to follow channels
            through), a measured criterion, or the checks of :func:`tfprune.prune`.
        ModelTypeError: the model cannot be copied (offers ``inplace=True``) or is unbuilt.

    Example:
        >>> class M(keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(tf.zeros((1, 3)))
        >>> type(prune(m, Request(sparsity=0.5)).fc).__name__, type(m.fc).__name__
        ('PruningWrapper', 'Dense')
    """
    sparsity, schedule, exclude = request.sparsity, request.schedule, request.exclude
    if request.inplace not in (True, False):
        raise errors.ConfigError(f"inplace must be True or False, got {request.inplace!r}.")
    if not model.built:
        raise errors.ModelTypeError(
            f"`model` ({type(model).__name__}) is not built yet: call it on a batch "
            "(model(x)) or model.build(input_shape) before pruning.")
    _check_not_pruned(model)
    crit = criteria_lib.get(request.criterion)
    unit = granularity_lib.spec(request.granularity, crit, scope=request.scope)
    strategy = granularity_lib.get(unit.name)
    check_graph_free(model, strategy.name, crit)
    scope = scope_lib.resolve(request.scope, strategy.name)
    if strategy.name == "n:m" and sparsity is None and schedule is None and not scope.is_mapping:
        sparsity = unit.sparsity
    _check_schedule_args(sparsity, schedule, scope)
    exclude = [exclude] if isinstance(exclude, str) else list(exclude or [])
    where, by_name = _targets(model, exclude, scope)
    names = [n for n in by_name if n not in exclude]
    if scope.is_mapping:
        names = [n for n in names if n in scope.targets]
    if not names:
        raise errors.NothingToPruneError(
            f"{type(model).__name__} {model.name!r} holds no prunable layer (Dense, Conv*, "
            "DepthwiseConv2D, SeparableConv*, Embedding, ...) in its attributes, lists or "
            "dicts.")
    if schedule is None:
        base = float(sparsity if sparsity is not None else scope.final)
        schedule = (schedules_lib.OneShot(base, step=0) if fixed else
                    tfmot_schedules.ConstantSparsity(base, 0, frequency=DEFAULT_FREQUENCY))
    scales = {n: 1.0 for n in names}
    if scope.is_mapping:
        final = _final_sparsity(schedule)
        if final <= 0:
            raise errors.ConfigError("scope={...} needs a schedule whose final sparsity is > 0.")
        scales = {n: scope.targets[n] / final for n in names}
    _check_layers({n: by_name[n] for n in names}, crit, scope, strategy.name, unit.n_m,
                  unit.block)
    target = model if request.inplace else slots_lib.copy_model(model)
    _reset_functions(target)
    _wrap(target, scales, schedule=schedule, crit=crit, scope=scope, unit=unit)
    return target


def _reset_functions(model) -> None:
    """Drop the model's traced fit/evaluate/predict functions: they called the old layers."""
    model.train_function = model.test_function = model.predict_function = None


def check_graph_free(model, unit, crit=None):
    """Refuse a granularity (or a measured criterion) that needs the layer graph.

    Example:
        >>> class M(keras.Model):
        ...     def call(self, x):
        ...         return x
        >>> check_graph_free(M(), "channel")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: granularity='channel' is refused for subclassed model M: ...
    """
    if unit not in _GRAPH_FREE:
        raise errors.ConfigError(
            f"granularity={unit!r} is refused for subclassed model {type(model).__name__}: "
            f"removing a {'head' if unit == 'head' else 'channel'} means following it through "
            "the layer graph to every layer that consumes it, and a subclassed model has no "
            "graph (its call is Python code). Use granularity='weight', 'n:m' or 'block', or "
            "rebuild the model with keras.Sequential([...]) / keras.Model(inputs, outputs) "
            "for channel or head pruning and shrink.")
    if crit is not None and crit.measured:
        raise errors.ConfigError(
            f"criterion {crit.name!r} measures the model's loss per unit through its layer "
            f"graph; it is not available for subclassed model {type(model).__name__}. Use a "
            "weight criterion such as 'magnitude' (or a data criterion with one_shot).")


def _check_not_pruned(model):
    hits = [lyr.name for _, _, _, lyr in slots_lib.slots(model)
            if isinstance(lyr, pruning_wrapper.PruneLowMagnitude)]
    if hits:
        raise errors.AlreadyPrunedError(
            f"`model` {model.name!r} is already pruned (pruning wrappers: {', '.join(hits[:5])})."
            " Strip it first with tfprune.strip(model), or keep training the pruned one.")


def _wrap(model, scales, *, schedule, crit, scope, unit) -> None:
    """Replace every slot holding a target layer by one wrapper around it, then build."""
    update = "external" if scope.ranking == "global" else "layer"
    made = {}
    for _, container, key, layer in list(slots_lib.slots(model)):
        if not slots_lib.is_leaf(layer) or layer.name not in scales:
            continue
        if id(layer) not in made:
            options = WrapperOptions(update=update, sparsity_scale=scales[layer.name],
                                     scope=scope.ranking)
            made[id(layer)] = PruningWrapper(layer, schedule, criterion=crit, granularity=unit,
                                             options=options)
        slots_lib.set_slot(container, key, made[id(layer)])
    args, kwargs = slots_lib.call_inputs(model)
    model(*args, **kwargs, training=False)  # builds the wrappers (masks, thresholds, step)
    missing = [w.layer.name for w in made.values() if not w.built]
    if missing:
        raise errors.UnsupportedLayerError(
            f"{type(model).__name__}.call does not reach layers {missing} through the "
            "attributes that hold them (e.g. it keeps another reference): they cannot be "
            "pruned. Call them as self.<attribute>(...) in call, or exclude=[...] them.")


def one_shot(model, request: Request):
    """:func:`tfprune.one_shot` for a subclassed tf_keras model (it dispatches here), with
    the call's arguments in ``request`` (its ``data``: the data or a ``Calibration``).

    Example:
        >>> class M(keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(tf.zeros((1, 3)))
        >>> float((one_shot(m, Request(sparsity=0.75)).fc.layer.kernel.numpy() == 0).mean())
        0.75
    """
    crit = criteria_lib.get(request.criterion)
    cal = arguments.of(request.data)
    if crit.needs_data and cal.data is None:
        raise errors.ConfigError(
            f"criterion {crit.name!r} scores weights from data: pass data=(x, y) to one_shot, "
            "or choose a weight-only criterion such as 'magnitude'.")
    loss = pruner.resolve_loss(model, cal.loss, crit)
    pruned = prune(model, dataclasses.replace(request, criterion=crit), fixed=True)
    ranking = pruner.model_scope(pruned)
    if crit.needs_data:
        pruner.gather(pruned, cal.data, loss=loss, max_batches=cal.max_batches)
    pruner.update_masks(pruned, step=0, scope=ranking, compensate=crit.compensates)
    pruner.set_step(pruned, 0)
    return pruned


# -- strip ----------------------------------------------------------------------------
def _masked_values(wrapper):
    """The inner layer's weights with ``weight * mask`` for the pruned ones."""
    values = [np.asarray(keras.backend.get_value(v)) for v in wrapper.layer.weights]
    index = {id(v): i for i, v in enumerate(wrapper.layer.weights)}
    for weight, mask, _ in wrapper.pruning_vars:
        i = index[id(weight)]
        values[i] = values[i] * np.asarray(keras.backend.get_value(mask))
    return values


def strip(model, *, inplace=False):
    """:func:`tfprune.strip` for a subclassed model: the user's class, wrappers swapped back
    for their layers, pruned weights set to 0. A copy unless ``inplace=True``.

    Example:
        >>> class M(keras.Model):
        ...     def __init__(self):
        ...         super().__init__()
        ...         self.fc = keras.layers.Dense(4)
        ...     def call(self, x):
        ...         return self.fc(x)
        >>> m = M(); _ = m(tf.zeros((1, 3)))
        >>> s = strip(one_shot(m, Request(sparsity=0.5)))
        >>> type(s).__name__, type(s.fc).__name__, int((s.fc.kernel.numpy() == 0).sum())
        ('M', 'Dense', 6)
    """
    if inplace not in (True, False):
        raise errors.ConfigError(f"inplace must be True or False, got {inplace!r}.")
    wrapped = {p: lyr for p, _, _, lyr in slots_lib.slots(model)
               if isinstance(lyr, pruning_wrapper.PruneLowMagnitude)}
    values = {p: _masked_values(w) if hasattr(w, "pruning_vars") and w.pruning_vars
              else w.layer.get_weights() for p, w in wrapped.items()}
    if inplace:
        _reset_functions(model)
        for _, container, key, layer in list(slots_lib.slots(model)):
            if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
                slots_lib.set_slot(container, key, layer.layer)
        target = model
    else:
        target = slots_lib.copy_model(model)
    plain = {p: lyr for p, _, _, lyr in slots_lib.slots(target)}
    for p, vals in values.items():
        plain[p].set_weights(vals)
    return target
