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


# The files that take longest (measured with `pytest --durations=0`), run first: pytest-xdist
# (`--dist loadfile`) hands files out in collection order, so a long file collected last
# would run alone at the end while the other workers idle. Order only; nothing is skipped.
LONGEST_FIRST = (
    "tests/app/test_cli.py", "tests/masking/test_distribute.py", "tests/test_readme.py",
    "tests/test_conformance.py", "tests/callbacks/test_resume.py",
    "tests/callbacks/test_execution.py", "tests/app/test_multi.py",
    "tests/masking/test_channels.py", "tests/callbacks/test_pruning.py",
    "tests/core/criteria/test_criteria.py", "tests/compat/test_compat.py",
    "tests/structured/test_applications.py", "tests/masking/test_multiworker.py",
    "tests/analysis/test_budget.py", "tests/keras3/test_seams.py",
    "tests/core/criteria/test_criteria_fit.py", "tests/masking/test_wrapper.py",
    "tests/callbacks/test_state_resume.py", "tests/test_readme_tail.py",
    "tests/test_quantization.py", "tests/keras3/test_path.py", "tests/tuning/test_processes.py",
    "tests/keras3/test_fidelity.py", "tests/callbacks/test_state.py",
    "notebooks/quickstart.ipynb", "notebooks/sensitivity_budgets_sweeps.ipynb",
    "notebooks/structured_mcu.ipynb", "notebooks/keras3.ipynb",
)


def pytest_collection_modifyitems(config, items):
    rank = {path: i for i, path in enumerate(LONGEST_FIRST)}
    root = config.rootpath

    def key(item):
        try:
            rel = item.path.relative_to(root).as_posix()
        except ValueError:
            return len(rank)
        return rank.get(rel, len(rank))

    items.sort(key=key)  # stable: each file's tests stay together, in their order
