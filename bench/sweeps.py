"""Sweep benchmark: one PruningTuner sweep with 1 worker and with a chief + 2 workers.

Demo CNN on MNIST-5k (the first --train training images; the 1,000 test images for
validation), trained dense for --dense-epochs, saved once so every process sweeps the same
model. Grid over sparsity x granularity (weight / channel), 1 fine-tune epoch per trial, one
thread per process. Reports wall-clock time of both runs (process start-up included), the
Pareto front (accuracy vs MACs) and TF-MOT's uniform magnitude pruning (prune_low_magnitude,
ConstantSparsity, same fine-tune budget) at the same sparsities.

    .venv/bin/python bench/sweeps.py            # writes bench/results/sweeps.json + sweeps.png
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

# isort: off
import tfprune  # noqa: E402,F401  (tf_keras before TensorFlow)
import tensorflow as tf  # noqa: E402
# isort: on

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

from tfprune import tuning  # noqa: E402
from tfprune.app.data import demo_cnn, mnist5k  # noqa: E402
from tfprune.compat import keras  # noqa: E402

LOSS = "sparse_categorical_crossentropy"
SPARSITIES = [0.5, 0.7, 0.8, 0.9]
SPACE = {"sparsity": SPARSITIES, "granularity": ["weight", "channel"], "epochs": 1}


def _data(n_train):
    (x, y), (xv, yv) = mnist5k()
    return x[:n_train], y[:n_train], (xv, yv)


def sweep(directory, model_path, n_train, trials):
    """What every process runs (single, chief or worker: keras-tuner reads the environment)."""
    x, y, val = _data(n_train)
    t = tuning.PruningTuner(lambda: keras.models.load_model(model_path), SPACE, oracle="grid",
                            max_trials=trials, directory=directory, project_name="sweep",
                            options=tuning.SweepOptions(loss=LOSS, batch_size=64,
                                                        tensorboard=False))
    t.search(x, y, validation_data=val, verbose=0)  # the bench times trials, no progress lines


def _spawn(args, env):
    env = {**os.environ, **env, "OMP_NUM_THREADS": "1"}
    return subprocess.Popen([sys.executable, __file__, *args], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def _wait(procs):
    for p in procs:
        _, err = p.communicate()
        if p.returncode:
            raise RuntimeError(err.decode()[-2000:])


def _timed_run(directory, model_path, n_train, trials, workers):
    common = ["--role", "run", "--dir", directory, "--model", model_path, "--train", str(n_train),
              "--trials", str(trials)]
    t0 = time.perf_counter()
    if workers == 1:
        _wait([_spawn(common, {})])
    else:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = str(s.getsockname()[1])
        net = {"KERASTUNER_ORACLE_IP": "127.0.0.1", "KERASTUNER_ORACLE_PORT": port}
        procs = [_spawn(common, {**net, "KERASTUNER_TUNER_ID": "chief"})]
        procs += [_spawn(common, {**net, "KERASTUNER_TUNER_ID": f"tuner{i}"})
                  for i in range(workers)]
        _wait(procs[1:] + procs[:1])
    return time.perf_counter() - t0


def _search_span(project_dir):
    """Steady throughput: (trials completed after the first one, seconds between the first and
    the last trial's saved measures). Process start-up and the first trial (tracing) excluded."""
    import glob

    ends = sorted(os.path.getmtime(p) for p in glob.glob(os.path.join(project_dir, "trial_*",
                                                                          "measures.json")))
    return len(ends) - 1, ends[-1] - ends[0]


def tfmot_uniform(model, x, y, val, sparsity):
    import tensorflow_model_optimization as tfmot

    sp = tfmot.sparsity.keras
    clone = keras.models.clone_model(model)
    clone.set_weights(model.get_weights())
    p = sp.prune_low_magnitude(clone, pruning_schedule=sp.ConstantSparsity(sparsity, 0, frequency=1))
    p.compile(keras.optimizers.Adam(1e-3), LOSS, ["accuracy"])
    p.fit(x, y, batch_size=64, epochs=1, verbose=0, callbacks=[sp.UpdatePruningStep()])
    plain = sp.strip_pruning(p)
    plain.compile(loss=LOSS, metrics=["accuracy"])
    return float(plain.evaluate(*val, verbose=0, return_dict=True)["accuracy"])


def _plot(rows, front, base, dense, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 4.2), dpi=110)
    for g, marker in (("weight", "o"), ("channel", "s")):
        pts = [r for r in rows if r["granularity"] == g]
        ax.scatter([r["macs"] for r in pts], [r["val_accuracy"] for r in pts], c="0.55",
                   marker=marker, label=f"tfprune trials ({g})")
    f = sorted(front, key=lambda r: r["macs"])
    ax.step([r["macs"] for r in f], [r["val_accuracy"] for r in f], where="post", c="tab:red",
            label="tfprune Pareto front")
    ax.scatter([dense["macs"]] * len(base), [b["val_accuracy"] for b in base], c="tab:blue",
               marker="x", label="TF-MOT uniform magnitude")
    for b in base:
        ax.annotate(f"{b['sparsity']:.0%}", (dense["macs"], b["val_accuracy"]), fontsize=7,
                    xytext=(4, -3), textcoords="offset points")
    ax.axhline(dense["val_accuracy"], c="0.3", ls=":", lw=1, label="dense")
    ax.set_xlabel("MACs per sample (lower is better)")
    ax.set_ylabel("MNIST-5k test accuracy")
    ax.set_title("Pruning sweep, demo CNN, 1 fine-tune epoch")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)


