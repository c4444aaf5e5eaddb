"""Run in a subprocess by tests/test_stats.py: 2 logical CPUs must exist before TF starts."""

import json
import sys


def main():

    import tensorflow as tf

    import tfprune  # noqa: F401  (tf_keras first)

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)

    import numpy as np

    from tfprune.compat import keras

    L = keras.layers
    def build(crit):  # noqa: E306
        keras.utils.set_random_seed(0)
        m = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu", name="d1"),
                              L.Dense(3, name="d2")])
        p = tfprune.prune(m, sparsity=0.5, criterion=crit)
        p.compile(keras.optimizers.SGD(0.1),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
        return p


    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])  # one per process
    for crit in sys.argv[1:] or ["taylor"]:  # one TensorFlow start for every criterion
        out = {}
        for mode in ("single", "mirrored"):
            if mode == "mirrored":
                with strategy.scope():
                    p = build(crit)
            else:
                p = build(crit)
            p.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False,
                  callbacks=[tfprune.PruningCallback()])
            w = tfprune.masking.pruner.wrapped_layers(p)[0]
            out[mode] = {v.name.split("/")[-1]: np.asarray(v.read_value()).tolist()
                         for v in w.stat_variables()}
            out[mode]["mask"] = np.asarray(w.pruning_vars[0][1].read_value()).tolist()
        print(f"RESULT {crit} " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
