"""pytest's hook for the doctests of the package (``pytest --doctest-modules tfprune``).

Every doctest starts from the same random seed as the tests do (tests/conftest.py), so an
example's printed result does not depend on the random initial weights of the run; and the
examples that train or convert for seconds are marked ``slow`` like such tests, so
``make test-fast`` leaves them to ``make test``.

It is read by pytest only; nothing in tfprune imports it.
"""

import pytest

from tfprune.compat import keras

# doctests of 2 s or more on 2 shared cores (pytest --durations, the whole suite at once)
SLOW_DOCTESTS = frozenset({
    "tfprune.tuning.tuner.PruningTuner", "tfprune.app.builtin.mnist5k",
    "tfprune.export.micro_file.micro", "tfprune.quantization", "tfprune.tuning.trial",
    "tfprune.app.models", "tfprune.tuning.trial.sparsity_for_macs",
    "tfprune.callbacks.rigl.RigL", "tfprune.callbacks.pruning.PruningCallback",
    "tfprune.analysis.budget", "tfprune.callbacks.distill",
})


@pytest.fixture(autouse=True)
def _seed():
    """The seed of tests/conftest.py, for every doctest of the package."""
    keras.utils.set_random_seed(1234)
    yield


def pytest_collection_modifyitems(items):
    """Mark the doctests of :data:`SLOW_DOCTESTS` ``slow``."""
    for item in items:
        if isinstance(item, pytest.DoctestItem) and item.name in SLOW_DOCTESTS:
            item.add_marker(pytest.mark.slow)
