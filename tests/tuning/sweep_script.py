"""A sweep run as its own process by tests/tuning (resume after a kill; chief + workers).

usage: python sweep_script.py DIRECTORY MODE MAX_TRIALS
   or: python sweep_script.py DIRECTORY serve
MODE: "plain" runs the sweep; "stall" blocks forever inside trial 1 (the test kills it);
"dist" makes each worker wait at its first trial until 2 workers are there.
Every run_trial call appends "<tuner_id> <trial_id>" to DIRECTORY/runs.log.
"serve" starts TensorFlow once and forks each sweep process from that state: every stdin line
"MODE MAX_TRIALS [NAME=VALUE ...]" forks a process (with those environment variables) that runs
the sweep and prints "started <pid>"; a line "wait" waits for every process started and prints
"ended <pid> exit <code>" or "ended <pid> signal <n>" for each, in the order they started.
"""

import os
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

import tfprune  # noqa: E402,F401
from tfprune import tuning  # noqa: E402
from tfprune.app.data import digits  # noqa: E402
from tfprune.compat import keras  # noqa: E402


def model():
    init = keras.initializers.GlorotUniform
    return keras.Sequential([
        keras.Input((8, 8, 1)), keras.layers.Flatten(name="flat"),
        keras.layers.Dense(12, activation="relu", kernel_initializer=init(1), name="h"),
        keras.layers.Dense(10, activation="softmax", kernel_initializer=init(2), name="out")])


class ScriptTuner(tuning.PruningTuner):
    mode = "plain"

    def run_trial(self, trial, *args, **kwargs):
        with open(os.path.join(self.directory, "runs.log"), "a") as f:
            f.write(f"{self.tuner_id} {trial.trial_id}\n")
        if self.mode == "stall" and trial.trial_id == "1":
            open(os.path.join(self.directory, "stalled"), "w").close()
            time.sleep(600)
        if self.mode == "dist":
            open(os.path.join(self.directory, f"ready_{self.tuner_id}"), "w").close()
            t0 = time.time()
            while (sum(n.startswith("ready_") for n in os.listdir(self.directory)) < 2
                   and time.time() - t0 < 120):
                time.sleep(0.2)
        return super().run_trial(trial, *args, **kwargs)


_DATA = []


def data():
    """``digits()``, loaded once per process: the serve process loads it (and scikit-learn)
    before forking, so no sweep process pays for it again."""
    if not _DATA:
        _DATA.append(digits())
    return _DATA[0]


def main(directory, mode, max_trials):
    (x, y), (xv, yv) = data()
    ScriptTuner.mode = mode
    tuner = ScriptTuner(model(), {"sparsity": [0.3, 0.5, 0.7, 0.9], "epochs": 1},
                        max_trials=max_trials, directory=directory, project_name="sweep",
                        options=tuning.SweepOptions(loss="sparse_categorical_crossentropy",
                                                    tensorboard=False))
    tuner.search(x[:160], y[:160], validation_data=(xv[:64], yv[:64]))


def start(directory, line):
    """Fork a sweep process for one "MODE MAX_TRIALS [NAME=VALUE ...]" line; its pid."""
    mode, max_trials, *env = line.split()
    pid = os.fork()
    if pid == 0:  # the child never returns here
        code = 1
        try:
            os.setsid()  # its own process group, as a process started on its own would be
            os.dup2(2, 1)  # its prints go to stderr: stdout carries this protocol only
            os.environ.update(kv.split("=", 1) for kv in env)
            main(directory, mode, int(max_trials))
            code = 0
        finally:
            os._exit(code)
    return pid


def serve(directory):
    """Fork sweep processes as stdin asks (see the module docstring)."""
    started = []
    data()
    for line in sys.stdin:
        if line.strip() == "wait":
            for pid in started:
                _, status = os.waitpid(pid, 0)
                how = (f"signal {os.WTERMSIG(status)}" if os.WIFSIGNALED(status)
                       else f"exit {os.WEXITSTATUS(status)}")
                print("ended", pid, how, flush=True)
            started = []
        elif line.strip():
            started.append(start(directory, line))
            print("started", started[-1], flush=True)


if __name__ == "__main__":
    if sys.argv[2] == "serve":
        serve(sys.argv[1])
    else:
        main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
