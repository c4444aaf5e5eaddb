"""Fixtures shared by the tests of tfprune.data (test_checks.py, test_forms.py)."""

from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from tfprune.compat import keras

L = keras.layers


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
