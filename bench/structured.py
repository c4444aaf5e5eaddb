"""Structured (channel) pruning benchmark: every channel criterion on the demo CNN (issue 10).

The demo CNN on MNIST-5k (4,000 train / 1,000 test, offline): 8 dense epochs, then for
every criterion the registry says supports ``granularity="channel"``, 50 % of the channels
of every prunable dependency group removed in two modes, each followed by ``strip`` ->
``shrink``:

* gradual: ``prune(dense, schedule=AGP(0.5), criterion=c, granularity="channel")`` + 4
  fine-tune epochs with ``PruningCallback`` (AGP ramp ends at 75 % of the steps;
  ``"sensitivity"``: ``criterion=Sensitivity(data=512 calibration samples)``, measured
  again at each of the 12 mask updates);
* one-shot: ``one_shot(dense, 0.5, criterion=c, granularity="channel", data=(x, y))`` + 4
  fine-tune epochs with ``PruningCallback`` (masks kept).

Per run: test accuracy of the shrunk model, its MACs and params, max |shrunk - masked|
on test inputs, and the steady-epoch time of the pruning fit (first epoch skipped) against
plain ``fit`` of the same dense network, the plain epochs sampled between the runs
(interleaved). For a few runs (``COST_RUNS``) the epoch cost is also measured in adjacent
one-epoch pairs (pruning fit, plain fit, alternating order; the run's schedule), which
cancels most of the drift of a shared machine's load. At the end, LiteRT 1-thread latency (``tf.lite.Interpreter``,
``num_threads=1``, batch 1) of every shrunk model, the dense model and the same network
built at half width from scratch (the limit), timed interleaved in rounds in one process.

    python bench/structured.py            # full: 8 dense + 4 fine-tune epochs, all criteria
    python bench/structured.py --quick    # 2 dense + 2 fine-tune epochs, l1/taylor/apoz

Writes bench/results/structured.json (``--quick``: bench/results/quick/structured.json),
atomically. A criterion that fails is recorded with its error, not skipped.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import sys
import time
import traceback
import warnings
from datetime import datetime, timezone

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import tfprune  # noqa: E402
from tfprune.app.data import demo_cnn, mnist5k  # noqa: E402
from tfprune.compat import keras  # noqa: E402
from tfprune.core import criteria  # noqa: E402
from tfprune.export import tflite_bytes  # noqa: E402
from tfprune.structured import count_macs  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
QUICK = ["l1", "taylor", "apoz"]
BATCH = 64
SPARSITY = 0.5
LOSS = "sparse_categorical_crossentropy"
CALIB = 512  # calibration samples for one_shot's data criteria
#: (criterion, mode) whose epoch cost is also measured in adjacent plain/pruned pairs:
#: a weight, a gradient and two activation criteria gradually, and taylor one-shot.
COST_RUNS = [("l1", "gradual"), ("taylor", "gradual"), ("apoz", "gradual"),
             ("hrank", "gradual"), ("taylor", "one_shot")]
TARGETS = {"latency_vs_half_width": 1.05, "epoch_ratio": 1.15}


def channel_criteria():
    """Every registered criterion that supports granularity="channel", and the others
    with the reason they are left out."""
    use, left = [], {}
    for name in criteria.available():
        grans = criteria.get(name).granularities
        if "channel" in grans:
            use.append(name)
        else:
            left[name] = f"supports granularity in {list(grans)}, not 'channel'"
    return use, left


class EpochTimes(keras.callbacks.Callback):
    """Wall time and process CPU time (all threads) of every epoch of one fit."""

    def on_train_begin(self, logs=None):
        self.times, self.cpu = [], []

    def on_epoch_begin(self, epoch, logs=None):
        self._t, self._c = time.perf_counter(), time.process_time()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t)
        self.cpu.append(time.process_time() - self._c)


def compiled(model):
    model.compile(keras.optimizers.Adam(1e-3), LOSS, metrics=["accuracy"])
    return model


def fit(model, data, epochs, callbacks=()):
    """Fit with a fixed seed; the EpochTimes (``.times`` wall, ``.cpu``) of the fit."""
    timer = EpochTimes()
    keras.utils.set_random_seed(0)
    model.fit(*data, batch_size=BATCH, epochs=epochs, verbose=0, shuffle=True,
              callbacks=[*callbacks, timer])
    return timer


def accuracy(model, x, y):
    return float(compiled(model).evaluate(x, y, batch_size=256, verbose=0)[1])


def half_width():
    """The demo CNN built at half width (Conv16-Pool-Conv32-Pool-Flatten-Dense64-Dense10)."""
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
        L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")], name="half_width")


def widths(model):
    """Output channels of every Conv2D/Dense, in order (e.g. [16, 32, 64, 10])."""
    return [int(x.filters if hasattr(x, "filters") else x.units) for x in model.layers
            if isinstance(x, (keras.layers.Conv2D, keras.layers.Dense))]


def plain_epoch(plain, data):
    """(wall, CPU) seconds of one steady epoch of plain ``fit`` (2 run, the first skipped)."""
    t = fit(plain, data, 2)
    return t.times[1], t.cpu[1]


def make_pruned(name, mode, dense, train, epochs):
    """The wrapped model of one run: AGP over ``epochs`` (gradual) or one-shot masks."""
    if mode == "gradual":
        steps = epochs * int(np.ceil(len(train[0]) / BATCH))
        end = max(1, int(0.75 * steps))
        sched = tfprune.schedules.AGP(SPARSITY, end_step=end, frequency=max(1, end // 12))
        crit = name
        if getattr(criteria.get(name), "measured", False):  # carries its calibration data
            crit = criteria.Sensitivity(data=(train[0][:CALIB], train[1][:CALIB]), loss=LOSS)
        return tfprune.prune(dense, schedule=sched, criterion=crit, granularity="channel")
    calib = (train[0][:CALIB], train[1][:CALIB])
    return tfprune.one_shot(dense, SPARSITY, criterion=name, granularity="channel",
                            data=tfprune.Calibration(calib if criteria.get(name).needs_data else None, loss=LOSS))


def epoch_cost(name, mode, dense, train, epochs):
    """Steady epoch time of a pruning fit / plain fit, measured in adjacent pairs.

    The pruned model (the same schedule as the ``epochs``-epoch run) and a plain copy of
    ``dense`` each fit ``epochs`` epochs one at a time, alternating which goes first; the
    first pair (tracing) is skipped, as the first epoch of a run is. Returns the per-pair
    ratios and their median."""
    pairs = epochs - 1
    pruned = compiled(make_pruned(name, mode, dense, train, epochs))
    plain = compiled(keras.models.clone_model(dense))
    plain.set_weights(dense.get_weights())
    cb = [tfprune.PruningCallback()]
    ratios, cpu_ratios, times = [], [], []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # sparsity-below-target warnings of the short fits
        for i in range(pairs + 1):
            if i % 2:
                tp = fit(pruned, train, 1, cb)
                tq = fit(plain, train, 1)
            else:
                tq = fit(plain, train, 1)
                tp = fit(pruned, train, 1, cb)
            if i:
                ratios.append(tp.times[0] / tq.times[0])
                cpu_ratios.append(tp.cpu[0] / tq.cpu[0])
                times.append([round(tp.times[0], 3), round(tq.times[0], 3),
                              round(tp.cpu[0], 3), round(tq.cpu[0], 3)])
    return {"criterion": name, "mode": mode, "pairs": pairs, "ratios": ratios,
            "cpu_ratios": cpu_ratios, "pruned_plain_wall_cpu_s": times,
            "median_ratio": float(np.median(ratios)),
            "median_cpu_ratio": float(np.median(cpu_ratios))}


def run_one(name, mode, dense, train, test, epochs):
    """Prune ``dense`` with ``name`` in ``mode``; fine-tune; strip; shrink; measure."""
    row = {"criterion": name, "mode": mode}
    t0 = time.perf_counter()
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            pruned = make_pruned(name, mode, dense, train, epochs)
            row["prepare_s"] = round(time.perf_counter() - t0, 2)
            timer = fit(compiled(pruned), train, epochs, [tfprune.PruningCallback()])
            masked = tfprune.strip(pruned)
            small = tfprune.shrink(masked)
        except Exception as exc:  # a failing criterion is a finding: record it
            refused = "prepare_s" not in row and isinstance(exc, tfprune.errors.ConfigError)
            row.update(status="refused" if refused else "error", error=f"{type(exc).__name__}: {exc}"[:1500],
                       where=traceback.format_exc().strip().splitlines()[-3:],
                       wall_s=round(time.perf_counter() - t0, 1))
            return row, None
    xs = test[0][:256]
    row.update(
        status="ok", accuracy=accuracy(small, *test), macs=count_macs(small),
        params=int(small.count_params()), widths=widths(small),
        parity_max_abs=float(np.max(np.abs(small.predict(xs, verbose=0)
                                           - masked.predict(xs, verbose=0)))),
        epoch_times_s=[round(t, 3) for t in timer.times],
        epoch_cpu_s=[round(t, 3) for t in timer.cpu],
        steady_epoch_s=float(np.median(timer.times[1:])) if len(timer.times) > 1 else None,
        steady_epoch_cpu_s=float(np.median(timer.cpu[1:])) if len(timer.cpu) > 1 else None,
        warnings=sorted({str(w.message)[:300] for w in caught
                         if not issubclass(w.category, (DeprecationWarning, FutureWarning))}),
        wall_s=round(time.perf_counter() - t0, 1))
    return row, small


def latencies(models: dict, rounds: int, runs: int) -> dict:
    """Per model: median ms of one LiteRT 1-thread invoke (batch 1), the models timed
    interleaved: every round runs ``runs`` invokes of each model, in a shuffled order."""
    import tensorflow as tf

    its = {}
    rng = np.random.default_rng(0)
    for key, m in models.items():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # tf.lite.Interpreter's deprecation notice
            it = tf.lite.Interpreter(model_content=tflite_bytes(m), num_threads=1)
        it.allocate_tensors()
        inp = it.get_input_details()[0]
        it.set_tensor(inp["index"], rng.random(inp["shape"], dtype=np.float32))
        for _ in range(20):
            it.invoke()
        its[key] = it
    seen = {k: [] for k in its}
    order = list(its)
    shuffle = random.Random(0)
    for _ in range(rounds):
        shuffle.shuffle(order)
        for key in order:
            it = its[key]
            for _ in range(runs):
                t = time.perf_counter_ns()
                it.invoke()
                seen[key].append(time.perf_counter_ns() - t)
    return {k: {"median_ms": float(np.median(v)) / 1e6,
                "p10_ms": float(np.percentile(v, 10)) / 1e6,
                "p90_ms": float(np.percentile(v, 90)) / 1e6, "invokes": len(v)}
            for k, v in seen.items()}


def run(names, left_out, dense_epochs, epochs, rounds, runs, cost_runs):
    train, test = mnist5k()
    t_start = time.perf_counter()
    keras.utils.set_random_seed(0)
    dense = compiled(demo_cnn())
    dense_times = fit(dense, train, dense_epochs).times
    out = {"config": {"dense_epochs": dense_epochs, "finetune_epochs": epochs,
                      "sparsity": SPARSITY, "batch": BATCH, "train_samples": len(train[0]),
                      "test_samples": len(test[0]), "calibration_samples": CALIB,
                      "schedule": "AGP 0 -> 0.5, end at 75 % of the fine-tune steps, "
                                  "frequency end//12", "optimizer": "Adam 1e-3",
                      "latency_rounds": rounds, "latency_runs_per_round": runs},
           "criteria": names, "left_out": left_out,
           "dense": {"accuracy": accuracy(dense, *test), "macs": count_macs(dense),
                     "params": int(dense.count_params()), "widths": widths(dense),
                     "epoch_times_s": [round(t, 3) for t in dense_times]}}
    keras.utils.set_random_seed(0)
    half = compiled(half_width())
    fit(half, train, dense_epochs + epochs)
    out["half_width"] = {"accuracy": accuracy(half, *test), "macs": count_macs(half),
                         "params": int(half.count_params()), "widths": widths(half),
                         "epochs": dense_epochs + epochs}
    print(json.dumps({"dense": out["dense"], "half_width": out["half_width"]}), flush=True)

    plain = compiled(keras.models.clone_model(dense))  # the plain-fit reference
    plain.set_weights(dense.get_weights())
    plain_times = [plain_epoch(plain, train)]
    rows, smalls = [], {}
    for name in names:
        for mode in ("gradual", "one_shot"):
            row, small = run_one(name, mode, dense, train, test, epochs)
            row["plain_before_s"] = plain_times[-1][0]
            rows.append(row)
            if small is not None:
                smalls[f"{name}/{mode}"] = small
        plain_times.append(plain_epoch(plain, train))
        for row in rows[-2:]:  # the plain epochs on either side of this criterion's runs
            row["plain_epoch_s"] = float(np.mean([t[0] for t in plain_times[-2:]]))
            row["plain_epoch_cpu_s"] = float(np.mean([t[1] for t in plain_times[-2:]]))
            if row.get("steady_epoch_s"):
                row["epoch_ratio"] = row["steady_epoch_s"] / row["plain_epoch_s"]
                row["epoch_cpu_ratio"] = row["steady_epoch_cpu_s"] / row["plain_epoch_cpu_s"]
            print(json.dumps({k: v for k, v in row.items() if k != "where"}), flush=True)
    out["plain_epoch_wall_cpu_s"] = plain_times
    out["rows"] = rows

    out["epoch_cost"] = []
    for name, mode in cost_runs:
        if name in names:
            out["epoch_cost"].append(epoch_cost(name, mode, dense, train, epochs))
            print(json.dumps(out["epoch_cost"][-1]), flush=True)
    lat = latencies({"dense": dense, "half_width": half, **smalls}, rounds, runs)
    out["latency"] = lat
    limit = lat["half_width"]["median_ms"]
    for row in rows:
        key = f"{row['criterion']}/{row['mode']}"
        if key in lat:
            row["latency_ms"] = lat[key]["median_ms"]
            row["latency_vs_half_width"] = lat[key]["median_ms"] / limit
    out["targets"] = verdict(out)
    out["seconds"] = round(time.perf_counter() - t_start, 1)
    return out


def verdict(out):
    """The issue's three targets against the measured rows."""
    ok = [r for r in out["rows"] if r["status"] == "ok"]
    lat = [r["latency_vs_half_width"] for r in ok if "latency_vs_half_width" in r]
    ratio = [r["epoch_ratio"] for r in ok if "epoch_ratio" in r]
    best = max(ok, key=lambda r: r["accuracy"], default=None)
    res = {"latency_vs_half_width": {"target": TARGETS["latency_vs_half_width"],
                                     "median": _med(lat), "max": max(lat, default=None)},
           "epoch_ratio": {"target": TARGETS["epoch_ratio"], "median": _med(ratio),
                           "max": max(ratio, default=None),
                           "gradual_median": _med([r["epoch_ratio"] for r in ok if
                                                   r["mode"] == "gradual" and "epoch_ratio" in r])},
           "best_accuracy": {"target": out["dense"]["accuracy"],
                             "best": None if best is None else best["accuracy"],
                             "run": None if best is None else f"{best['criterion']}/{best['mode']}"}}
    res["latency_vs_half_width"]["met_median"] = (
        lat != [] and res["latency_vs_half_width"]["median"] <= TARGETS["latency_vs_half_width"])
    res["latency_vs_half_width"]["met_all"] = (
        lat != [] and max(lat) <= TARGETS["latency_vs_half_width"])
    res["epoch_ratio"]["met_median"] = ratio != [] and _med(ratio) <= TARGETS["epoch_ratio"]
    res["epoch_ratio"]["met_all"] = ratio != [] and max(ratio) <= TARGETS["epoch_ratio"]
    paired = {f"{c['criterion']}/{c['mode']}": c["median_ratio"] for c in out.get("epoch_cost", [])}
    res["epoch_ratio"]["cpu_median"] = _med([r["epoch_cpu_ratio"] for r in ok
                                             if "epoch_cpu_ratio" in r])
    res["epoch_ratio"]["cpu_max"] = max((r["epoch_cpu_ratio"] for r in ok
                                         if "epoch_cpu_ratio" in r), default=None)
    res["epoch_ratio"]["paired_cpu"] = {f"{c['criterion']}/{c['mode']}": c["median_cpu_ratio"]
                                        for c in out.get("epoch_cost", [])}
    res["epoch_ratio"]["paired"] = paired
    res["epoch_ratio"]["paired_met_all"] = bool(paired) and max(paired.values()) <= TARGETS["epoch_ratio"]
    res["best_accuracy"]["met"] = best is not None and best["accuracy"] >= out["dense"]["accuracy"]
    return res


