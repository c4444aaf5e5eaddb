"""tfprune.core.criteria.activation: channel scores from activation statistics."""

import numpy as np

import tfprune
from tfprune.compat import keras

from ._fitted import cnn as _cnn
from ._fitted import data as _data


def test_apoz_counts_zeros_after_relu_per_channel():
    x, y = _data(16)
    m = _cnn()
    p = tfprune.one_shot(m, 0.5, criterion="apoz", data=x, exclude=["fc"])
    act = keras.Model(m.input, m.get_layer("conv").output)(x).numpy()
    zero_frac = (act <= 0).reshape(-1, 4).mean(axis=0)
    w = tfprune.masking.pruner.wrapped_layers(p)[0]
    np.testing.assert_allclose(w.statistics(0)["act_zero"].numpy(), zero_frac, rtol=1e-6)
    kept = w.pruning_vars[0][1].numpy().reshape(-1, 4).max(axis=0)
    assert set(np.argsort(zero_frac, kind="stable")[:2]) == set(np.flatnonzero(kept))
    assert not w.pruning_vars[1][1].numpy()[kept == 0].any()  # the bias goes with them
