"""Subclassed Keras 3 models shared by the tests of masking/keras3_*.py."""

import numpy as np
import pytest

from tfprune.masking import keras3_slots

keras = pytest.importorskip("keras")


@keras.saving.register_keras_serializable("tfprune_tests_k3sub")
class MLP(keras.Model):
    def __init__(self, units=16, **kwargs):
        super().__init__(**kwargs)
        self.units = units
        self.fc1 = keras.layers.Dense(units, activation="relu", name="fc1")
        self.fc2 = keras.layers.Dense(3, name="fc2")

    def call(self, x):
        return self.fc2(self.fc1(x))

    def get_config(self):
        return {**super().get_config(), "units": self.units}


class Block(keras.layers.Layer):
    """A custom layer holding a conv and a BatchNormalization: walked into."""

    def __init__(self, filters, **kwargs):
        super().__init__(**kwargs)
        self.conv = keras.layers.Conv2D(filters, 3, padding="same", name="conv")
        self.bn = keras.layers.BatchNormalization(name="bn")

    def call(self, x, training=None):
        return keras.ops.relu(self.bn(self.conv(x), training=training))


@keras.saving.register_keras_serializable("tfprune_tests_k3sub")
class ConvNet(keras.Model):
    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.block = Block(8, name="block")
        self.conv2 = keras.layers.Conv2D(8, 3, name="conv2")
        self.bn2 = keras.layers.BatchNormalization(name="bn2")
        self.pool = keras.layers.GlobalAveragePooling2D()
        self.head = keras.layers.Dense(4, name="head")

    def call(self, x, training=None):
        x = keras.ops.relu(self.bn2(self.conv2(self.block(x, training=training)),
                                    training=training))
        return self.head(self.pool(x))


def _mlp():
    m = MLP()
    m(np.zeros((1, 8), "float32"))
    return m


def _conv():
    m = ConvNet()
    m(np.zeros((1, 8, 8, 3), "float32"))
    return m


def _data(shape, classes, n=64):
    rng = np.random.default_rng(0)
    return rng.normal(size=(n, *shape)).astype("float32"), rng.integers(0, classes, n)


def _zero_frac(v):
    return float((np.asarray(v) == 0).mean())


def _compile(m):
    m.compile(keras.optimizers.Adam(1e-2),
              keras.losses.SparseCategoricalCrossentropy(from_logits=True),
              metrics=[keras.metrics.SparseCategoricalAccuracy()])


def _kernels(m):
    return {layer.name: layer.kernel.numpy() for layer, _ in keras3_slots.prunable(m)}
