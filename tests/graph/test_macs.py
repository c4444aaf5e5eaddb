"""graph/macs.py: multiply-accumulates of one sample, per call, nested models included."""

from tfprune.compat import keras
from tfprune.graph.macs import count_macs

L = keras.layers


def test_a_shared_layer_counts_once_per_call_and_nested_models_count():
    i = keras.Input((8,))
    shared = L.Dense(4, name="shared")
    out = L.Add()([shared(i), shared(i)])  # called twice: 2 * 8*4
    m = keras.Model(i, out)
    assert count_macs(m) == 2 * 8 * 4
    inner = keras.Sequential([keras.Input((4,)), L.Dense(3)], name="inner")
    outer = keras.Sequential([keras.Input((8,)), L.Dense(4), inner])
    assert count_macs(outer) == 8 * 4 + 4 * 3


def test_layers_without_weights_add_nothing_and_strides_shrink_the_count():
    m = keras.Sequential([keras.Input((8, 8, 2)), L.Conv2D(4, 3, strides=2, padding="same"),
                          L.ReLU(), L.Flatten()])
    assert count_macs(m) == 4 * 4 * (3 * 3 * 2) * 4  # 4x4 output positions
