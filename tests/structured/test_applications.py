"""Coverage on real architectures (weights=None, small inputs): one-shot 50% channels,
shrink with parity and fewer MACs."""

import numpy as np
import pytest

from tfprune import graph
from tfprune import structured as S
from tfprune.compat import keras

A = keras.applications


def _randomize_bn(model):
    rng = np.random.RandomState(0)
    for layer in model.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()]
            )


def _check(model, size):
    _randomize_bn(model)
    p = S.plan(model, sparsity=0.5)
    masked = S.apply_masks(model, p)
    small = S.shrink(masked)
    x = np.random.RandomState(1).uniform(0, 255, (2, size, size, 3)).astype("float32")
    a, b = masked(x).numpy(), small(x).numpy()
    assert np.abs(a - b).max() <= 1e-5 * np.abs(a).max()
    assert S.count_macs(small) < 0.5 * S.count_macs(model)
    assert small.count_params() < model.count_params()
    return p


def test_mobilenet_v2_shrinks_with_parity():
    m = A.MobileNetV2(
        weights=None, input_shape=(32, 32, 3), alpha=0.35, classes=10, classifier_activation=None
    )
    p = _check(m, 32)
    assert p.removed > 0.4 * sum(p.channels.values())


def test_mobilenet_v3_small_hard_swish_and_se_shrink_with_parity():
    m = A.MobileNetV3Small(
        weights=None, input_shape=(32, 32, 3), alpha=0.75, classes=10, classifier_activation=None
    )
    g = graph.build(m)
    se = g.group_of("expanded_conv/squeeze_excite/Conv")
    assert se.prunable and "expanded_conv/squeeze_excite/Mul" not in se.layers()
    _check(m, 32)


@pytest.mark.slow
def test_resnet50_shrinks_with_parity():
    _check(
        A.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None),
        32,
    )


@pytest.mark.slow
def test_densenet121_concat_offsets_shrink_with_parity():
    _check(
        A.DenseNet121(
            weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
        ),
        32,
    )


@pytest.mark.slow
def test_efficientnet_b0_shrinks_with_parity():
    _check(
        A.EfficientNetB0(
            weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None
        ),
        32,
    )


@pytest.mark.slow
def test_resnet50_blocks_can_be_dropped():
    m = A.ResNet50(weights=None, input_shape=(32, 32, 3), classes=10)
    small, report = S.drop_blocks(m, 4)
    assert len(report.blocks) == 12 and len(report.dropped) == 4
    assert len(small.layers) < len(m.layers)
    assert small(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 10)