def _args(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--role", default="bench", choices=["bench", "run"])
    ap.add_argument("--dir")
    ap.add_argument("--model")
    ap.add_argument("--train", type=int, default=2000)
    ap.add_argument("--trials", type=int, default=8)
    ap.add_argument("--dense-epochs", type=int, default=3)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results"))
    ap.add_argument("--reuse", help="a work directory of an earlier run: skip training and "
                    "sweeps, read their trials (throughput from the trial files' times)")
    return ap.parse_args(argv)


def _dense_and_sweeps(a, work, x, y):
    """The dense model (trained and saved, or reused) and the wall time of each sweep run."""
    model_path = os.path.join(work, "dense.keras")
    if a.reuse:
        return keras.models.load_model(model_path), {}
    keras.utils.set_random_seed(0)
    model = demo_cnn()
    model.compile(keras.optimizers.Adam(1e-3), LOSS, ["accuracy"])
    model.fit(x, y, batch_size=64, epochs=a.dense_epochs, verbose=0)
    model.save(model_path)
    walls = {n: _timed_run(os.path.join(work, f"w{n}"), model_path, a.train, a.trials, n)
             for n in (1, 2)}
    return model, walls


def _result(a, argv, work, model, walls, val, load):
    """The benchmark record (without the TF-MOT baseline), the 1-worker trials and their front."""
    dense = {"val_accuracy": float(model.evaluate(*val, verbose=0, return_dict=True)["accuracy"]),
             "macs": tfprune.summary(model, print_fn=None)["macs"]}
    spans = {n: _search_span(os.path.join(work, f"w{n}", "sweep")) for n in (1, 2)}
    rows = tuning.load_results(os.path.join(work, "w1", "sweep"))
    rows2 = tuning.load_results(os.path.join(work, "w2", "sweep"))
    front = tuning.pareto.front(rows, [("val_accuracy", "max"), ("macs", "min")])
    keep = ("trial_id", "granularity", "sparsity", "val_accuracy", "macs", "nonzero_params",
            "fine_tune_seconds")
    return rows, front, {
        "command": "python bench/sweeps.py " + " ".join(argv or sys.argv[1:]),
        "setup": {"model": "demo_cnn", "data": f"MNIST-5k first {a.train} train / 1000 test",
                  "dense_epochs": a.dense_epochs, "fine_tune_epochs": 1, "trials": a.trials,
                  "space": SPACE, "oracle": "grid", "threads_per_process": 1,
                  "load_average_at_start": load},
        "dense": dense,
        "wall_seconds_with_startup": {"1 worker": walls.get(1), "chief + 2 workers": walls.get(2)},
        "search_seconds": {"1 worker": spans[1][1], "chief + 2 workers": spans[2][1]},
        "trials_per_minute": {"1 worker": 60 * spans[1][0] / spans[1][1],
                              "chief + 2 workers": 60 * spans[2][0] / spans[2][1]},
        "throughput_ratio": (spans[2][0] / spans[2][1]) / (spans[1][0] / spans[1][1]),
        "trials_completed": {"1 worker": len(rows), "chief + 2 workers": len(rows2)},
        "trials": [{k: r[k] for k in keep} for r in rows],
        "pareto_front": [{k: r[k] for k in keep} for r in front],
    }


def main(argv=None):
    a = _args(argv)
    if a.role == "run":
        return sweep(a.dir, a.model, a.train, a.trials)
    work = a.reuse or tempfile.mkdtemp(prefix="sweeps_")
    x, y, val = _data(a.train)
    load = os.getloadavg()
    model, walls = _dense_and_sweeps(a, work, x, y)
    rows, front, result = _result(a, argv, work, model, walls, val, load)
    base = [{"sparsity": s, "val_accuracy": tfmot_uniform(model, x, y, val, s)} for s in SPARSITIES]
    result["tfmot_uniform_magnitude"] = base
    os.makedirs(a.out, exist_ok=True)
    with open(os.path.join(a.out, "sweeps.json"), "w") as f:
        json.dump(result, f, indent=1)
    _plot(rows, front, base, result["dense"], os.path.join(a.out, "sweeps.png"))
    print(json.dumps({k: result[k] for k in ("search_seconds", "trials_per_minute",
                                             "throughput_ratio", "dense")}, indent=1))
    print(tuning.Table(result["pareto_front"]))
    print(tuning.Table(base))


if __name__ == "__main__":
    main()
