"""Head granularity: wrap every ``MultiHeadAttention`` with its heads as one channel-like group.

Stop of the path: masking (wrap), between ``prune``/``one_shot`` and the pruner.
``prune(granularity="head")`` wraps every ``MultiHeadAttention`` (nested models too) with a
``channel_map`` whose one group is the layer's heads (where they live:
:mod:`tfprune.graph.heads`). From there the channel machinery does the work
(:mod:`tfprune.masking.channels`: scores reduced over a head's slices, one kept-count rule,
one weight budget for ``scope="global"``, every member masked), so a masked head equals a
removed one and ``tfprune.shrink`` after ``strip`` lowers ``num_heads``. Other layers stay
dense. The targets are checked by :func:`tfprune.masking.validate.check_head_targets`.
"""

from __future__ import annotations

from tfprune.compat import keras  # noqa: F401  (doctest namespace)
from tfprune.graph import heads
from tfprune.masking import scope as scope_lib
from tfprune.masking.wrapper import PruningWrapper

__all__ = ["layer_maker"]


def layer_maker(model, schedule, crit, scope, exclude, scales):
    """``make_layer(layer)`` for :func:`tfprune.masking.api._transform`: a fresh copy of
    every layer; the MultiHeadAttention layers in ``scales`` wrapped with their head map
    (``update="external"``: the pruner sets one mask per head on all its slices).

    Args:
        model: the plain model (validated by the caller; its layers are what
            ``make_layer`` receives).
        schedule, crit: the schedule and Criterion of ``prune``.
        scope: ``"layer"``, ``"global"``, a mapping (its targets are in ``scales``) or a
            resolved :class:`tfprune.masking.scope.Scope`.
        exclude: excluded layer names (already left out of ``scales``).
        scales: layer name -> sparsity scale, for the layers to prune.

    Example:
        >>> make = layer_maker(None, None, "l1", "layer", None, {"att": 1.0})
        >>> type(make(keras.layers.MultiHeadAttention(2, 4, name="att"))).__name__
        'PruningWrapper'
    """
    del model, exclude  # the targets are in ``scales``
    mode = scope_lib.resolve(scope).ranking

    def make_layer(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if layer.name not in scales or not heads.is_attention(layer):
            return fresh
        return PruningWrapper(fresh, schedule, criterion=crit, weights=heads.weight_names(layer),
                              update="external", sparsity_scale=scales[layer.name],
                              granularity="head", channel_map=heads.head_map(layer), scope=mode)

    return make_layer
