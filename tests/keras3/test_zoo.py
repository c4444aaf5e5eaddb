"""Keras 3 applications (weights=None, small inputs) through the translator and the path.

Each architecture is built and translated once per module. Parity figures:
``.venv/bin/python -m pytest -q tests/keras3/test_zoo.py -m slow -s`` prints them.
"""

import keras as keras3
import numpy as np
import pytest

import tfprune
from tfprune import compat

from ._models import rel_err

A = keras3.applications
ZOO = {
    "MobileNetV2": lambda: A.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, weights=None,
                                         classes=10, classifier_activation=None),
    "ResNet50": lambda: A.ResNet50(input_shape=(32, 32, 3), weights=None, classes=10,
                                   classifier_activation=None),
    "EfficientNetB0": lambda: A.EfficientNetB0(input_shape=(32, 32, 3), weights=None,
                                               classes=10, classifier_activation=None),
    "ConvNeXtTiny": lambda: A.ConvNeXtTiny(input_shape=(32, 32, 3), weights=None, classes=10,
                                           classifier_activation=None),
}


@pytest.fixture(scope="module", params=sorted(ZOO))
def translated(request):
    keras3.utils.set_random_seed(0)
    m3 = ZOO[request.param]()
    x = np.random.default_rng(0).uniform(0, 255, (2, 32, 32, 3)).astype("float32")
    m2 = compat.to_tf_keras(m3)
    back = compat.to_keras3(m2)
    return request.param, m3, m2, back, x


@pytest.mark.slow
def test_zoo_round_trip_parity(translated):
    name, m3, m2, back, x = translated
    ref = np.asarray(m3(x))
    fwd, rev = rel_err(m2(x), ref), rel_err(back(x), ref)
    print(f"\n{name}: Keras 3 -> tf_keras max rel err {fwd:.2e}, back to Keras 3 {rev:.2e}")
    assert fwd <= 1e-5 and rev <= 1e-5
    assert m2.count_params() == m3.count_params() == back.count_params()
    names3 = {layer.name for layer in m3.layers}
    assert names3 <= {layer.name for layer in back.layers}


@pytest.mark.slow
def test_mobilenetv2_channel_shrink_in_keras3():
    keras3.utils.set_random_seed(0)
    m3 = ZOO["MobileNetV2"]()
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
