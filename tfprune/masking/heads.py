"""Head granularity: whole heads of ``MultiHeadAttention`` as channel-like groups.

Stop of the path: masking (wrap), between ``prune``/``one_shot`` and the pruner.
``prune(granularity="head")`` wraps every ``MultiHeadAttention`` (nested models too) with a
``channel_map`` whose one group is the layer's heads: head ``h`` lives at position ``h`` of
axis 1 of the query/key/value kernels (``[d, H, dim]``), of axis 0 of their biases
(``[H, dim]``) and of axis 0 of the output-projection kernel (``[H, value_dim, d_out]``).
From there the channel machinery does the work (:mod:`tfprune.masking.channels`: scores
reduced over a head's slices, one kept-count rule, one weight budget for
``scope="global"``, every member masked), so a masked head equals a removed one and
``tfprune.shrink`` after ``strip`` lowers ``num_heads``. Other layers stay dense.
"""

from __future__ import annotations

from tfprune import errors
from tfprune.compat import keras
from tfprune.masking import scope as scope_lib

__all__ = ["KERNELS", "BIASES", "is_attention", "weight_names", "head_map", "group_name",
           "layer_maker", "check_targets", "HeadGroup", "head_groups"]

#: (attribute path, head axis) of the kernels holding a head; all are scored.
KERNELS = (("_query_dense.kernel", 1), ("_key_dense.kernel", 1), ("_value_dense.kernel", 1),
           ("_output_dense.kernel", 0))
#: (attribute path, head axis) of the biases holding a head (``use_bias=True``); masked only.
BIASES = (("_query_dense.bias", 0), ("_key_dense.bias", 0), ("_value_dense.bias", 0))


def is_attention(layer) -> bool:
    """True for a ``tf_keras.layers.MultiHeadAttention`` (or a subclass).

    Example:
        >>> is_attention(keras.layers.MultiHeadAttention(2, 4)), is_attention(keras.layers.Dense(2))
        (True, False)
    """
    return isinstance(layer, keras.layers.MultiHeadAttention)


def _entries(layer):
    out = list(KERNELS)
    if layer.get_config().get("use_bias", True):
        out += list(BIASES)
    return out


def weight_names(layer) -> list:
    """Attribute paths of the weights that hold ``layer``'s heads (kernels, then biases).

    Example:
        >>> weight_names(keras.layers.MultiHeadAttention(2, 4, use_bias=False))[-1]
        '_output_dense.kernel'
    """
    return [name for name, _ in _entries(layer)]


def group_name(layer) -> str:
    """The head group of ``layer``: ``"<layer name>/heads"``.

    Example:
        >>> group_name(keras.layers.MultiHeadAttention(2, 4, name="att"))
        'att/heads'
    """
    return f"{layer.name}/heads"


def head_map(layer) -> list:
    """``channel_map`` entries of ``layer``'s heads for :class:`PruningWrapper`.

    Example:
        >>> m = head_map(keras.layers.MultiHeadAttention(3, 4, name="att"))
        >>> m[0]["weight"], m[0]["axis"], m[0]["positions"], len(m)
        ('_query_dense.kernel', 1, [0, 1, 2], 7)
    """
    n = int(layer.get_config()["num_heads"])
    return [{"weight": name, "axis": axis, "group": group_name(layer), "channels": n,
             "role": "out" if name.endswith("kernel") else "bias",
             "positions": list(range(n))} for name, axis in _entries(layer)]


def check_targets(targets: dict, scope) -> None:
    """Refuse ``granularity="head"`` when no target layer has heads, or a dict scope names
    a layer without heads, before any work.

    Example:
        >>> check_targets({"fc": keras.layers.Dense(2, name="fc")}, "layer")
        ... # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.NothingToPruneError: granularity='head' prunes whole heads of ...
    """
    targets_of = scope_lib.resolve(scope).targets
    if targets_of is not None:
        other = [n for n in targets_of if n in targets and not is_attention(targets[n])]
        if other:
            raise errors.ConfigError(
                f"scope names layer {other[0]!r} ({type(targets[other[0]]).__name__}), which has "
                "no attention heads; at granularity='head' the dict names MultiHeadAttention "
                "layers. Remove it, or prune it at granularity='channel'/'weight'.")
    if not any(is_attention(layer) for layer in targets.values()):
        raise errors.NothingToPruneError(
            "granularity='head' prunes whole heads of MultiHeadAttention layers, and no "
            "(non-excluded) layer of this model is one. Use granularity='channel' (whole "
            "channels) or 'weight' (single weights) instead.")


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
    from tfprune.masking.wrapper import PruningWrapper

    del model, exclude  # the targets are in ``scales``
    mode = scope_lib.resolve(scope).ranking

    def make_layer(layer):
        fresh = layer.__class__.from_config(layer.get_config())
        if layer.name not in scales or not is_attention(layer):
            return fresh
        return PruningWrapper(fresh, schedule, criterion=crit, weights=weight_names(layer),
                              update="external", sparsity_scale=scales[layer.name],
                              granularity="head", channel_map=head_map(layer), scope=mode)

    return make_layer


class HeadGroup:
    """The heads of one ``MultiHeadAttention`` seen as a group by
    :class:`tfprune.masking.probe.ChannelProbe`.

    Attributes:
        name: ``"<layer>/heads"`` (:func:`group_name`).
        channels: the layer's ``num_heads``.
        layer: the layer (of the probe's working copy).
        index: position in :func:`head_groups`' order.

    Example:
        >>> g = HeadGroup(keras.layers.MultiHeadAttention(3, 2, name="att"), 0)
        >>> g.name, g.channels, g.layers()
        ('att/heads', 3, ['att'])
    """

    def __init__(self, layer, index: int):
        self.layer, self.index = layer, int(index)
        self.name = group_name(layer)
        self.channels = int(layer.get_config()["num_heads"])

    def layers(self) -> list:
        """The one layer holding the heads (the same call as a dependency group's)."""
        return [self.layer.name]


def head_groups(model, exclude=None) -> dict:
    """``{"<layer>/heads": HeadGroup}`` for every ``MultiHeadAttention`` of ``model`` (nested
    models too) not named in ``exclude``.

    Example:
        >>> i = keras.Input((5, 4))
        >>> m = keras.Model(i, keras.layers.MultiHeadAttention(2, 2, name="att")(i, i))
        >>> list(head_groups(m))
        ['att/heads']
    """
    from tfprune import layers as layers_lib

    exclude = set(exclude or ())
    found = [la for la in layers_lib.leaf_layers(model)
             if is_attention(la) and la.name not in exclude]
    return {g.name: g for g in (HeadGroup(la, k) for k, la in enumerate(found))}
