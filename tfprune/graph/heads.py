"""Where the heads of a ``MultiHeadAttention`` live: per-layer facts of attention heads.

Head ``h`` lives at position ``h`` of axis 1 of the query/key/value kernels (``[d, H, dim]``),
of axis 0 of their biases (``[H, dim]``) and of axis 0 of the output-projection kernel
(``[H, value_dim, d_out]``). The wrapper (``prune(granularity="head")``), the channel probe
(:mod:`tfprune.measure.probe`), costs and ``shrink`` read the same map; a layer's heads are
one channel-like group, ``"<layer>/heads"``.
"""

from __future__ import annotations

from tfprune import layers as layers_lib
from tfprune.compat import keras

__all__ = ["KERNELS", "BIASES", "is_attention", "weight_names", "head_map", "group_name",
           "HeadGroup", "head_groups"]

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
    """``channel_map`` entries of ``layer``'s heads (the wrapper's map, the probe's members).

    Example:
        >>> m = head_map(keras.layers.MultiHeadAttention(3, 4, name="att"))
        >>> m[0]["weight"], m[0]["axis"], m[0]["positions"], len(m)
        ('_query_dense.kernel', 1, [0, 1, 2], 7)
    """
    n = int(layer.get_config()["num_heads"])
    return [{"weight": name, "axis": axis, "group": group_name(layer), "channels": n,
             "role": "out" if name.endswith("kernel") else "bias",
             "positions": list(range(n))} for name, axis in _entries(layer)]


class HeadGroup:
    """The heads of one ``MultiHeadAttention`` seen as a group by
    :class:`tfprune.measure.probe.ChannelProbe`.

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
    exclude = set(exclude or ())
    found = [la for la in layers_lib.leaf_layers(model)
             if is_attention(la) and la.name not in exclude]
    return {g.name: g for g in (HeadGroup(la, k) for k, la in enumerate(found))}
