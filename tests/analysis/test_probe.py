"""masking.probe: measuring with channels removed; the cut-point shortcut changes nothing."""

import numpy as np
import pytest

from tfprune.compat import keras
from tfprune.masking import probe

L = keras.layers


def _deep():
    keras.utils.set_random_seed(0)
    i = keras.Input((6,))
    x = L.Dense(6, activation="relu", name="d0")(i)
    for k in range(1, 24):
        y = L.Dense(6, activation="tanh", name=f"d{k}")(x)
        x = L.Add(name=f"a{k}")([x, y]) if k % 4 == 0 else y
    return keras.Model(i, L.Dense(3, name="out")(x))


@pytest.mark.slow
def test_cuts_give_the_same_measurements_as_the_whole_model():
    m = _deep()
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype("float32"), rng.integers(0, 3, 40)
    fn = probe.loss_metric(keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    cut = probe.ChannelProbe(m, probe.cache((x, y)), fn, cuts=2)
    whole = probe.ChannelProbe(m, probe.cache((x, y)), fn, cuts=0)
    assert len(m.layers) >= 30 and cut._runs and not whole._runs
    assert cut.base == whole.base
    for g in list(cut._runs)[-2:]:  # groups measured from a cut
        np.testing.assert_allclose(cut.deltas(g), whole.deltas(g), rtol=1e-5, atol=1e-6)
    before = [w.copy() for w in m.get_weights()]
    assert all((a == b).all() for a, b in zip(before, m.get_weights(), strict=True))


def test_cut_candidates_are_single_tensor_cuts():
    m = _deep()
    names = [m.layers[i].name for i in probe._cut_candidates(m)]
    assert "d3" in names and "d4" not in names  # a4 = d3 + d4 reads d3 after d4
