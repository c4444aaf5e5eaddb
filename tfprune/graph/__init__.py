"""Channel dependency graph of tf_keras models (the only code that reads Keras' node graph).

Example:
    >>> from tfprune.compat import keras
    >>> m = keras.Sequential([keras.layers.Dense(4, input_shape=(3,), name="d"),
    ...                       keras.layers.Dense(2, name="out")])
    >>> g = build(m)
    >>> [(x.name, x.channels, x.prunable) for x in g]
    [('d_input', 3, False), ('d', 4, True), ('out', 2, False)]
"""

from __future__ import annotations

from tfprune.graph.build import Context, build
from tfprune.graph.group import DependencyGraph, Group, Member
from tfprune.graph.keras_nodes import nodes
from tfprune.graph.rules import passthrough, pin, register_rule

__all__ = [
    "build",
    "register_rule",
    "passthrough",
    "pin",
    "Context",
    "DependencyGraph",
    "Group",
    "Member",
    "nodes",
]
