"""Pruning runs for the kill-and-resume test, both scopes in each process.

usage: resume_run.py MODE WORKDIR
MODE "fork": TensorFlow starts once: this process forks a child that runs MODE "killed", prints
    "killed exit <code>", waits for a line on stdin (the test checks what the dead child left),
    then forks a child that runs MODE "resume" and prints "resume exit <code>". Each child is
    a process of its own that starts from this freshly imported state.
MODE "killed": for each scope, an uninterrupted run (WORKDIR/full-<scope>.json), then a run
    with BackupAndRestore (WORKDIR/bk-<scope>) that dies right after its epoch-2 backup: the
    "layer" run by an exception out of fit (on_train_end never runs, as in a crash), the
    "global" run by os._exit(17), which kills this process.
MODE "resume": for each scope, continues the killed run from its backup and writes
    WORKDIR/resume-<scope>.json.
"""
import json
import os
import sys

import tensorflow as tf

tf.config.experimental.enable_op_determinism()

import numpy as np  # noqa: E402

import tfprune  # noqa: E402
from tfprune.compat import keras  # noqa: E402

SCOPES = ("layer", "global")
workdir = sys.argv[2]
rng = np.random.default_rng(0)
x = rng.normal(size=(96, 6)).astype("float32")
y = (x[:, 0] > 0).astype("int64") + (x[:, 1] > 0)


class Crash(Exception):
    pass


class Die(keras.callbacks.Callback):
    def __init__(self, hard):
        super().__init__()
        self.hard = hard

    def on_epoch_end(self, epoch, logs=None):
        if epoch == 1:  # a crash right after the epoch-2 backup was written
            if self.hard:
                os._exit(17)
            raise Crash()


class Epochs(keras.callbacks.Callback):
    """Counts the epochs this fit ran (a resumed fit runs only the missing ones)."""

    def on_train_begin(self, logs=None):
        self.count = 0

    def on_epoch_begin(self, epoch, logs=None):
        self.count += 1


def run(scope, kind):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((6,)),
                              keras.layers.Dense(24, activation="relu", name="a"),
                              keras.layers.Dense(3, name="b")])
    p = tfprune.prune(model, schedule=tfprune.schedules.AGP(0.8, end_step=20, frequency=2),
                      scope=scope)
    p.compile(keras.optimizers.Adam(0.01), keras.losses.SparseCategoricalCrossentropy(True))
    epochs = Epochs()
    callbacks = [tfprune.PruningCallback(), epochs]
    if kind != "full":
        callbacks.append(keras.callbacks.BackupAndRestore(os.path.join(workdir, f"bk-{scope}")))
    if kind == "killed":
        callbacks.append(Die(hard=scope == SCOPES[-1]))
    try:
        p.fit(x, y, batch_size=12, epochs=4, shuffle=False, verbose=0, callbacks=callbacks)
    except Crash:
        return
    with open(os.path.join(workdir, f"{kind}-{scope}.json"), "w") as f:
        json.dump({"epochs_run": epochs.count, "step": tfprune.masking.pruner.global_step(p),
                   "masks": [m.numpy().tolist() for w in tfprune.masking.pruner.wrapped_layers(p)
                             for _, m, _ in w.pruning_vars],
                   "weights": [v.tolist() for v in p.get_weights()]}, f)


def main(mode):
    for s in SCOPES:
        if mode == "killed":
            run(s, "full")
            run(s, "killed")
        else:
            run(s, "resume")


def fork(mode):
    """Run ``main(mode)`` in a forked child; how it ended, as "exit <code>" or "signal <n>"."""
    pid = os.fork()
    if pid == 0:  # the child never returns here
        code = 1
        try:
            main(mode)
            code = 0
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    if os.WIFSIGNALED(status):
        return f"signal {os.WTERMSIG(status)}"
    return f"exit {os.WEXITSTATUS(status)}"


if sys.argv[1] == "fork":
    print("killed", fork("killed"), flush=True)
    sys.stdin.readline()
    print("resume", fork("resume"), flush=True)
else:
    main(sys.argv[1])
