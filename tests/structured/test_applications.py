"""Coverage on real architectures (weights=None, small inputs): one-shot 50% channels,
shrink with parity and fewer MACs.

MobileNetV2, MobileNetV3Small, ResNet, DenseNet and EfficientNet are built from their
``keras.applications`` blocks at reduced depth (the same blocks, joins and layer names, fewer
repeats): the full-depth MobileNets, ResNet50, DenseNet121/169 and EfficientNetB0.. cells are
`bench/coverage.py`'s, and here they cost several minutes of the suite for no path the shallow
ones miss.
"""

import numpy as np
import pytest
from tf_keras.src.applications import densenet as _densenet
from tf_keras.src.applications import efficientnet as _efficientnet
from tf_keras.src.applications import mobilenet_v2 as _mobilenet_v2
from tf_keras.src.applications import mobilenet_v3 as _mobilenet_v3
from tf_keras.src.applications import resnet as _resnet

from tfprune import graph
from tfprune import structured as S
from tfprune.compat import keras


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


def _resnet_bottleneck(blocks=(2, 2, 2, 2)):
    """ResNet50's bottleneck stacks (conv2..conv5), ``blocks`` repeats each instead of 3/4/6/3."""

    def stacks(x):
        x = _resnet.stack1(x, 64, blocks[0], stride1=1, name="conv2")
        x = _resnet.stack1(x, 128, blocks[1], name="conv3")
        x = _resnet.stack1(x, 256, blocks[2], name="conv4")
        return _resnet.stack1(x, 512, blocks[3], name="conv5")

    return _resnet.ResNet(stacks, False, True, "resnet_small", weights=None,
                          input_shape=(32, 32, 3), classes=10, classifier_activation=None)


def _short_mobilenet_v2(alpha=0.35):
    """MobileNetV2's stem, its first five inverted-residual blocks (expansion 1, stride 2, two
    residual adds) and its Conv_1 head, instead of 17 blocks."""
    L = keras.layers
    _mobilenet_v2.layers = L  # what MobileNetV2() sets this module global to before its blocks
    inp = keras.Input((32, 32, 3))
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="Conv1")(inp)
    x = L.ReLU(6.0, name="Conv1_relu")(L.BatchNormalization(epsilon=1e-3, name="bn_Conv1")(x))
    for block_id, (filters, stride, expansion) in enumerate(
            [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6)]):
        x = _mobilenet_v2._inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    x = L.Conv2D(1280, 1, use_bias=False, name="Conv_1")(x)
    x = L.ReLU(6.0, name="out_relu")(L.BatchNormalization(epsilon=1e-3, name="Conv_1_bn")(x))
    return keras.Model(inp, L.Dense(10, name="predictions")(L.GlobalAveragePooling2D()(x)))


def _short_mobilenet_v3_small(alpha=0.75):
    """MobileNetV3Small's stem, head and blocks 0..4 (relu with and without squeeze-excite, a
    residual add, hard-swish with squeeze-excite and a residual add) instead of 11 blocks."""
    v3 = _mobilenet_v3

    def stacks(x, kernel, activation, se_ratio):
        def depth(d):
            return v3._depth(d * alpha)

        x = v3._inverted_res_block(x, 1, depth(16), 3, 2, se_ratio, v3.relu, 0)
        x = v3._inverted_res_block(x, 72.0 / 16, depth(24), 3, 2, None, v3.relu, 1)
        x = v3._inverted_res_block(x, 88.0 / 24, depth(24), 3, 1, None, v3.relu, 2)
        x = v3._inverted_res_block(x, 4, depth(40), kernel, 2, se_ratio, activation, 3)
        return v3._inverted_res_block(x, 6, depth(40), kernel, 1, se_ratio, activation, 4)

    return v3.MobileNetV3(stacks, 1024, (32, 32, 3), alpha, "small", weights=None, classes=10,
                          classifier_activation=None)


@pytest.mark.slow
def test_mobilenet_v2_shrinks_with_parity():
    m = _short_mobilenet_v2()
    p = _check(m, 32)
    assert p.removed > 0.4 * sum(p.channels.values())


@pytest.mark.slow
def test_mobilenet_v3_small_hard_swish_and_se_shrink_with_parity():
    m = _short_mobilenet_v3_small()
    g = graph.build(m)
    se = g.group_of("expanded_conv/squeeze_excite/Conv")
    assert se.prunable and "expanded_conv/squeeze_excite/Mul" not in se.layers()
    _check(m, 32)


@pytest.mark.slow
def test_resnet_bottleneck_shrinks_with_parity():
    # a projection shortcut opens every stack; conv3 adds one identity-shortcut block
    _check(_resnet_bottleneck((1, 2, 1, 1)), 32)


@pytest.mark.slow
def test_densenet_concat_offsets_shrink_with_parity():
    # DenseNet121's dense blocks and transitions, 2 conv blocks in the first dense block (a
    # concat of a concat) and 1 in the others instead of 6..24
    _check(
        _densenet.DenseNet([2, 1, 1, 1], weights=None, input_shape=(32, 32, 3), classes=10,
                           classifier_activation=None),
        32,
    )


@pytest.mark.slow
def test_efficientnet_shrinks_with_parity():
    # EfficientNetB0's seven MBConv stages (squeeze-excite, swish), one block each but the
    # fourth's two (its second has the residual add and drop-connect): 8 blocks, not 16
    blocks = [dict(a, repeats=2 if i == 3 else 1)
              for i, a in enumerate(_efficientnet.DEFAULT_BLOCKS_ARGS)]
    _check(
        _efficientnet.EfficientNet(1.0, 1.0, 32, weights=None, input_shape=(32, 32, 3),
                                   blocks_args=blocks, classes=10, classifier_activation=None),
        32,
    )


@pytest.mark.slow
def test_resnet_blocks_can_be_dropped():
    m = _resnet_bottleneck()  # 8 bottleneck blocks, 4 of them with an identity shortcut
    small, report = S.drop_blocks(m, 2)
    assert len(report.blocks) == 4 and len(report.dropped) == 2
    assert len(small.layers) < len(m.layers)
    assert small(np.zeros((1, 32, 32, 3), "float32")).shape == (1, 10)
