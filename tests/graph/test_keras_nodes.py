"""tfprune.graph.keras_nodes: the one iterator over Keras' node graph."""

from tfprune import graph
from tfprune.compat import keras

L = keras.layers


def test_nodes_come_inputs_first_and_nested_models_as_one_node():
    inner_in = keras.Input((4,))
    inner = keras.Model(inner_in, L.Dense(3, name="in_d")(inner_in), name="inner")
    i = keras.Input((4,), name="x")
    a = L.Dense(4, name="a")(i)
    out = L.Dense(2, name="out")(L.Add(name="add")([inner(a), L.Dense(3, name="b")(a)]))
    names = [n.layer.name for n in graph.nodes(keras.Model(i, out))]
    assert names[0] == "x" and names[-1] == "out"
    assert names.index("a") < names.index("inner") < names.index("add")
    assert names.index("b") < names.index("add") and "in_d" not in names
