"""Data and fixtures shared by the tests of tfprune.data (test_data.py, test_checks.py,
test_forms.py): the test files import ``SPARSE``, ``X``, ``Y`` and ``Counting`` from here."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfprune.compat import keras

L = keras.layers
SPARSE = "sparse_categorical_crossentropy"
X = np.random.RandomState(0).uniform(size=(12, 4)).astype("float32")
Y = np.arange(12) % 3


class Counting:
    """An endless iterator of (x, y) batches that counts how many were pulled."""

    def __init__(self, nan_at=None):
        self.pulled, self.nan_at = 0, nan_at

    def __iter__(self):
        return self

    def __next__(self):
        self.pulled += 1
        x = X[:4].copy()
        if self.pulled == self.nan_at:
            x[1, 2] = np.nan
        return x, Y[:4]


def _dense():
    return keras.Sequential([keras.Input((4,)), L.Dense(8, activation="relu", name="fc1"),
                             L.Dense(3, name="fc2")], name="tiny")


def _flat(batches):
    return [tuple(np.asarray(p) for p in tf.nest.flatten(b)) for b in batches]


@pytest.fixture
def dense():
    """``dense()``: a new 4 -> 8 -> 3 tf_keras MLP named ``tiny`` (a fresh model per call)."""
    return _dense


@pytest.fixture
def flat():
    """``flat(batches)``: every batch flattened to a tuple of numpy arrays, to compare forms."""
    return _flat
