"""Fixtures shared by the app's test files."""

import numpy as np
import pytest

from tfprune.compat import keras


@pytest.fixture(scope="module")
def reg(tmp_path_factory):
    """A saved one-output regression model (``reg.keras``) and its data (``reg.npz``)."""
    L = keras.layers
    d = tmp_path_factory.mktemp("reg")
    m = keras.Sequential([keras.Input((6,)), L.Dense(16, activation="relu", name="fc1"),
                          L.Dense(16, activation="relu", name="fc2"), L.Dense(1, name="price")],
                         name="reg")
    m.save(d / "reg.keras")
    rng = np.random.default_rng(0)
    x = rng.random((120, 6), dtype=np.float32)
    np.savez(d / "reg.npz", x=x, y=(6 + 12 * x[:, 0] - 3 * x[:, 1]).astype("float32"))
    return d
