"""The one iterator over Keras' node graph (``model._nodes_by_depth``): every other module
that walks a model's calls (costs, profiles, MAC counts, the dependency graph) uses it.

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="a"),
    ...                       keras.layers.Dense(2, name="b")])
    >>> [n.layer.name for n in nodes(m)][-2:]
    ['a', 'b']
"""

from __future__ import annotations

__all__ = ["nodes", "feeds_output"]


def nodes(model):
    """The call nodes of ``model`` (one per layer call), inputs first (deepest depth first).

    Each node has ``layer``, ``keras_inputs`` (the input tensors) and ``outputs``. Nested
    models appear as one node: walk ``node.layer`` again to go inside.

    Example:
        >>> from tfprune.compat import keras
        >>> i = keras.Input((2,))
        >>> m = keras.Model(i, keras.layers.Add(name="add")([i, i]))
        >>> [(n.layer.name, len(n.keras_inputs)) for n in nodes(m)][-1]
        ('add', 2)
    """
    by_depth = model._nodes_by_depth
    for depth in sorted(by_depth, reverse=True):
        yield from by_depth[depth]


def feeds_output(layer) -> bool:
    """True if only weightless layers (activations, pooling, reshapes) follow ``layer`` up
    to the model's outputs (the classifier of a network).

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4, name="a"),
        ...                       keras.layers.ReLU(), keras.layers.Dense(2, name="b")])
        >>> feeds_output(m.get_layer("a")), feeds_output(m.get_layer("b"))
        (False, True)
    """
    seen, todo = set(), [layer]
    while todo:
        for node in getattr(todo.pop(), "_outbound_nodes", []):
            nxt = node.outbound_layer
            if id(nxt) in seen:
                continue
            seen.add(id(nxt))
            if nxt.weights:
                return False
            todo.append(nxt)
    return True
