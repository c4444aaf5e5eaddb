"""Fixtures shared by the masking tests."""

import numpy as np
import pytest


@pytest.fixture
def keras3_subclassed():
    """A built subclassed Keras 3 model ``K3`` (one Dense(2) on 3 inputs), which tfprune refuses
    naming the class and the fix (Keras 3 is imported here, as the tests did, not at collection)."""
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
