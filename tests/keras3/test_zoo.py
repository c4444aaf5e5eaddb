"""Keras 3 applications (weights=None, small inputs, reduced depth: see _zoo.py) through the
translator and the path.

Each architecture is built and translated once per module. Parity figures:
``.venv/bin/python -m pytest -q tests/keras3/test_zoo.py -m slow -s`` prints them.
"""

import keras as keras3
import numpy as np
import pytest

from tfprune import compat

from ._models import rel_err
from ._zoo import ZOO


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
