"""The Keras 3 applications of the zoo tests (weights=None, 32x32 inputs, 10 classes).

Built by the ``keras.applications`` builders at reduced depth: the same blocks, joins and layer
names as MobileNetV2, ResNet50, EfficientNetB0, ConvNeXtTiny and InceptionResNetV2, fewer repeats (every block
kind still appears, with and without its residual add). The full-depth models are
`bench/coverage.py`'s cells; here they cost a minute of the suite for no path the shallow ones
miss.
"""

import keras as keras3
from keras.src.applications import convnext as _convnext
from keras.src.applications import efficientnet as _efficientnet
from keras.src.applications import inception_resnet_v2 as _inception_resnet_v2
from keras.src.applications import mobilenet_v2 as _mobilenet_v2
from keras.src.applications import resnet as _resnet

L = keras3.layers
_HEAD = dict(weights=None, input_shape=(32, 32, 3), classes=10, classifier_activation=None)


def mobilenet_v2(alpha=0.35):
    """MobileNetV2's stem, its first five inverted-residual blocks (expansion 1, stride 2, two
    residual adds) and its Conv_1 head, instead of 17 blocks."""
    inp = keras3.Input((32, 32, 3))
    x = L.Conv2D(16, 3, strides=2, padding="same", use_bias=False, name="Conv1")(inp)
    x = L.ReLU(6.0, name="Conv1_relu")(L.BatchNormalization(epsilon=1e-3, name="bn_Conv1")(x))
    for block_id, (filters, stride, expansion) in enumerate(
            [(16, 1, 1), (24, 2, 6), (24, 1, 6), (32, 2, 6), (32, 1, 6)]):
        x = _mobilenet_v2._inverted_res_block(x, expansion, stride, alpha, filters, block_id)
    x = L.Conv2D(1280, 1, use_bias=False, name="Conv_1")(x)
    x = L.ReLU(6.0, name="out_relu")(L.BatchNormalization(epsilon=1e-3, name="Conv_1_bn")(x))
    out = L.Dense(10, name="predictions")(L.GlobalAveragePooling2D()(x))
    return keras3.Model(inp, out, name="mobilenetv2_short")


def resnet_bottleneck(blocks=(2, 1, 1, 1)):
    """ResNet50's bottleneck stacks conv2..conv5, ``blocks`` repeats each instead of 3/4/6/3."""

    def stacks(x):
        x = _resnet.stack_residual_blocks_v1(x, 64, blocks[0], stride1=1, name="conv2")
        x = _resnet.stack_residual_blocks_v1(x, 128, blocks[1], name="conv3")
        x = _resnet.stack_residual_blocks_v1(x, 256, blocks[2], name="conv4")
        return _resnet.stack_residual_blocks_v1(x, 512, blocks[3], name="conv5")

    return _resnet.ResNet(stacks, False, True, name="resnet_short", **_HEAD)


def inception_resnet(width=64):
    """InceptionResNetV2's three residual block kinds (block35, block17, block8: branches
    joined by a 1x1 conv and added back through ``CustomScaleLayer``), one of each on a
    ``width``-channel stem, instead of 10/20/10 blocks on the 320-channel stem."""
    inp = keras3.Input((32, 32, 3))
    x = _inception_resnet_v2.conv2d_bn(inp, width, 3, strides=2, name="stem")
    for kind, scale in (("block35", 0.17), ("block17", 0.1), ("block8", 0.2)):
        x = _inception_resnet_v2.inception_resnet_block(x, scale, kind, 1)
    out = L.Dense(10, name="predictions")(L.GlobalAveragePooling2D()(x))
    return keras3.Model(inp, out, name="inception_resnet_short")


ZOO = {
    "MobileNetV2-short": mobilenet_v2,
    "ResNet50-short": resnet_bottleneck,
    # EfficientNetB0's seven MBConv stages (squeeze-excite, swish, drop-connect), half depth
    "EfficientNetB0-short": lambda: _efficientnet.EfficientNet(
        1.0, 0.5, 32, name="efficientnet_short", **_HEAD),
    "InceptionResNetV2-short": inception_resnet,
    # ConvNeXtTiny's stem, stages and downsampling, one or two blocks per stage (not 3/3/9/3)
    "ConvNeXtTiny-short": lambda: _convnext.ConvNeXt(
        depths=[1, 1, 2, 1], projection_dims=[96, 192, 384, 768], name="convnext_short",
        **_HEAD),
}
