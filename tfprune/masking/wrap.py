"""How ``prune`` wraps a model: a clone whose target layers are pruning wrappers.

Stop of the path: masking (``prune``/``one_shot`` wrap, ``strip`` unwraps with the same
clone: :func:`unwrap`; :func:`wrapped_layers` finds the wrappers). One wrapping per kind of :class:`tfprune.masking.granularity.Strategy` (its
``wraps``): ``"layers"`` (weight, n:m, block: one mask per weight), ``"groups"`` (channel:
every layer holding a channel of a prunable dependency group, with its ``channel_map``) and
``"heads"`` (every ``MultiHeadAttention`` with its head map, :mod:`tfprune.graph.heads`).
Whether the pruner or the wrapper sets the masks is
:func:`tfprune.masking.wrapper.update_mode`.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
    >>> c = transform(m, fresh)
    >>> c.get_layer("d") is m.get_layer("d"), bool((c.get_layer("d").kernel.numpy() ==
    ...                                             m.get_layer("d").kernel.numpy()).all())
    (False, True)
"""

from __future__ import annotations

import dataclasses

import numpy as np
from tensorflow_model_optimization.python.core.sparsity.keras import pruning_wrapper

from tfprune import errors
from tfprune import graph as graph_lib
from tfprune.compat import keras, keras3_io
from tfprune.graph import heads
from tfprune.layers import leaf_layers
from tfprune.masking import channels
from tfprune.masking.wrapper import PruningWrapper, WrapperOptions, update_mode

__all__ = ["fresh", "inner", "transform", "WrapSpec", "wrap", "wrapped_layers", "unwrap"]


def fresh(layer):
    """A new layer from ``layer``'s config (no weights yet).

    Example:
        >>> fresh(keras.layers.Dense(2, name="d")).name
        'd'
    """
    return layer.__class__.from_config(layer.get_config())


def inner(layer):
    """The layer a pruning wrapper (TF-MOT's or tfprune's) wraps, or ``layer`` itself.

    Example:
        >>> inner(keras.layers.Dense(2, name="d")).name
        'd'
    """
    return layer.layer if isinstance(layer, pruning_wrapper.PruneLowMagnitude) else layer


def transform(model, make_layer):
    """Clone ``model`` (nested models too) with ``make_layer`` and copy the weights."""
    outputs = set(getattr(model, "output_names", None) or ())

    def clone_fn(layer):
        if isinstance(layer, keras.Model):
            return transform(layer, make_layer)
        new = make_layer(layer)
        if layer.name in outputs and isinstance(new, pruning_wrapper.PruneLowMagnitude):
            new._name = new.layer.name  # outputs keep the user's names: compile(loss={name: ..})
        return new

    new = keras.models.clone_model(model, clone_function=clone_fn)
    source = {inner(lyr).name: inner(lyr) for lyr in model.layers}
    for layer in new.layers:
        la = inner(layer)
        if isinstance(la, keras.Model) or la.name not in source:
            continue
        la.set_weights(source[la.name].get_weights())
    return new


def wrapped_layers(model) -> list:
    """Every pruning wrapper in ``model`` (TF-MOT's and tfprune's), nested models included.

    Example:
        >>> wrapped_layers(keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)]))
        []
    """
    found = []
    # layers holding layers are walked too: the custom blocks of a subclassed model
    for layer in model._flatten_layers(include_self=False, recursive=False):  # noqa: SLF001
        if isinstance(layer, pruning_wrapper.PruneLowMagnitude):
            found.append(layer)
        elif isinstance(layer, keras.Model) or getattr(layer, "_self_tracked_trackables", None):
            found.extend(wrapped_layers(layer))
    return found


@keras3_io(returns="model")
def unwrap(model):
    """:func:`tfprune.strip` of a functional or Sequential model: a new plain model, wrappers
    removed, masks applied (pruned weights are 0), no variable shared with ``model``.

    Example:
        >>> from tfprune.masking.wrapper import PruningWrapper
        >>> m = keras.Sequential([keras.Input((3,)), PruningWrapper(keras.layers.Dense(2))])
        >>> m.layers[0].pruning_vars[0][1].assign(np.zeros((3, 2), "float32"))  # doctest: +ELLIPSIS
        <...>
        >>> plain = unwrap(m)
        >>> type(plain.layers[0]).__name__, float(abs(plain.layers[0].kernel.numpy()).sum())
        ('Dense', 0.0)
    """
    masked, wrapped = {}, wrapped_layers(model)
    for w in wrapped:
        masked[w.layer.name] = [
            (i, np.asarray(keras.backend.get_value(wt)) * np.asarray(keras.backend.get_value(m)))
            for i, (wt, m, _) in enumerate(w.pruning_vars)]
        masked[w.layer.name + "/vars"] = [wt for wt, _, _ in w.pruning_vars]

    def make_layer(layer):
        return fresh(inner(layer))

    plain = transform(model, make_layer)
    # one walk of the wrappers (a walk per stripped layer was quadratic in the model's depth)
    sources = {w.layer.name: w.layer for w in reversed(wrapped)}
    for layer in leaf_layers(plain):
        if layer.name not in masked:
            continue
        src_vars = masked[layer.name + "/vars"]
        # same variable order as the source layer's weights
        src_layer = sources[layer.name]
        order = {id(v): j for j, v in enumerate(src_layer.weights)}
        for i, value in masked[layer.name]:
            layer.weights[order[id(src_vars[i])]].assign(value)
    return plain


