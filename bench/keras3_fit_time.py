"""Fit epoch time: a pruned Keras 3 model trained with Keras 3 objects (translated path) vs
the same pruned model built in tf_keras and trained with tf_keras objects. Interleaved."""
import time

import keras as k3
import numpy as np
import tf_keras
from sklearn.datasets import load_digits

import tfprune

x, y = load_digits(return_X_y=True)
x = (x / 16).astype("float32").reshape(-1, 8, 8, 1)

def k3_model():
    L = k3.layers
    return k3.Sequential([k3.Input((8, 8, 1)), L.Conv2D(16, 3, name="c"), L.BatchNormalization(name="bn"),
                          L.ReLU(), L.Flatten(), L.Dense(32, activation="relu", name="d"), L.Dense(10, name="o")])

class T(tf_keras.callbacks.Callback):
    def on_train_begin(self, logs=None): self.t = []
    def on_epoch_begin(self, e, logs=None): self.s = time.perf_counter()
    def on_epoch_end(self, e, logs=None): self.t.append(time.perf_counter() - self.s)

def run(translated, epochs=6):
    m3 = k3_model()
    if translated:
        p = tfprune.prune(m3, sparsity=0.5)
        p.compile(k3.optimizers.Adam(1e-3), k3.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        cbs = [k3.callbacks.EarlyStopping(monitor="loss", patience=50)]
    else:
        p = tfprune.prune(tfprune.compat.to_tf_keras(m3), sparsity=0.5)
        p.compile(tf_keras.optimizers.Adam(1e-3), tf_keras.losses.SparseCategoricalCrossentropy(from_logits=True), metrics=["accuracy"])
        cbs = [tf_keras.callbacks.EarlyStopping(monitor="loss", patience=50)]
    t = T()
    p.fit(x, y, epochs=epochs, batch_size=32, verbose=0, callbacks=[tfprune.PruningCallback(), *cbs, t])
    return t.t

res = {True: [], False: []}
for _rep in range(3):
    for tr in (False, True):
        res[tr].extend(run(tr)[1:])  # steady epochs only
for tr in (False, True):
    print("translated" if tr else "plain tf_keras", "median steady epoch s:", round(float(np.median(res[tr])), 4), "n=", len(res[tr]))
print("ratio translated/plain:", round(float(np.median(res[True]) / np.median(res[False])), 3))
