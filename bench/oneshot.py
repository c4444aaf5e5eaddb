"""One-shot pruning without fine-tuning (issue 25, item 3).

The demo CNN (``tfprune.app.data.demo_cnn``) is trained on MNIST-5k for ``--epochs``
(default 4, Adam 1e-3, batch 64), then pruned once with 128 calibration samples of the
training set and evaluated on the 1,000 test digits, with no fine-tuning:
magnitude, wanda, sparsegpt and obs at 50 % and 70 % (layer scope: every layer at the
target) and at 2:4 (``conv1`` excluded: its single input channel has no group of 4), plus
wanda and sparsegpt with OWL's layer sparsities (``allocate(method="owl")``) at 70 %.
Every row also gives the relative output error of the pruned model on the calibration
samples and the one-shot time.

Usage:
    .venv/bin/python bench/oneshot.py [--epochs 4] [--seed 0]
Writes bench/results/oneshot.json.
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
from tfprune.analysis import allocate  # noqa: E402
from tfprune.app import data as data_lib  # noqa: E402
from tfprune.compat import keras  # noqa: E402
from tfprune.masking import pruner  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "oneshot.json")
CRITERIA = ("magnitude", "wanda", "sparsegpt", "obs")
TARGETS = ("0.5", "0.7", "2:4")


def _accuracy(model, x, y):
    return float(np.mean(np.argmax(model.predict(x, batch_size=256, verbose=0), -1) == y))


def _row(model, pruned, x_cal, x_te, y_te, seconds):
    plain = tfprune.strip(pruned)
    ref = model.predict(x_cal, verbose=0)
    err = float(np.sum((plain.predict(x_cal, verbose=0) - ref) ** 2) / np.sum(ref ** 2))
    return {"accuracy": _accuracy(plain, x_te, y_te), "output_error": err,
            "sparsity": pruner.sparsity_report(pruned)["sparsity"], "seconds": seconds}


def run(epochs: int, seed: int) -> dict:
    keras.utils.set_random_seed(seed)
    (x_tr, y_tr), (x_te, y_te) = data_lib.mnist5k(seed)
    model = data_lib.demo_cnn(seed=seed)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    model.fit(x_tr, y_tr, epochs=epochs, batch_size=64, verbose=0)
    x_cal = x_tr[np.random.default_rng(seed).permutation(len(x_tr))[:128]]
    out = {"dense": _accuracy(model, x_te, y_te), "epochs": epochs, "seed": seed,
           "calibration_samples": len(x_cal), "rows": {}}
    for target in TARGETS:
        for crit in CRITERIA:
            kw = ({"granularity": "n:m", "exclude": ["conv1"]} if target == "2:4"
                  else {"sparsity": float(target)})
            t0 = time.perf_counter()
            pruned = tfprune.one_shot(model, kw.pop("sparsity", None), criterion=crit,
                                      data=None if crit == "magnitude" else x_cal, **kw)
            row = _row(model, pruned, x_cal, x_te, y_te, time.perf_counter() - t0)
            out["rows"][f"{crit}@{target}"] = row
            print(f"{crit:10s} {target:4s} acc={row['accuracy']:.4f} "
                  f"err={row['output_error']:.4f} s={row['sparsity']:.3f}", flush=True)
    alloc = allocate(model, sparsity=0.7, method="owl", data=x_cal)
    out["owl_scope@0.7"] = dict(alloc)
    for crit in ("wanda", "sparsegpt", "magnitude"):
        t0 = time.perf_counter()
        pruned = tfprune.one_shot(model, criterion=crit, scope=dict(alloc),
                                  data=None if crit == "magnitude" else x_cal)
        row = _row(model, pruned, x_cal, x_te, y_te, time.perf_counter() - t0)
        out["rows"][f"{crit}+owl@0.7"] = row
        print(f"{crit}+owl 0.7 acc={row['accuracy']:.4f} s={row['sparsity']:.3f}", flush=True)
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--epochs", type=int, default=4)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    result = run(args.epochs, args.seed)
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    tmp = OUT + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, OUT)
    print(f"dense {result['dense']:.4f}; wrote {OUT}")


if __name__ == "__main__":
    main()