def _med(xs):
    return float(np.median(xs)) if xs else None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true",
                    help=f"2 dense + 2 fine-tune epochs, criteria {QUICK}, fewer latency rounds")
    ap.add_argument("--criteria", nargs="+", default=None,
                    help="these criteria only (default: every channel criterion)")
    ap.add_argument("--out", default=None, help="JSON path (default: bench/results/"
                    "structured.json; --quick: bench/results/quick/structured.json)")
    args = ap.parse_args(argv)
    names, left_out = channel_criteria()
    if args.criteria:
        unknown = sorted(set(args.criteria) - set(names))
        if unknown:
            ap.error(f"not channel criteria: {unknown}; choose from {names}")
        names = args.criteria
    elif args.quick:
        names = [n for n in QUICK if n in names]
    out_path = args.out or os.path.join(RESULTS, "quick" if args.quick else "",
                                        "structured.json")
    import tensorflow as tf

    started = datetime.now(timezone.utc).isoformat(timespec="seconds")
    load_start = list(os.getloadavg())
    cpu0 = os.times()
    res = run(names, left_out, dense_epochs=2 if args.quick else 8,
              epochs=2 if args.quick else 4, rounds=3 if args.quick else 15,
              runs=50 if args.quick else 200,
              cost_runs=COST_RUNS[:1] if args.quick else COST_RUNS)
    cpu1 = os.times()
    res = {"command": " ".join(["python", "bench/structured.py", *(argv or sys.argv[1:])]),
           "started": started,
           "finished": datetime.now(timezone.utc).isoformat(timespec="seconds"),
           "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                       "python": platform.python_version(), "tensorflow": tf.__version__,
                       "load_average_start": load_start,
                       "load_average_end": list(os.getloadavg()),
                       "cpu_seconds": round(cpu1.user + cpu1.system - cpu0.user - cpu0.system, 1)},
           **res}
    os.makedirs(os.path.dirname(out_path), exist_ok=True)
    tmp = out_path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, out_path)
    print(json.dumps(res["targets"], indent=1))
    print("wrote", out_path)


if __name__ == "__main__":
    main()
