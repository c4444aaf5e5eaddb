"""Train a pruned MLP on one device and under MirroredStrategy (2 logical CPUs); print masks."""
import json
import sys

import tensorflow as tf

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import numpy as np  # noqa: E402

import tfprune  # noqa: E402
from tfprune.compat import keras  # noqa: E402

rng = np.random.default_rng(0)
x = rng.normal(size=(128, 6)).astype("float32")
y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
keras.utils.set_random_seed(0)
base = keras.Sequential([keras.Input((6,)), keras.layers.Dense(32, activation="relu", name="a"),
                         keras.layers.Dense(3, name="b")])
weights = base.get_weights()


def run(strategy, scope):
    with strategy.scope():
        m = keras.models.clone_model(base)
        m.set_weights(weights)
        p = tfprune.prune(m, schedule=tfprune.schedules.AGP(0.7, end_step=12, frequency=3),
                          scope=scope)
        p.compile(keras.optimizers.SGD(0.05),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    p.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
          callbacks=[tfprune.PruningCallback()])
    masks = [m.numpy().tolist() for w in tfprune.masking.pruner.wrapped_layers(p)
             for _, m, _ in w.pruning_vars]
    kernels = [w.layer.kernel.numpy().tolist() for w in tfprune.masking.pruner.wrapped_layers(p)]
    return {"masks": masks, "kernels": kernels, "step": tfprune.masking.pruner.global_step(p),
            "replicas": strategy.num_replicas_in_sync}


mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
single = tf.distribute.OneDeviceStrategy("/cpu:0")
print(json.dumps({scope: {"one": run(single, scope), "two": run(mirrored, scope)}
                  for scope in sys.argv[1:]}))
