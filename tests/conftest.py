import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import pytest  # noqa: E402

import tfprune  # noqa: E402,F401  (sets up tf_keras before TensorFlow)
from tfprune.compat import keras  # noqa: E402

# helper scripts run in subprocesses by the tests; never import them while collecting
collect_ignore_glob = ["scripts/*",
                       # imported by the tests as tests.masking._keras3_models: collected by
                       # --doctest-modules it would be imported a second time (masking.*),
                       # registering its Keras classes again under the same names
                       "masking/_keras3_models.py"]


@pytest.fixture(autouse=True)
def _seed():
    keras.utils.set_random_seed(1234)
    yield


@pytest.fixture
def small_cnn():
    """A tiny Functional CNN covering conv, depthwise, separable and dense layers."""
    L = keras.layers
    inp = keras.Input((8, 8, 3))
    x = L.Conv2D(8, 3, activation="relu", name="conv")(inp)
    x = L.DepthwiseConv2D(3, name="dw")(x)
    x = L.SeparableConv2D(8, 3, name="sep")(x)
    x = L.Flatten(name="flat")(x)
    out = L.Dense(4, name="head")(x)
    return keras.Model(inp, out, name="small_cnn")


@pytest.fixture
def mlp():
    L = keras.layers
    return keras.Sequential([keras.Input((6,)), L.Dense(16, activation="relu", name="d1"),
                             L.Dense(16, activation="relu", name="d2"), L.Dense(3, name="d3")],
                            name="mlp")


@pytest.fixture
def xy():
    rng = np.random.default_rng(0)
    return rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, size=64)


@pytest.fixture
def keras3_subclassed():
    """A built subclassed Keras 3 model ``K3`` (one Dense(2) on 3 inputs) whose ``__init__`` takes
    no ``**kwargs`` (so ``from_config`` cannot copy it): copies are refused naming the class,
    pruning offers ``inplace=True``; export needs no copy (Keras 3 is imported here, not at
    collection)."""
    import keras as keras3

    class K3(keras3.Model):
        def __init__(self):
            super().__init__()
            self.d = keras3.layers.Dense(2)

        def call(self, x):
            return self.d(x)

    m = K3()
    m(np.zeros((1, 3), "float32"))
    return m
