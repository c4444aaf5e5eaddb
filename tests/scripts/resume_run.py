"""Pruning run for the kill-and-resume test.

usage: resume_run.py MODE SCOPE BACKUP_DIR OUT_JSON
MODE: "full" (uninterrupted), "killed" (dies after epoch 2), "resume" (continues a killed run).
"""
import json
import os
import sys

import tensorflow as tf

tf.config.experimental.enable_op_determinism()

import numpy as np  # noqa: E402

import tfprune  # noqa: E402
from tfprune.compat import keras  # noqa: E402

mode, scope, backup, out = sys.argv[1:5]
rng = np.random.default_rng(0)
x = rng.normal(size=(96, 6)).astype("float32")
y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
keras.utils.set_random_seed(0)
model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(24, activation="relu", name="a"),
                          keras.layers.Dense(3, name="b")])
p = tfprune.prune(model, schedule=tfprune.schedules.AGP(0.8, end_step=20, frequency=2),
                  scope=scope)
p.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(True))


class Die(keras.callbacks.Callback):
    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:
            os._exit(17)  # a crash right after the epoch-2 backup was written


callbacks = [tfprune.PruningCallback()]
if mode != "full":
    callbacks.append(keras.callbacks.BackupAndRestore(backup))
if mode == "killed":
    callbacks.append(Die())
p.fit(x, y, batch_size=12, epochs=4, shuffle=False, verbose=0, callbacks=callbacks)
with open(out, "w") as f:
    json.dump({"step": tfprune.masking.pruner.global_step(p),
               "masks": [m.numpy().tolist() for w in tfprune.masking.pruner.wrapped_layers(p)
                         for _, m, _ in w.pruning_vars],
               "weights": [v.tolist() for v in p.get_weights()]}, f)
