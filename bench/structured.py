"""Structured (channel) pruning benchmark: every criterion at granularity="channel".

The demo CNN on MNIST-5k (4,000 train / 1,000 test): dense training, then for every
criterion 50% of the channels of every dependency group removed, either gradually
(``prune(granularity="channel", schedule=AGP)`` + fine-tune with ``PruningCallback``) or
one-shot (``one_shot(granularity="channel", data=...)``) + fine-tune; then ``strip`` ->
``shrink``. Reports accuracy, MACs, LiteRT 1-thread latency of the shrunk model against
the same network built at half width from scratch (the limit; timed interleaved), and the
steady-epoch time of pruned fine-tuning against plain ``fit``.

    python bench/structured.py                 # full: 8 dense + 4 fine-tune epochs
    python bench/structured.py --quick         # 2 dense + 1 fine-tune epoch, 4 criteria

Writes bench/results/structured.json.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(__file__), ".."))

import tfprune  # noqa: E402
from tfprune import export  # noqa: E402
from tfprune.app.data import demo_cnn, mnist5k  # noqa: E402
from tfprune.compat import keras  # noqa: E402
from tfprune.core import criteria  # noqa: E402
from tfprune.core.schedules import AGP  # noqa: E402
from tfprune.structured import count_macs  # noqa: E402

CHANNEL_CRITERIA = [c for c in ("l1", "l2", "fpgm", "magnitude", "random", "taylor", "obd",
                                "snip", "movement", "apoz", "mean_activation", "hrank")]
QUICK = ["l1", "taylor", "apoz", "random"]
BATCH = 64
LOSS = "sparse_categorical_crossentropy"


class _EpochTimes(keras.callbacks.Callback):
    def on_train_begin(self, logs=None):
        self.times = []

    def on_epoch_begin(self, epoch, logs=None):
        self._t = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        self.times.append(time.perf_counter() - self._t)


def _steady(times):
    return float(np.median(times[1:])) if len(times) > 1 else float(times[0])


def _compile(m):
    m.compile(keras.optimizers.Adam(1e-3), LOSS, metrics=["accuracy"])
    return m


def _accuracy(m, x, y):
    _compile(m)
    return float(m.evaluate(x, y, verbose=0, batch_size=256)[1])


def _half_width():
    L = keras.layers
    return keras.Sequential([
        keras.Input((28, 28, 1)), L.Conv2D(16, 3, activation="relu"), L.MaxPooling2D(),
        L.Conv2D(32, 3, activation="relu"), L.MaxPooling2D(), L.Flatten(),
        L.Dense(64, activation="relu"), L.Dense(10, activation="softmax")])


def _latencies(models: dict, rounds: int = 5, runs: int = 100) -> dict:
    """Median LiteRT 1-thread latency per model, measured interleaved in rounds."""
    blobs = {k: export._tflite_bytes(m) for k, m in models.items()}
    seen = {k: [] for k in blobs}
    for _ in range(rounds):
        for k, b in blobs.items():
            seen[k].append(export.latency(b, threads=1, runs=runs, warmup=10).median_ms)
    return {k: float(np.median(v)) for k, v in seen.items()}


def run(criteria_names, dense_epochs, finetune_epochs, samples):
    (xtr, ytr), (xte, yte) = mnist5k()
    xtr, ytr = xtr[:samples], ytr[:samples]
    keras.utils.set_random_seed(0)
    dense = _compile(demo_cnn())
    timer = _EpochTimes()
    dense.fit(xtr, ytr, batch_size=BATCH, epochs=dense_epochs, verbose=0, callbacks=[timer])
    plain_epoch = _steady(timer.times)
    out = {"dense": {"accuracy": _accuracy(dense, xte, yte), "macs": count_macs(dense),
                     "epoch_s": plain_epoch},
           "config": {"dense_epochs": dense_epochs, "finetune_epochs": finetune_epochs,
                      "train_samples": samples, "sparsity": 0.5, "batch": BATCH},
           "rows": []}
    steps = finetune_epochs * int(np.ceil(samples / BATCH))
    smalls = {}
    calib = (xtr[:512], ytr[:512])
    for name in criteria_names:
        crit = criteria.get(name)
        for mode in ("gradual", "one_shot"):
            t0 = time.perf_counter()
            if mode == "gradual":
                sched = AGP(0.5, begin_step=0, end_step=max(1, int(0.75 * steps)),
                            frequency=max(1, steps // 10))
                p = tfprune.prune(dense, schedule=sched, criterion=name, granularity="channel")
            else:
                p = tfprune.one_shot(dense, 0.5, criterion=name, granularity="channel",
                                     data=calib if crit.needs_data else None, loss=LOSS)
            _compile(p)
            timer = _EpochTimes()
            p.fit(xtr, ytr, batch_size=BATCH, epochs=finetune_epochs, verbose=0,
                  callbacks=[tfprune.PruningCallback(), timer])
            small = tfprune.shrink(tfprune.strip(p))
            key = f"{name}/{mode}"
            smalls[key] = small
            out["rows"].append({
                "criterion": name, "mode": mode, "accuracy": _accuracy(small, xte, yte),
                "macs": count_macs(small), "params": int(small.count_params()),
                "epoch_ratio": _steady(timer.times) / plain_epoch,
                "wall_s": time.perf_counter() - t0})
            print(json.dumps(out["rows"][-1]), flush=True)
    lat_models = {"dense": dense, "half_width": _half_width()}
    lat_models.update({k: smalls[k] for k in list(smalls)[:2]})
    lat = _latencies(lat_models)
    out["latency_ms"] = lat
    out["half_width_macs"] = count_macs(lat_models["half_width"])
    for row in out["rows"]:
        key = f"{row['criterion']}/{row['mode']}"
        if key in lat:
            row["latency_ms"] = lat[key]
            row["latency_vs_half_width"] = lat[key] / lat["half_width"]
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="2 dense + 1 fine-tune epoch, 4 criteria")
    ap.add_argument("--criteria", nargs="*", default=None)
    ap.add_argument("--out", default=os.path.join(os.path.dirname(__file__), "results",
                                                  "structured.json"))
    args = ap.parse_args(argv)
    names = args.criteria or (QUICK if args.quick else CHANNEL_CRITERIA)
    res = run(names, dense_epochs=2 if args.quick else 8,
              finetune_epochs=1 if args.quick else 4, samples=4000)
    res["command"] = "python bench/structured.py" + (" --quick" if args.quick else "")
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(res, f, indent=1)
    os.replace(tmp, args.out)
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
