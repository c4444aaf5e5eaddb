"""pytest's hook for the doctests of the package (``pytest --doctest-modules tfprune``):
every doctest starts from the same random seed as the tests do (tests/conftest.py), so an
example's printed result does not depend on the random initial weights of the run.

It is read by pytest only; nothing in tfprune imports it.
"""

import pytest

from tfprune.compat import keras


@pytest.fixture(autouse=True)
def _seed():
    """The seed of tests/conftest.py, for every doctest of the package."""
    keras.utils.set_random_seed(1234)
    yield
