import pytest

from tfprune.compat import keras

L = keras.layers


@pytest.fixture
def cnn():
    """A compiled CNN with a residual Add, a depthwise conv and a softmax head."""
    inp = keras.Input((8, 8, 3))
    a = L.Conv2D(16, 3, padding="same", activation="relu", name="stem")(inp)
    b = L.Conv2D(16, 3, padding="same", name="body")(a)
    s = L.Add(name="add")([a, b])
    d = L.DepthwiseConv2D(3, padding="same", name="dw")(s)
    h = L.Conv2D(12, 1, activation="relu", name="mid")(d)
    x = L.Flatten()(h)
    out = L.Dense(3, activation="softmax", name="head")(x)
    m = keras.Model(inp, out)
    m.compile(loss="sparse_categorical_crossentropy")
    return m
