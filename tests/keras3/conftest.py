"""Keras 3 test fixtures."""

import keras as keras3
import pytest


@pytest.fixture(autouse=True)
def _seed_keras3():
    keras3.utils.set_random_seed(1234)
    yield
