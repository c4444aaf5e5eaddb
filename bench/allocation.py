"""Allocation benchmark (issue 11).

* ``scan``: time of the full channel sensitivity scan of
  MobileNetV2(alpha=0.35, 96x96, weights=None) at 4 levels on 256 samples (+ load average,
  CPU seconds), without and with the per-point BatchNormalization re-estimate.
* ``channel``: the demo CNN and DS-CNN (Zhang et al. 2017, ``tfprune.app.data.ds_cnn``) on
  MNIST-5k (8 dense epochs each), then at 50 % and 75 % fewer MACs:
  allocate(method=sensitivity|uniform|erk|lamp) or ``global`` (one L1 ranking of the
  channels of all groups, ``structured.plan(scope="global")``, its sparsity bisected to
  the same MACs) -> shrink -> the same fine-tuning budget (``--epochs``, default 2) ->
  test accuracy.
* ``budget``: to_budget(demo CNN, target=("macs", 0.25), fine_tune=--epochs) on MNIST-5k; report in
  bench/results/allocation_budget/.
* ``latency`` (``--only latency``): the per-group LiteRT latency profile
  (``allocate(target=("latency_ms", ...))``) of the demo CNN, DS-CNN and MobileNetV2(alpha=0.35,
  96x96)
  against the one-slope ``a + b * MACs`` fit: predicted vs measured 1-thread latency of
  10 shrunk copies each (uniform/erk/lamp at 50 % and 25 % MACs, 4 random allocations).
* ``compensate``: 50 % of the channels of every group (uniform / lamp), no fine-tuning,
  with and without the least-squares refit of the consumers.
* ``weight`` (``--weight``): demo CNN at ``--sparsities`` (default 95/98/99 %) weight
  sparsity: one_shot(scope=allocation) (``global``: one_shot(scope="global"), one magnitude
  ranking of all weights) then fine-tuning with PruningCallback (masks kept), 4 epochs.
  Rows of sparsities not re-run are kept from the previous file.

Not done here: DS-CNN weight rows.

Usage:
    .venv/bin/python bench/allocation.py [--only scan|channel|weight|budget|compensate]
        [--epochs 2] [--nets demo,ds_cnn] [--sparsities 0.95,0.98,0.99]
        [--latency-nets demo,ds_cnn,mobilenet]
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
from tfprune.analysis import Allocation, SensitivityOptions, allocate, sensitivity  # noqa: E402
from tfprune.compat import keras  # noqa: E402
from tfprune.graph.macs import count_macs  # noqa: E402
from tfprune.masking import pruner  # noqa: E402

METHODS = ("sensitivity", "uniform", "erk", "lamp", "global")
OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "allocation.json")


def scan():
    """The scan with BatchNormalization re-estimated per point (the default for a model with
    BatchNormalization) and without; CPU seconds of the process (all TensorFlow threads)."""
    m = keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3), weights=None,
                                       classes=10)
    m.compile(loss="sparse_categorical_crossentropy")
    rng = np.random.default_rng(0)
    x, y = rng.random((256, 96, 96, 3), dtype=np.float32), rng.integers(0, 10, 256)
    out = {"model": "MobileNetV2(alpha=0.35, 96x96)", "cpus": os.cpu_count(), "runs": []}
    for recal in (False, True):
        load0 = os.getloadavg()[0]
        t, cpu = time.perf_counter(), time.process_time()
        r = sensitivity(m, (x, y), granularity="channel", progress=False,
                        options=SensitivityOptions(recalibrate_bn=recal))
        total, cpu = time.perf_counter() - t, time.process_time() - cpu
        out["runs"].append({"recalibrate_bn": recal, "groups": len(r.curves),
                            "evaluations": len(r.curves) * 4 + 1,
                            "seconds_total": round(total, 1), "cpu_seconds": round(cpu, 1),
                            "load_average_1min": [round(load0, 2),
                                                  round(os.getloadavg()[0], 2)]})
        print(json.dumps(out["runs"][-1]), flush=True)
    out.update({k: v for k, v in out["runs"][0].items() if k != "recalibrate_bn"})
    return out


def _data(net="demo"):
    from tfprune.app.data import demo_cnn, ds_cnn, mnist5k

    (xtr, ytr), (xte, yte) = mnist5k()
    keras.utils.set_random_seed(0)
    m = demo_cnn() if net == "demo" else ds_cnn()
    m.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
              metrics=["accuracy"])
    m.fit(xtr, ytr, epochs=8, batch_size=64, verbose=0)
    return m, (xtr, ytr), (xte, yte)


def _acc(m, val):
    return float(m.evaluate(*val, batch_size=256, verbose=0)[1])


def _global_plan(m, frac):
    """structured.plan(scope="global") at the sparsity whose shrunk MACs meet ``frac``."""
    target = frac * count_macs(m)
    lo, hi = 0.0, 0.99
    best = None
    for _ in range(14):
        mid = (lo + hi) / 2
        p = structured.plan(m, sparsity=mid, criterion="l1", scope="global")
        if count_macs(structured.shrink(m, p)) <= target:
            best, hi = p, mid
        else:
            lo = mid
    return best


def _channel_rows(net, epochs):
    m, (xtr, ytr), val = _data(net)
    head = {"dense_accuracy": _acc(m, val), "dense_macs": count_macs(m)}
    r = sensitivity(m, (xtr[:512], ytr[:512]), granularity="channel", progress=False)
    head["scan_seconds"] = round(r.seconds, 1)
    head["recalibrate_bn"] = r.recalibrate_bn
    rows = []
    for frac in (0.5, 0.25):
        for method in METHODS:
            if method == "global":
                plan, scope = _global_plan(m, frac), None
            else:
                src = r if method == "sensitivity" else m
                kw = {} if method == "sensitivity" else {"granularity": "channel"}
                a = allocate(src, target=("macs", frac), method=method, **kw)
                plan, scope = a.plan(m), {k: round(v, 3) for k, v in a.items()}
            small = structured.shrink(m, plan)
            keras.utils.set_random_seed(0)
            small.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                          metrics=["accuracy"])
            one_shot_acc = _acc(small, val)
            small.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0)
            row = {"net": net, "macs_kept": frac, "method": method, "macs": count_macs(small),
                   "one_shot_accuracy": one_shot_acc, "accuracy": _acc(small, val),
                   "scope": scope}
            print(json.dumps({k: v for k, v in row.items() if k != "scope"}), flush=True)
            rows.append(row)
    return head, rows


def channel(epochs, nets=("demo", "ds_cnn"), previous=None):
    """Rows of the networks not re-run are kept from the previous file."""
    prev = previous or {}
    out = {"epochs": epochs, "nets": {k: v for k, v in prev.get("nets", {}).items()
                                      if k not in nets},
           "rows": [r for r in prev.get("rows", []) if r.get("net") not in nets]}
    out.update({k: v for k, v in prev.items() if k not in ("nets", "rows", "epochs")})
    for net in nets:
        head, rows = _channel_rows(net, epochs)
        out["nets"][net] = head
        out["rows"] += rows
        if net == "demo":  # the keys of the single-network version of this file
            out.update(head)
    return out


def weight(epochs, sparsities=(0.95, 0.98, 0.99), previous=None, lr=1e-3):
    m, (xtr, ytr), val = _data()
    # levels up to 0.998: allocate(method="sensitivity") never goes past the highest measured
    # level, and at a 99 % target a 0.99 cap would force every layer to 99 % (= uniform)
    r = sensitivity(m, (xtr[:512], ytr[:512]),
                    levels=(0.5, 0.75, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998), progress=False)
    kept = [row for row in (previous or {}).get("rows", []) if row["sparsity"] not in sparsities]
    out = {"dense_accuracy": _acc(m, val), "epochs": epochs, "lr": lr, "rows": kept}
    steps = epochs * -(-len(xtr) // 64)
    for s in sparsities:
        for method in METHODS + ("global, gradual",):
            if method == "global":
                p, predicted = tfprune.one_shot(m, s, scope="global"), s
            elif method == "global, gradual":  # the same ranking, AGP over the fine-tuning
                agp = tfprune.schedules.AGP(s, end_step=int(0.75 * steps), frequency=10)
                p, predicted = tfprune.prune(m, schedule=agp, scope="global"), s
            else:
                src = r if method == "sensitivity" else m
                a = allocate(src, sparsity=s, method=method)
                p, predicted = tfprune.one_shot(m, scope=dict(a)), a.predicted["sparsity"]
            p.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy",
                      metrics=["accuracy"])
            p.fit(xtr, ytr, epochs=epochs, batch_size=64, verbose=0,
                  callbacks=[tfprune.PruningCallback()])
            plain = tfprune.strip(p)
            plain.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
            row = {"net": "demo", "sparsity": s, "method": method, "accuracy": _acc(plain, val),
                   "predicted_sparsity": predicted,
                   "achieved_sparsity": pruner.sparsity_report(p)["sparsity"]}
            print(json.dumps(row), flush=True)
            out["rows"].append(row)
    return out


def budget(epochs):
    from tfprune.analysis import to_budget

    m, train, val = _data()
    r = to_budget(m, train, target=("macs", 0.25), fine_tune=epochs, validation_data=val,
                  progress=False)
    r.save(os.path.join(os.path.dirname(OUT), "allocation_budget"))
    d = r.to_dict()
    return {k: d[k] for k in ("met", "target", "achieved", "dense", "accuracy",
                              "dense_accuracy", "rounds")}


def _latency_net(net):
    from tfprune.app.data import demo_cnn, ds_cnn

    keras.utils.set_random_seed(0)
    if net == "mobilenet":
        return keras.applications.MobileNetV2(alpha=0.35, input_shape=(96, 96, 3),
                                              weights=None, classes=10)
    return demo_cnn() if net == "demo" else ds_cnn()


def latency(nets=("demo", "ds_cnn", "mobilenet"), previous=None):
    """Per-group latency profile vs the one-slope a + b*MACs fit: predicted vs measured
    LiteRT 1-thread latency of shrunk models the profile never saw (rows of networks not
    re-run are kept from the previous file)."""
    from tfprune.analysis import profiles
    from tfprune.analysis.costs import Costs

    prev = previous or {}
    out = {"rows": [r for r in prev.get("rows", []) if r.get("net") not in nets],
           "nets": {k: v for k, v in prev.get("nets", {}).items() if k not in nets}}
    for net in nets:
        m = _latency_net(net)
        t, cpu = time.perf_counter(), time.process_time()
        prof = profiles.latency_profile(m, per_group=True)
        costs = Costs(m, "channel")
        prof.apply(costs)
        out["nets"][net] = {"profile_seconds": round(time.perf_counter() - t, 1),
                            "profile_cpu_seconds": round(time.process_time() - cpu, 1),
                            "measurements": len(prof.points), "a_ms": prof.a_groups_ms,
                            "one_slope_a_ms": prof.a_ms, "dense_ms": prof.points[0][1]}
        rng = np.random.default_rng(0)
        allocs = [(f"{meth}@{frac}", allocate(m, target=("macs", frac), method=meth,
                                              granularity="channel"))
                  for frac in (0.5, 0.25) for meth in ("uniform", "erk", "lamp")]
        for j in range(4):
            s = {u: float(v) for u, v in zip(costs.units, rng.uniform(0, 0.8, len(costs.units)),
                                             strict=True)}
            allocs.append((f"random{j}", Allocation(s, "channel", "uniform",
                                                 ("sparsity", 0.0), {}, {})))
        errs = {"groups": [], "one_slope": []}
        for name, a in allocs:
            k = costs.kept([a[u] for u in costs.units])
            small = structured.shrink(m, a.plan(m))
            measured = profiles.float_latency_ms(small, runs=200)
            pg, p1 = float(costs.totals(k)[4]), prof.predict(count_macs(small))
            row = {"net": net, "allocation": name, "macs": count_macs(small),
                   "measured_ms": round(measured, 4), "per_group_ms": round(pg, 4),
                   "one_slope_ms": round(p1, 4)}
            errs["groups"].append(abs(pg - measured) / measured)
            errs["one_slope"].append(abs(p1 - measured) / measured)
            print(json.dumps(row), flush=True)
            out["rows"].append(row)
        out["nets"][net].update({
            "mean_abs_error_per_group": round(float(np.mean(errs["groups"])), 4),
            "mean_abs_error_one_slope": round(float(np.mean(errs["one_slope"])), 4),
            "max_abs_error_per_group": round(float(np.max(errs["groups"])), 4),
            "max_abs_error_one_slope": round(float(np.max(errs["one_slope"])), 4)})
        print(net, json.dumps(out["nets"][net]), flush=True)
    return out


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
                                             "compensate", "latency"))
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--weight", action="store_true", help="also run the weight rows")
    ap.add_argument("--nets", default="demo,ds_cnn", help="networks of the channel rows")
    ap.add_argument("--sparsities", default="0.95,0.98,0.99", help="weight rows")
    ap.add_argument("--lr", type=float, default=1e-3,
                    help="Adam learning rate of the weight rows' fine-tuning (same for every "
                         "method); other than 1e-3 the rows go to results['weight@lr<lr>']")
    ap.add_argument("--latency-nets", default="demo,ds_cnn,mobilenet",
                    help="networks of the latency-profile validation")
    args = ap.parse_args()
    nets = tuple(n for n in args.nets.split(",") if n)
    sparsities = tuple(float(v) for v in args.sparsities.split(",") if v)
    results = json.load(open(OUT)) if os.path.exists(OUT) else {}
    todo = [args.only] if args.only else ["scan", "channel"] + (["weight"] if args.weight else [])
    wkey = "weight" if args.lr == 1e-3 else f"weight@lr{args.lr:g}"
    for job in todo:
        t, previous = time.perf_counter(), results.get(wkey)
        prev_channel, prev_latency = results.get("channel"), results.get("latency")
        jobs = {"scan": scan,
                "channel": lambda prev=prev_channel: channel(args.epochs, nets, prev),
                "weight": lambda prev=previous: weight(4, sparsities, prev, args.lr),
                "budget": lambda: budget(args.epochs), "compensate": compensated,
                "latency": lambda prev=prev_latency: latency(
                    tuple(n for n in args.latency_nets.split(",") if n), prev)}
        key = wkey if job == "weight" else job
        results[key] = jobs[job]()
        results[key]["wall_seconds"] = round(time.perf_counter() - t, 1)
        results[key]["load_average_1min_end"] = round(os.getloadavg()[0], 2)
        print(key, json.dumps({k: v for k, v in results[key].items() if k != "rows"}),
              flush=True)
        if os.path.exists(OUT):  # another job may have written meanwhile: keep its rows
            results = {**json.load(open(OUT)), key: results[key]}
        with open(OUT + ".tmp", "w") as f:
            json.dump(results, f, indent=1)
        os.replace(OUT + ".tmp", OUT)


if __name__ == "__main__":
    main()