@dataclasses.dataclass(frozen=True)
class WrapSpec:
    """What ``prune`` resolved, handed to :func:`wrap`.

    Attributes:
        schedule: the PruningSchedule of every wrapper.
        criterion: the Criterion.
        scope: the resolved :class:`tfprune.masking.scope.Scope`.
        exclude: excluded layer names (already left out of ``scales``).
        scales: layer name -> sparsity scale, for the layers to prune.
        strategy: the :class:`tfprune.masking.granularity.Strategy`.
        unit: the :class:`tfprune.core.criteria.granularity.Granularity` (its N:M or
            block shape).
        options: :class:`tfprune.masking.channels.ChannelOptions` (``"channel"``) or None.
    """

    schedule: object
    criterion: object
    scope: object
    exclude: object
    scales: dict
    strategy: object
    unit: object
    options: object = None


def wrap(model, spec: WrapSpec):
    """A clone of ``model`` with its target layers wrapped as ``spec.strategy`` wraps them.

    Example:
        >>> from tfprune.core import criteria, schedules
        >>> from tfprune.masking import granularity, scope
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> spec = WrapSpec(schedules.Constant(0.5), criteria.get("l1"), scope.resolve("layer"),
        ...                 set(), {"d": 1.0}, granularity.get("weight"), "weight")
        >>> type(wrap(m, spec).layers[0]).__name__
        'PruningWrapper'
    """
    return _WRAPS[spec.strategy.wraps](model, spec)


def _wrap_layers(model, spec):
    """``"weight"``, ``"n:m"``, ``"block"``: wrap every target layer, one mask per weight
    (``scope="global"``: the pruner sets the masks from one ranking)."""
    update = update_mode(spec.scope.ranking, spec.strategy.name)

    def make_layer(layer):
        new = fresh(layer)
        if layer.name in spec.scales:
            options = WrapperOptions(update=update, sparsity_scale=spec.scales[layer.name],
                                     scope=spec.scope.ranking)
            return PruningWrapper(new, spec.schedule, criterion=spec.criterion,
                                  granularity=spec.unit, options=options)
        return new

    return transform(model, make_layer)


def _wrap_heads(model, spec):
    """``"head"``: wrap every target MultiHeadAttention with its head map (one mask per
    head on all its slices, set by the pruner)."""
    ranking = spec.scope.ranking

    def make_layer(layer):
        new = fresh(layer)
        if layer.name not in spec.scales or not heads.is_attention(layer):
            return new
        options = WrapperOptions(update=update_mode(ranking, "head"),
                                 sparsity_scale=spec.scales[layer.name],
                                 channel_map=tuple(heads.head_map(layer)), scope=ranking)
        return PruningWrapper(new, spec.schedule, criterion=spec.criterion,
                              weights=heads.weight_names(layer), granularity="head",
                              options=options)

    return transform(model, make_layer)


def _wrap_channels(model, spec):
    """``granularity="channel"``: wrap every layer holding a channel of a prunable group."""
    options = spec.options or channels.ChannelOptions()
    g = graph_lib.build(model, exclude=spec.exclude)
    groups = g.prunable()
    if spec.scope.is_mapping:
        groups = [x for x in groups if x.name in spec.scope.targets]
    if not groups:
        raise errors.NothingToPruneError(
            f"Model {model.name!r} has no prunable channel group: {g.why_none_prunable()}. "
            "print(tfprune.graph.build(model)) shows every group.")
    maps = channels.channel_maps(g, groups)
    roles = channels.scored_roles(spec.criterion, options)

    def make_layer(layer):
        new = fresh(layer)
        entries = maps.get(id(layer))
        if not entries:
            return new
        names = list(dict.fromkeys(e["weight"] for e in entries))
        options = WrapperOptions(update=update_mode(spec.scope.ranking, "channel"),
                                 sparsity_scale=spec.scales.get(layer.name, 1.0),
                                 channel_map=tuple(entries), scope=spec.scope.ranking,
                                 scored=any(e["role"] in roles for e in entries))
        return PruningWrapper(new, spec.schedule, criterion=spec.criterion, weights=names,
                              granularity="channel", options=options)

    return transform(model, make_layer)


#: how ``prune`` wraps the layers of each :class:`~tfprune.masking.granularity.Strategy`
_WRAPS = {"layers": _wrap_layers, "groups": _wrap_channels, "heads": _wrap_heads}
