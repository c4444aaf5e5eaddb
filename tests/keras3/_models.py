"""Keras 3 test models (TensorFlow backend), small enough for the shared CI machine."""

import keras as keras3
import numpy as np


def rel_err(a, b) -> float:
    """max |a - b| / max |b|."""
    a, b = np.asarray(a, "float64"), np.asarray(b, "float64")
    return float(np.max(np.abs(a - b)) / max(float(np.max(np.abs(b))), 1e-12))


def keras3_cnn(name="cnn3"):
    """Functional Keras 3 CNN: conv, BN, depthwise, residual Add, pooling, dense."""
    L = keras3.layers
    inp = keras3.Input((8, 8, 3), name="img")
    x = L.Rescaling(1 / 255.0, name="scale")(inp)
    x = L.Conv2D(8, 3, padding="same", name="c1")(x)
    x = L.BatchNormalization(name="bn1")(x)
    x = L.ReLU(name="r1")(x)
    y = L.DepthwiseConv2D(3, padding="same", name="dw")(x)
    y = L.Conv2D(8, 1, name="pw")(y)
    x = L.Add(name="res")([x, y])
    x = L.GlobalAveragePooling2D(name="gap")(x)
    x = L.Dense(16, activation="relu", name="d1")(x)
    out = L.Dense(4, name="head")(x)
    return keras3.Model(inp, out, name=name)


def randomize_bn(model):
    """Non-trivial BatchNormalization statistics (a fresh BN is the identity)."""
    rng = np.random.default_rng(0)
    for layer in model.layers:
        if isinstance(layer, keras3.layers.BatchNormalization):
            g, b, m, v = layer.get_weights()
            layer.set_weights([rng.uniform(0.5, 1.5, g.shape), rng.normal(0, 0.1, b.shape),
                               rng.normal(0, 0.1, m.shape), rng.uniform(0.5, 1.5, v.shape)])
    return model
