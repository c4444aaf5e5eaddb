"""Fixtures shared by the tests of tfprune.measure (test_probe.py, test_cutpoints.py)."""

import pytest

from tfprune.compat import keras

L = keras.layers


def _deep():
    keras.utils.set_random_seed(0)
    i = keras.Input((6,))
    x = L.Dense(6, activation="relu", name="d0")(i)
    for k in range(1, 24):
        y = L.Dense(6, activation="tanh", name=f"d{k}")(x)
        x = L.Add(name=f"a{k}")([x, y]) if k % 4 == 0 else y
    return keras.Model(i, L.Dense(3, name="out")(x))


@pytest.fixture
def deep():
    """``deep()``: a new 6 -> 3 model of 24 Dense layers, every 4th added to its input
    (residual joins, so only some layers are single-tensor cut points); seed 0."""
    return _deep
