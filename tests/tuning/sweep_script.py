"""A sweep run as its own process by tests/tuning (resume after a kill; chief + workers).

usage: python sweep_script.py DIRECTORY MODE MAX_TRIALS
MODE: "plain" runs the sweep; "stall" blocks forever inside trial 1 (the test kills it);
"dist" makes each worker wait at its first trial until 2 workers are there.
Every run_trial call appends "<tuner_id> <trial_id>" to DIRECTORY/runs.log.
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


def main(directory, mode, max_trials):
    (x, y), (xv, yv) = digits()
    ScriptTuner.mode = mode
    tuner = ScriptTuner(model(), {"sparsity": [0.3, 0.5, 0.7, 0.9], "epochs": 1},
                        max_trials=max_trials, directory=directory, project_name="sweep",
                        options=tuning.SweepOptions(loss="sparse_categorical_crossentropy",
                                                    tensorboard=False))
    tuner.search(x[:400], y[:400], validation_data=(xv[:200], yv[:200]))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
