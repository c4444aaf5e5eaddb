"""Fixtures for the export tests: tiny models trained on scikit-learn's 8x8 digits."""

import numpy as np
import pytest

from tfprune.compat import keras


@pytest.fixture(scope="session")
def digits_data():
    from sklearn.datasets import load_digits

    x, y = load_digits(return_X_y=True)
    x = (x / 16.0).astype("float32").reshape(-1, 8, 8, 1)
    order = np.random.default_rng(0).permutation(len(x))
    tr, te = order[:1500], order[1500:]
    return (x[tr], y[tr]), (x[te], y[te])


def _train(model, data, epochs=8):
    (xtr, ytr), _ = data
    model.compile("adam", keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    model.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0)
    return model


@pytest.fixture(scope="session")
def digits_cnn(digits_data):
    """Conv8-Pool-Flatten-Dense32-Dense10 trained for a few seconds (about 95% accuracy)."""
    keras.utils.set_random_seed(7)
    L = keras.layers
    model = keras.Sequential([
        keras.Input((8, 8, 1)),
        L.Conv2D(8, 3, activation="relu", padding="same", name="conv"),
        L.MaxPooling2D(name="pool"),
        L.Flatten(name="flat"),
        L.Dense(32, activation="relu", name="fc"),
        L.Dense(10, name="logits"),
    ], name="digits_cnn")
    return _train(model, digits_data)


@pytest.fixture(scope="session")
def sparse_mlp():
    """A float MLP whose first kernel is 90% zeros (random positions)."""
    keras.utils.set_random_seed(3)
    L = keras.layers
    model = keras.Sequential([keras.Input((64,)), L.Dense(64, activation="relu", name="d1"),
                              L.Dense(10, name="d2")], name="sparse_mlp")
    w, b = model.layers[0].get_weights()
    w[np.random.default_rng(0).random(w.shape) < 0.9] = 0.0
    model.layers[0].set_weights([w, b])
    return model


@pytest.fixture
def mlp64():
    L = keras.layers
    return keras.Sequential([keras.Input((64,)), L.Dense(32, activation="relu", name="d1"),
                             L.Dense(10, name="d2")], name="mlp64")
