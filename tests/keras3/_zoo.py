"""The Keras 3 applications of the zoo tests (weights=None, 32x32 inputs, 10 classes)."""

import keras as keras3

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
