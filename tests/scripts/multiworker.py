"""One worker of a 2-worker MultiWorkerMirroredStrategy run on loopback; prints its masks.

usage: multiworker.py INDEX PORT0 PORT1
"""
import json
import os
import sys

index, ports = int(sys.argv[1]), sys.argv[2:4]
os.environ["TF_CONFIG"] = json.dumps({
    "cluster": {"worker": [f"localhost:{p}" for p in ports]},
    "task": {"type": "worker", "index": index}})

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tfprune  # noqa: E402
from tfprune.compat import keras  # noqa: E402

strategy = tf.distribute.MultiWorkerMirroredStrategy()
rng = np.random.default_rng(0)
x = rng.normal(size=(128, 6)).astype("float32")
y = (x[:, 0] > 0).astype("int64")
keras.utils.set_random_seed(0)
with strategy.scope():
    m = keras.Sequential([keras.Input((6,)), keras.layers.Dense(16, activation="relu"),
                          keras.layers.Dense(2)])
    p = tfprune.prune(m, schedule=tfprune.schedules.AGP(0.7, end_step=10, frequency=2))
    p.compile(keras.optimizers.SGD(0.05), keras.losses.SparseCategoricalCrossentropy(True))
options = tf.data.Options()
options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16).with_options(options)
p.fit(ds, epochs=2, verbose=0, callbacks=[tfprune.PruningCallback()])
print(json.dumps({"step": tfprune.masking.pruner.global_step(p),
                  "masks": [w.pruning_vars[0][1].numpy().tolist()
                            for w in tfprune.masking.pruner.wrapped_layers(p)]}))
