"""Fit epoch time: a pruned Keras 3 model trained with Keras 3 objects (translated path) vs
the same pruned model built in tf_keras and trained with tf_keras objects. Interleaved, the
order alternating pair by pair; writes bench/results/keras3_fit_time.json."""
import json
import os
import time
from pathlib import Path

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

REPS = 6
res = {True: [], False: []}
ratios = []
for rep in range(REPS):
    order = (False, True) if rep % 2 == 0 else (True, False)  # alternate: load drifts
    epochs = {tr: run(tr)[1:] for tr in order}  # steady epochs only
    for tr in order:
        res[tr].extend(epochs[tr])
    ratios.append(float(np.median(epochs[True]) / np.median(epochs[False])))
for tr in (False, True):
    print("translated" if tr else "plain tf_keras", "median steady epoch s:", round(float(np.median(res[tr])), 4), "n=", len(res[tr]))
ratio = float(np.median(res[True]) / np.median(res[False]))
print("ratio translated/plain:", round(ratio, 3), "per-pair ratios:", [round(r, 2) for r in ratios])
out = Path(__file__).resolve().parent / "results" / "keras3_fit_time.json"
tmp = out.with_suffix(".json.tmp")
tmp.write_text(json.dumps({"command": "python bench/keras3_fit_time.py", "reps": REPS,
                           "plain_median_epoch_s": float(np.median(res[False])),
                           "translated_median_epoch_s": float(np.median(res[True])),
                           "ratio": ratio, "pair_ratios": ratios,
                           "load_average": os.getloadavg()[0]}, indent=1))
os.replace(tmp, out)
