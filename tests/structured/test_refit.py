"""tfprune.structured.refit: a channel plan applied and its consumers refitted by least squares."""

import numpy as np
import pytest

from tests.analysis.test_compensate import _out
from tfprune import errors, structured
from tfprune.analysis.allocate import allocate
from tfprune.compat import keras
from tfprune.structured.refit import compensate

L = keras.layers


@pytest.mark.slow
def test_refit_restores_outputs_and_shrinks_exactly():
    keras.utils.set_random_seed(0)
    m = keras.Sequential([keras.Input((6, 6, 2)),
                          L.Conv2D(12, 3, padding="same", activation="relu", name="c1"),
                          L.Conv2D(8, 3, activation="relu", name="c2"), L.Flatten(),
                          L.Dense(10, activation="relu", name="fc"), L.Dense(3, name="out")])
    x = np.random.default_rng(0).random((256, 6, 6, 2), dtype=np.float32)
    before = [w.copy() for w in m.get_weights()]
    p = allocate(m, sparsity=0.5, method="uniform", granularity="channel").plan(m)
    ref = _out(m, x)
    plain = _out(structured.apply_masks(m, p), x)
    comp = compensate(m, p, x)
    out = _out(comp, x)
    assert np.mean((out - ref) ** 2) < 0.5 * np.mean((plain - ref) ** 2)
    np.testing.assert_allclose(_out(structured.shrink(comp), x), out, atol=1e-4)
    for a, b in zip(before, m.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)


def test_too_little_data():
    m = keras.Sequential([keras.Input((4,)), L.Dense(4, name="h"), L.Dense(2, name="o")])
    with pytest.raises(errors.ConfigError, match="3 calibration samples"):
        compensate(m, structured.Plan({"h": (0, 1)}, {"h": 4}), np.ones((3, 4), "float32"))
