"""Benchmark: why QAT int8 fell below post-training int8 on the DS-CNN, before/after the fix.

For the channel-pruned (50 % + shrink) demo CNN and DS-CNN on MNIST-5k (the recipe of
bench/qat.py), measure in LiteRT on the 1,000 test images: the float model, the post-training
int8 file, and the QAT int8 file (1 epoch, Adam 1e-4) built two ways:

- before: tfprune.quantize_aware as it was: BatchNormalization left out of QAT (TF-MOT's
  pruning-preserving registry does not take it), so the conv output was fake-quantised per
  tensor *before* BN, and activation ranges started at TF-MOT's [-6, 6] (EMA 0.999: after
  62 steps still ~94 % of that);
- fold only: ``quantize_aware(model)`` now: BN taken into QAT, so TF-MOT's Conv+BN(+ReLU)
  transforms put no fake-quant between a conv and its BN (the int8 file folds the BN);
- after: the same with ``representative_data=x[:256]``, which calibrates every activation
  range before training.

Writes bench/results/qat_gap.json (rows of other networks already there are kept) and prints
a markdown table.

    .venv/bin/python bench/qat_gap.py                       # ~15 min on 2 idle cores
    .venv/bin/python bench/qat_gap.py --nets demo --cache /tmp/qat_models   # reuse models
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfprune  # noqa: E402
from tfprune import export, quantization  # noqa: E402
from tfprune.app.data import demo_cnn, ds_cnn, mnist5k  # noqa: E402
from tfprune.compat import keras  # noqa: E402

sys.path.insert(0, os.path.dirname(__file__))
from qat import compiled, litert_accuracy  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results", "qat_gap.json")
NETS = {"demo": demo_cnn, "ds_cnn": ds_cnn}


def channel_pruned(name, x, y, cache):
    """The bench/qat.py channel-pruned model (dense 8 epochs, AGP 50 % channels, shrink)."""
    path = os.path.join(cache, f"{name}.h5") if cache else None
    if path and os.path.exists(path):
        return keras.models.load_model(path)
    keras.utils.set_random_seed(0)
    dense = compiled(NETS[name](), 1e-3)
    dense.fit(x, y, epochs=8, batch_size=64, verbose=0)
    steps = len(x) // 64
    p = compiled(tfprune.prune(dense, criterion="l1", granularity="channel",
                               schedule=tfprune.schedules.AGP(0.5, end_step=2 * steps,
                                                              frequency=steps // 4)), 1e-3)
    p.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[tfprune.PruningCallback()])
    model = tfprune.shrink(tfprune.strip(p))
    if path:
        os.makedirs(cache, exist_ok=True)
        model.save(path)
    return model


def qat_before(model):
    """quantize_aware as it was before the fix: BN left float, ranges from [-6, 6]."""
    fold = quantization._follows_quantized_linear
    quantization._follows_quantized_linear = lambda *a: False
    try:
        return quantization.quantize_aware(model)
    finally:
        quantization._follows_quantized_linear = fold


def run(name, data, qat_epochs, lr, cache, work):
    (x, y), (xt, yt) = data
    model = channel_pruned(name, x, y, cache)
    float_acc = float(compiled(model, 1e-3).evaluate(xt, yt, verbose=0)[1])
    ptq = export.tflite(model, os.path.join(work, f"{name}-ptq.tflite"), quantize="int8",
                        representative_data=x[:256], overwrite=True)
    row = {"network": name, "pattern": "channels 50 % + shrink", "float": float_acc,
           "ptq_int8": litert_accuracy(ptq.path, xt, yt), "qat_epochs": qat_epochs,
           "qat_lr": lr}
    builds = {"before": qat_before,
              "fold_only": tfprune.quantize_aware,
              "after": lambda m: tfprune.quantize_aware(m, representative_data=x[:256])}
    for when, build in builds.items():
        t0 = time.time()
        keras.utils.set_random_seed(0)
        qat = compiled(build(model), lr)
        qat.fit(x, y, epochs=qat_epochs, batch_size=64, verbose=0)
        rec = export.tflite(qat, os.path.join(work, f"{name}-qat-{when}.tflite"),
                            quantize="int8", representative_data=x[:256], overwrite=True)
        row[f"qat_keras_{when}"] = float(qat.evaluate(xt, yt, verbose=0)[1])
        row[f"qat_int8_{when}"] = litert_accuracy(rec.path, xt, yt)
        row[f"qat_zero_fraction_{when}"] = float(np.mean(
            list(quantization.zero_fractions(qat).values())))
        row[f"seconds_{when}"] = round(time.time() - t0, 1)
    print(row, flush=True)
    return row


def table(rows) -> str:
    lines = ["| network | float | int8 post-training | int8 QAT before | int8 QAT BN fold only | "
             "int8 QAT after | after − float | after − PTQ |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['network']} | {100 * r['float']:.1f} % | {100 * r['ptq_int8']:.1f} % | "
            f"{100 * r['qat_int8_before']:.1f} % | "
            f"{100 * r['qat_int8_fold_only']:.1f} % | {100 * r['qat_int8_after']:.1f} % | "
            f"{100 * (r['qat_int8_after'] - r['float']):+.1f} | "
            f"{100 * (r['qat_int8_after'] - r['ptq_int8']):+.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--qat-epochs", type=int, default=1)
    ap.add_argument("--lr", type=float, default=1e-4)
    ap.add_argument("--cache", default=None,
                    help="folder to keep/reuse the pruned models (<net>.h5)")
    args = ap.parse_args(argv)
    data = mnist5k()
    with tempfile.TemporaryDirectory() as work:
        rows = [run(n, data, args.qat_epochs, args.lr, args.cache, work) for n in args.nets]
    old = []
    if os.path.exists(RESULTS):
        with open(RESULTS) as f:
            old = [r for r in json.load(f)["rows"] if r["network"] not in args.nets]
    rows = sorted(old + rows, key=lambda r: list(NETS).index(r["network"]))
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    tmp = RESULTS + ".tmp"
    with open(tmp, "w") as f:
        json.dump({"command": "python bench/qat_gap.py " + " ".join(argv or sys.argv[1:]),
                   "machine": platform.machine(), "rows": rows}, f, indent=1)
    os.replace(tmp, RESULTS)
    print(table(rows))


if __name__ == "__main__":
    main()
