"""Benchmark: tfprune criteria vs TF-MOT magnitude on the demo CNN / MNIST-5k (issue 4).

Protocol (FACTS.md): 8 dense epochs, then 4 fine-tune epochs with TF-MOT's
PolynomialDecay 0 -> s ending at 75% of the fine-tune steps, frequency 25, Adam 1e-3,
batch 64. The dense model is trained ONCE; every variant starts from its weights.
Also: one-shot (no fine-tuning) accuracy of magnitude vs obs, and per-epoch training
time relative to plain fine-tuning, measured in the same run.

Usage:
    .venv/bin/python bench/criteria.py --budget-min 25
Writes bench/results/criteria.json (atomically) and prints a markdown table. Variants
that do not fit in the time budget are listed as "not run".
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
import tensorflow_model_optimization as tfmot  # noqa: E402

import tfprune  # noqa: E402
from tfprune.app import data as data_lib  # noqa: E402
from tfprune.compat import keras  # noqa: E402

BATCH, DENSE_EPOCHS, FT_EPOCHS, FREQ = 64, 8, 4, 25
SPARSITIES = (0.90, 0.95, 0.98)
WEIGHT_CRITERIA = ("magnitude", "taylor", "obd", "movement", "snip", "random", "obs")
CHANNEL_CRITERIA = ("l1", "l2", "fpgm", "apoz", "mean_activation", "hrank")


class EpochTimer(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t)


def _compile(model):
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def _accuracy(model, xte, yte):
    return float(_compile(model).evaluate(xte, yte, batch_size=256, verbose=0)[1])


def _schedule(s, steps):
    return tfmot.sparsity.keras.PolynomialDecay(0.0, s, begin_step=0,
                                                end_step=int(0.75 * steps), frequency=FREQ)


def _dense_model(weights):
    keras.utils.set_random_seed(0)
    model = data_lib.demo_cnn()
    model.load_weights(weights)
    return model


def run_variant(kind, criterion, scope, s, weights, train, test):
    (xtr, ytr), (xte, yte) = train, test
    steps = FT_EPOCHS * int(np.ceil(len(xtr) / BATCH))
    base = _dense_model(weights)
    if kind == "plain":
        model, cbs = base, []
    elif kind == "tfmot":
        model = tfmot.sparsity.keras.prune_low_magnitude(base,
                                                         pruning_schedule=_schedule(s, steps))
        cbs = [tfmot.sparsity.keras.UpdatePruningStep()]
    else:
        exclude = ["fc2"] if criterion in CHANNEL_CRITERIA else None
        if criterion == "hrank":
            exclude = ["fc1", "fc2"]
        model = tfprune.prune(base, schedule=_schedule(s, steps), criterion=criterion,
                              scope=scope, exclude=exclude)
        cbs = [tfprune.PruningCallback(per_layer=False)]
    timer = EpochTimer()
    _compile(model).fit(xtr, ytr, batch_size=BATCH, epochs=FT_EPOCHS, verbose=0,
                        callbacks=cbs + [timer])
    plain = tfmot.sparsity.keras.strip_pruning(model) if kind == "tfmot" else (
        tfprune.strip(model) if kind != "plain" else model)
    kernels = [w for layer in plain.layers for w in layer.weights if "kernel" in w.name]
    zeros = sum(int(np.sum(w.numpy() == 0)) for w in kernels)
    total = sum(int(w.numpy().size) for w in kernels)
    return {"accuracy": _accuracy(plain, xte, yte), "sparsity": zeros / total,
            "epoch_seconds": [round(t, 3) for t in timer.times]}


def run_one_shot(criterion, scope, s, weights, train, test, calib=2048):
    (xtr, ytr), (xte, yte) = train, test
    base = _dense_model(weights)
    t = time.perf_counter()
    pruned = tfprune.one_shot(base, s, criterion=criterion, scope=scope,
                              data=(xtr[:calib], ytr[:calib]) if criterion != "magnitude"
                              else None)
    seconds = time.perf_counter() - t
    return {"accuracy": _accuracy(tfprune.strip(pruned), xte, yte),
            "sparsity": tfprune.masking.pruner.sparsity_report(pruned)["sparsity"],
            "seconds": round(seconds, 2)}


def plan():
    jobs = [("one_shot", c, scope, s) for scope in ("layer", "global")
            for s in (0.5, 0.7, 0.8, 0.9) for c in ("magnitude", "obs")]
    jobs.append(("plain", None, None, 0.0))
    for s in SPARSITIES:
        jobs.append(("tfmot", "magnitude", "layer", s))
        for c in ("magnitude", "taylor", "obd"):
            jobs.append(("tfprune", c, "layer", s))
    for s in SPARSITIES:
        for c in ("magnitude", "taylor", "obd"):
            jobs.append(("tfprune", c, "global", s))
    for s in SPARSITIES:
        for c in ("movement", "snip", "random", "obs"):
            jobs.append(("tfprune", c, "layer", s))
    for s in SPARSITIES:
        for c in ("movement", "snip", "random", "obs"):
            jobs.append(("tfprune", c, "global", s))
    for scope in ("layer", "global"):
        for s in SPARSITIES:
            for c in CHANNEL_CRITERIA:
                jobs.append(("tfprune", c, scope, s))
    return jobs


def _label(job):
    kind, c, scope, s = job
    if kind == "plain":
        return "plain fine-tune (dense)"
    if kind == "one_shot":
        return f"one-shot {c} / {scope} @ {s:.0%}"
    return f"{'TF-MOT' if kind == 'tfmot' else 'tfprune'} {c} / {scope} @ {s:.0%}"


def table(results):
    lines = ["| variant | accuracy | sparsity | s/epoch (steady) |", "|---|---|---|---|"]
    for r in results:
        if r.get("status") != "ok":
            lines.append(f"| {r['label']} | not run | | |")
            continue
        ep = r.get("epoch_seconds") or []
        steady = f"{np.median(ep[1:]):.2f}" if len(ep) > 1 else ""
        lines.append(f"| {r['label']} | {r['accuracy']:.1%} | {r['sparsity']:.1%} | {steady} |")
    return "\n".join(lines)


def _write_json(path, payload):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=os.path.dirname(path), suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(payload, f, indent=1)
    os.replace(tmp, path)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--budget-min", type=float, default=25.0)
    ap.add_argument("--only", choices=("one_shot", "fine_tune", "failed"), default=None,
                    help="run only these variants; results replace the same labels in --out")
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                  "criteria.json"))
    ap.add_argument("--weights", default=os.path.join(tempfile.gettempdir(),
                                                      "tfprune_bench_dense.weights.h5"))
    args = ap.parse_args(argv)
    start = time.perf_counter()
    train, test = data_lib.mnist5k()
    keras.utils.set_random_seed(0)
    dense = _compile(data_lib.demo_cnn())
    timer = EpochTimer()
    if args.only and os.path.exists(args.weights):  # same dense model as the full run
        dense.load_weights(args.weights)
        timer.times = []
    else:
        dense.fit(*train, batch_size=BATCH, epochs=DENSE_EPOCHS, verbose=0, callbacks=[timer])
        dense.save_weights(args.weights)
    dense_acc = _accuracy(dense, *test)
    print(f"dense: {dense_acc:.1%} ({time.perf_counter() - start:.0f}s)", flush=True)
    results = []
    payload = {"protocol": __doc__.split("Usage:")[0].strip(), "dense_accuracy": dense_acc,
               "dense_epoch_seconds": [round(t, 3) for t in timer.times], "results": results,
               "budget_min": args.budget_min, "command": " ".join(["bench/criteria.py"] +
                                                                 (argv or sys.argv[1:]))}
    jobs = plan()
    if args.only:
        old = {"results": []}
        if os.path.exists(args.out):
            with open(args.out) as f:
                old = json.load(f)
        if args.only == "failed":
            bad = {r["label"] for r in old["results"] if r.get("status") != "ok"}
            jobs = [j for j in jobs if _label(j) in bad]
        else:
            jobs = [j for j in jobs if (j[0] == "one_shot") == (args.only == "one_shot")]
        if old["results"]:
            mine = {_label(j) for j in jobs}
            results.extend(r for r in old["results"] if r["label"] not in mine)
            payload.update({k: old[k] for k in ("dense_accuracy", "dense_epoch_seconds")
                            if k in old})
            payload["reruns"] = old.get("reruns", []) + [" ".join(argv or sys.argv[1:])]
            payload["command"] = old.get("command", payload["command"])
    for job in jobs:
        kind, c, scope, s = job
        row = {"label": _label(job), "kind": kind, "criterion": c, "scope": scope,
               "target": s}
        if time.perf_counter() - start > args.budget_min * 60:
            row["status"] = "not run (time budget)"
            results.append(row)
            continue
        t = time.perf_counter()
        try:
            if kind == "one_shot":
                row.update(run_one_shot(c, scope, s, args.weights, train, test))
            else:
                row.update(run_variant(kind, c, scope, s, args.weights, train, test))
            row["status"] = "ok"
        except Exception as e:  # a failing variant is reported, not fatal
            row["status"] = f"error: {type(e).__name__}: {e}"[:300]
        row["wall_seconds"] = round(time.perf_counter() - t, 1)
        results.append(row)
        print(row["label"], row.get("accuracy"), row["status"][:80], row["wall_seconds"],
              flush=True)
        _write_json(args.out, payload)
    _write_json(args.out, payload)
    print()
    print(f"dense accuracy: {dense_acc:.1%}")
    print(table(results))


if __name__ == "__main__":
    main()
