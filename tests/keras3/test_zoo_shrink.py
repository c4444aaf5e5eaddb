"""MobileNetV2 (Keras 3, reduced depth: see _zoo.py) channel-pruned and shrunk without leaving
Keras 3.

(Apart from test_zoo.py so the two pytest-xdist workers share the zoo.)
"""

import keras as keras3
import numpy as np
import pytest

import tfprune
from tfprune import compat

from ._models import rel_err
from ._zoo import ZOO


@pytest.mark.slow
def test_mobilenetv2_channel_shrink_in_keras3():
    keras3.utils.set_random_seed(0)
    m3 = ZOO["MobileNetV2-short"]()
    x = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    plan = tfprune.structured.plan(m3, sparsity=0.5)
    masked = tfprune.structured.apply_masks(m3, plan)
    shrunk = tfprune.shrink(masked, plan)
    assert isinstance(shrunk, keras3.Model)
    err = rel_err(shrunk(x), masked(x))
    macs = tfprune.structured.count_macs
    before, after = macs(compat.to_tf_keras(masked)), macs(compat.to_tf_keras(shrunk))
    print(f"\nMobileNetV2 shrink: rel err {err:.2e}, MACs {before} -> {after}")
    assert err <= 1e-5 and after < 0.6 * before
