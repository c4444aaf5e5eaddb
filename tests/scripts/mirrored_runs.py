"""Run by tests/masking/test_distribute.py in a subprocess (2 logical CPUs must exist before
TensorFlow starts): one TensorFlow start for every MirroredStrategy comparison.

usage: mirrored_runs.py
Prints one line ``RESULT masks <json>`` (a pruned MLP trained on one device and under
MirroredStrategy, per scope: masks, kernels, step) and one line ``RESULT stats-<criterion>
<json>`` per criterion (the statistic variables and mask of the first layer of that criterion's
pruned MLP, both ways; all criteria's MLPs are branches of one model, fitted once each way).
"""
import contextlib
import json

import tensorflow as tf

import tfprune  # (tf_keras first)

tf.config.set_logical_device_configuration(
    tf.config.list_physical_devices("CPU")[0],
    [tf.config.LogicalDeviceConfiguration(), tf.config.LogicalDeviceConfiguration()])

import numpy as np  # noqa: E402

from tfprune.compat import keras  # noqa: E402

SCOPES = ("layer", "global")
CRITERIA = ("taylor", "obd", "movement", "apoz")
L = keras.layers


def mask_run(strategy, scope, base):
    """Train a copy of ``base`` pruned to 70% under ``strategy``; its masks, kernels, step."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(128, 6)).astype("float32")
    y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)
    with strategy.scope():
        m = keras.models.clone_model(base)
        m.set_weights(base.get_weights())
        p = tfprune.prune(m, schedule=tfprune.schedules.AGP(0.7, end_step=12, frequency=3),
                          scope=scope)
        p.compile(keras.optimizers.SGD(0.05),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    p.fit(x, y, batch_size=16, epochs=2, shuffle=False, verbose=0,
          callbacks=[tfprune.PruningCallback()])
    wrapped = tfprune.masking.pruner.wrapped_layers(p)
    return {"masks": [m.numpy().tolist() for w in wrapped for _, m, _ in w.pruning_vars],
            "kernels": [w.layer.kernel.numpy().tolist() for w in wrapped],
            "step": tfprune.masking.pruner.global_step(p),
            "replicas": strategy.num_replicas_in_sync}


def first_layer_stats(branch):
    """The statistic variables and the mask of ``branch``'s first pruned layer."""
    w = tfprune.masking.pruner.wrapped_layers(branch)[0]
    out = {v.name.split("/")[-1]: np.asarray(v.read_value()).tolist() for v in w.stat_variables()}
    out["mask"] = np.asarray(w.pruning_vars[0][1].read_value()).tolist()
    return out


def stats_run(strategy):
    """Fit, for one epoch under ``strategy`` (None: no strategy at all, the default one), one
    model whose branches are the same MLP (d1, d2) pruned to 50% by each data criterion
    (outputs summed: one fit, one trace, for every criterion); by criterion, the statistic
    variables and mask of its branch's d1."""
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(64, 6)).astype("float32"), rng.integers(0, 3, 64)
    with strategy.scope() if strategy else contextlib.nullcontext():
        keras.utils.set_random_seed(0)
        inp = keras.Input((6,))
        branches = {}
        for crit in CRITERIA:
            m = keras.Sequential([keras.Input((6,)), L.Dense(8, activation="relu", name="d1"),
                                  L.Dense(3, name="d2")], name=f"mlp_{crit}")
            branches[crit] = tfprune.prune(m, sparsity=0.5, criterion=crit)
        p = keras.Model(inp, L.Add()([b(inp) for b in branches.values()]))
        p.compile(keras.optimizers.SGD(0.1),
                  keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    p.fit(x, y, batch_size=16, epochs=1, verbose=0, shuffle=False,
          callbacks=[tfprune.PruningCallback()])
    return {crit: first_layer_stats(b) for crit, b in branches.items()}


def main():
    mirrored = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    single = tf.distribute.OneDeviceStrategy("/cpu:0")
    keras.utils.set_random_seed(0)
    base = keras.Sequential([keras.Input((6,)), L.Dense(32, activation="relu", name="a"),
                             L.Dense(3, name="b")])
    masks = {scope: {"one": mask_run(single, scope, base), "two": mask_run(mirrored, scope, base)}
             for scope in SCOPES}
    print("RESULT masks " + json.dumps(masks), flush=True)
    single, two = stats_run(None), stats_run(mirrored)
    for crit in CRITERIA:
        out = {"single": single[crit], "mirrored": two[crit]}
        print(f"RESULT stats-{crit} " + json.dumps(out), flush=True)


if __name__ == "__main__":
    main()
