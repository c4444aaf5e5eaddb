"""Allocation benchmark (issue 11), reduced version.

* ``scan``: time of the full channel sensitivity scan of
  MobileNetV2(alpha=0.35, 96x96, weights=None) at 4 levels on 256 samples (+ load average).
* ``channel``: demo CNN on MNIST-5k (8 dense epochs), then at 50 % and 75 % fewer MACs:
  allocate(method=sensitivity|uniform|erk|lamp) -> shrink -> same fine-tuning budget
  (``--epochs``, default 2) -> test accuracy.
* ``budget``: to_budget(demo CNN, macs=0.25, fine_tune=--epochs) on MNIST-5k; report in
  bench/results/allocation_budget/.
* ``compensate``: 50 % of the channels of every group (uniform / lamp), no fine-tuning,
  with and without the least-squares refit of the consumers.
* ``weight`` (``--weight``): 95 % / 98 % weight sparsity, one_shot(scope=allocation) then
  fine-tuning with PruningCallback (masks kept), 4 epochs.

Not done here: the DS-CNN network of the issue, the global-ranking baseline.

Usage:
    .venv/bin/python bench/allocation.py [--only scan|channel|weight|budget|compensate] [--epochs 2]
Writes bench/results/allocation.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import tfprune  # noqa: E402
from tfprune import structured  # noqa: E402
from tfprune.analysis import allocate, sensitivity  # noqa: E402
from tfprune.compat import keras  # noqa: E402
from tfprune.graph.macs import count_macs  # noqa: E402

METHODS = ("sensitivity", "uniform", "erk", "lamp")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "allocation.json")


def scan():
    m = keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), weights=None,
                                       classes=10)
    m.compile(loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((256, 96, 96, 3), dtype=np.float32), rng.integers(0, 10, 256)
    load0 = os.getloadavg()[0]
    t, cpu = time.perf_counter(), time.process_time()
    r = sensitivity(m, (x, y), granularity="channel", progress=False)
    total, cpu = time.perf_counter() - t, time.process_time() - cpu
    return {"model": "MobileNetV2(alpha=0.35, 96x96)", "groups": len(r.curves),
            "evaluations": len(r.curves) * 4 + 1, "seconds_total": round(total, 1),
            "seconds_evaluating": round(r.seconds, 1), "cpu_seconds": round(cpu, 1),
            "load_average_1min": [round(load0, 2), round(os.getloadavg()[0], 2)],
            "cpus": os.cpu_count()}


def _data():
    from tfprune.app.data import demo_cnn, mnist5k

    (xtr, ytr), (xte, yte) = mnist5k()
    keras.utils.set_random_seed(0)
    m = demo_cnn()
    m.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(xtr, ytr, epochs=8, batch_size=64, verbose=0)
    return m, (xtr, ytr), (xte, yte)


def _acc(m, val):
    return float(m.evaluate(*val, batch_size=256, verbose=0)[1])


def channel(epochs):
    m, (xtr, ytr), val = _data()
    out = {"dense_accuracy": _acc(m, val), "dense_macs": count_macs(m), "rows": []}
    r = sensitivity(m, (xtr[:512], ytr[:512]), granularity="channel", progress=False)
    out["scan_seconds"] = round(r.seconds, 1)
    for frac in (0.5, 0.25):
        for method in METHODS:
            src = r if method == "sensitivity" else m
            kw = {} if method == "sensitivity" else {"granularity": "channel"}
            a = allocate(src, macs=frac, method=method, **kw)
            small = structured.shrink(m, a.plan(m))
            keras.utils.set_random_seed(0)
            small.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            one_shot_acc = _acc(small, val)
            small.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0)
            row = {"macs_kept": frac, "method": method, "macs": count_macs(small),
                   "one_shot_accuracy": one_shot_acc, "accuracy": _acc(small, val),
                   "scope": {k: round(v, 3) for k, v in a.items()}}
            print(json.dumps({k: v for k, v in row.items() if k != "scope"}), flush=True)
            out["rows"].append(row)
    return out


def weight(epochs):
    m, (xtr, ytr), val = _data()
    r = sensitivity(m, (xtr[:512], ytr[:512]), levels=(0.5, 0.75, 0.9, 0.95, 0.98, 0.99),
                    progress=False)
    out = {"dense_accuracy": _acc(m, val), "rows": []}
    for s in (0.95, 0.98):
        for method in METHODS:
            src = r if method == "sensitivity" else m
            a = allocate(src, sparsity=s, method=method)
            p = tfprune.one_shot(m, scope=dict(a))
            p.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
            p.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0,
                  callbacks=[tfprune.PruningCallback()])
            plain = tfprune.strip(p)
            plain.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            row = {"sparsity": s, "method": method, "accuracy": _acc(plain, val),
                   "predicted_sparsity": a.predicted["sparsity"]}
            print(json.dumps(row), flush=True)
            out["rows"].append(row)
    return out


def budget(epochs):
    from tfprune.analysis import to_budget

    m, train, val = _data()
    r = to_budget(m, train, macs=0.25, fine_tune=epochs, validation_data=val, progress=False)
    r.save(os.path.join(os.path.dirname(OUT), "allocation_budget"))
    d = r.to_dict()
    return {k: d[k] for k in ("met", "target", "achieved", "dense", "accuracy",
                              "dense_accuracy", "rounds")}


def compensated():
    from tfprune.analysis.compensate import compensate

    m, (xtr, _), val = _data()
    out = {"dense_accuracy": _acc(m, val), "rows": []}
    for method in ("uniform", "lamp"):
        p = allocate(m, sparsity=0.5, method=method, granularity="channel").plan(m)
        plain = structured.apply_masks(m, p)
        comp = compensate(m, p, xtr[:512])
        for mm in (plain, comp):
            mm.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
        row = {"channels_removed": 0.5, "method": method, "uncompensated": _acc(plain, val),
               "compensated": _acc(comp, val)}
        print(json.dumps(row), flush=True)
        out["rows"].append(row)
    return out


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--only", choices=("scan", "channel", "weight", "budget",
                                             "compensate"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--weight", action="store_true", help="also run the weight rows")
    args = ap.parse_args()
    results = json.load(open(OUT)) if os.path.exists(OUT) else {}
    todo = [args.only] if args.only else ["scan", "channel"] + (["weight"] if args.weight else [])
    for job in todo:
        t = time.perf_counter()
        jobs = {"scan": scan, "channel": lambda: channel(args.epochs),
                "weight": lambda: weight(4), "budget": lambda: budget(args.epochs), "compensate": compensated}
        results[job] = jobs[job]()
        results[job]["wall_seconds"] = round(time.perf_counter() - t, 1)
        print(job, json.dumps({k: v for k, v in results[job].items() if k != "rows"}),
              flush=True)
        if os.path.exists(OUT):  # another job may have written meanwhile: keep its rows
            results = {**json.load(open(OUT)), job: results[job]}
        with open(OUT + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
        os.replace(OUT + ".tmp", OUT)


if __name__ == "__main__":
    main()
