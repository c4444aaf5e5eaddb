"""masking/keras3_slots.py: the prunable weights of a subclassed Keras 3 model, its copy."""

import numpy as np
import pytest

import tfprune
from tests.masking._keras3_models import _zero_frac
from tfprune import errors  # noqa: F401
from tfprune.masking import keras3_slots

keras = pytest.importorskip("keras")


def test_uncopyable_model_offers_inplace(keras3_subclassed):
    m = keras3_subclassed  # __init__ takes no **kwargs: from_config cannot rebuild it
    with pytest.raises(errors.ModelTypeError, match=r"Cannot copy.*K3.*inplace=True"):
        tfprune.prune(m, sparsity=0.5)
    p = tfprune.one_shot(m, 0.5, inplace=True)
    assert p is m and _zero_frac(m.d.kernel) == 0.5


def test_prunable_finds_kernels_inside_custom_layers_and_copy_keeps_weights():
    from tests.masking._keras3_models import _conv

    m = _conv()
    names = sorted(layer.name for layer, _ in keras3_slots.prunable(m))
    assert names == ["conv", "conv2", "head"]  # the conv inside the custom Block is walked into
    c = keras3_slots.copy_model(m)
    assert type(c) is type(m) and c is not m
    for a, b in zip(m.weights, c.weights, strict=True):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
