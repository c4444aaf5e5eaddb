"""A 2-worker MultiWorkerMirroredStrategy run on loopback; each worker writes its masks.

usage: multiworker.py WORKDIR PORT0 PORT1
TensorFlow and tfprune are imported once; the two workers are processes forked from that state
(TensorFlow's runtime, and the worker's gRPC server, start in each child after its TF_CONFIG
is set). Worker ``i`` writes WORKDIR/worker-<i>.json ({"step", "masks"}). The parent prints
"worker <i> exit <code>" (or "signal <n>") as each ends; when one fails, the other (which
would wait for it forever) is killed.
"""
import json
import os
import signal
import sys
import traceback

import numpy as np
import tensorflow as tf

import tfprune
from tfprune.compat import keras

workdir, ports = sys.argv[1], sys.argv[2:4]


def worker(index):
    """Train the pruned model as worker ``index``; write its step and masks."""
    os.environ["TF_CONFIG"] = json.dumps({
        "cluster": {"worker": [f"localhost:{p}" for p in ports]},
        "task": {"type": "worker", "index": index}})
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
    out = {"step": tfprune.masking.pruner.global_step(p),
           "masks": [w.pruning_vars[0][1].numpy().tolist()
                     for w in tfprune.masking.pruner.wrapped_layers(p)]}
    with open(os.path.join(workdir, f"worker-{index}.json"), "w") as f:
        json.dump(out, f)


def start(index):
    """Fork worker ``index``; its pid."""
    pid = os.fork()
    if pid == 0:  # the child never returns here
        code = 1
        try:
            worker(index)
            code = 0
        except BaseException:
            traceback.print_exc()
        finally:
            sys.stderr.flush()
            os._exit(code)
    return pid


pids = {start(i): i for i in range(2)}
while pids:
    pid, status = os.wait()
    how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
           else f"exit {os.WEXITSTATUS(status)}")
    print("worker", pids.pop(pid), how, flush=True)
    if how != "exit 0":
        for other in pids:
            os.kill(other, signal.SIGKILL)
