"""Benchmark: int8 accuracy of pruned models, post-training quantization vs tfprune.quantize_aware.

For the demo CNN and the DS-CNN on MNIST-5k: train dense, prune (channels 50 % + shrink, and
weights 90 %), fine-tune, then measure the float model, the post-training int8 file and the
QAT int8 file (1 QAT epoch, Adam 1e-4) in LiteRT on the 1,000 test images. Writes
bench/results/qat.json and prints a markdown table.

    .venv/bin/python bench/qat.py                 # ~10 min on 2 idle cores
    .venv/bin/python bench/qat.py --nets demo     # one network
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
from tfprune import export  # noqa: E402
from tfprune.app.data import demo_cnn, ds_cnn, mnist5k  # noqa: E402
from tfprune.compat import keras  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results", "qat.json")


def litert_accuracy(path, x, y) -> float:
    from ai_edge_litert.interpreter import Interpreter

    it = Interpreter(model_path=str(path))
    it.allocate_tensors()
    inp, out = it.get_input_details()[0], it.get_output_details()[0]
    hits = 0
    for i in range(len(x)):
        it.set_tensor(inp["index"], x[i:i + 1].astype(inp["dtype"]))
        it.invoke()
        hits += int(np.argmax(it.get_tensor(out["index"])[0]) == y[i])
    return hits / len(x)


def compiled(model, lr):
    model.compile(keras.optimizers.Adam(lr), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    return model


def pruned_models(net, x, y):
    dense = compiled(net(), 1e-3)
    dense.fit(x, y, epochs=8, batch_size=64, verbose=0)
    steps = len(x) // 64
    out = {}
    p = compiled(tfprune.prune(dense, criterion="l1", granularity="channel",
                               schedule=tfprune.schedules.AGP(0.5, end_step=2 * steps,
                                                              frequency=steps // 4)), 1e-3)
    p.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[tfprune.PruningCallback()])
    out["channels 50 % + shrink"] = tfprune.shrink(tfprune.strip(p))
    p = compiled(tfprune.prune(dense, scope="global",
                               schedule=tfprune.schedules.AGP(0.9, end_step=2 * steps,
                                                              frequency=steps // 4)), 1e-3)
    p.fit(x, y, epochs=3, batch_size=64, verbose=0, callbacks=[tfprune.PruningCallback()])
    out["weights 90 % (global)"] = tfprune.strip(p)
    return out


def run(name, net, data, qat_epochs, work):
    (x, y), (xt, yt) = data
    rows = []
    for pattern, model in pruned_models(net, x, y).items():
        t0 = time.time()
        float_acc = float(compiled(model, 1e-3).evaluate(xt, yt, verbose=0)[1])
        ptq = export.tflite(model, os.path.join(work, f"{name}-ptq.tflite"), quantize="int8",
                            representative_data=x[:256], overwrite=True)
        qat = compiled(tfprune.quantize_aware(model), 1e-4)
        qat.fit(x, y, epochs=qat_epochs, batch_size=64, verbose=0)
        zeros = tfprune.quantization.zero_fractions(qat)
        qrec = export.tflite(qat, os.path.join(work, f"{name}-qat.tflite"), quantize="int8",
                             representative_data=x[:256], overwrite=True)
        row = {"network": name, "pattern": pattern, "float": float_acc,
               "ptq_int8": litert_accuracy(ptq.path, xt, yt),
               "qat_int8": litert_accuracy(qrec.path, xt, yt),
               "qat_epochs": qat_epochs,
               "qat_kernel_zero_fraction": float(np.mean(list(zeros.values()))),
               "seconds": round(time.time() - t0, 1)}
        print(row, flush=True)
        rows.append(row)
    return rows


def table(rows) -> str:
    lines = ["| network | pruned | float | int8 post-training | int8 QAT | QAT − float |",
             "|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['network']} | {r['pattern']} | {100 * r['float']:.1f} % | "
                     f"{100 * r['ptq_int8']:.1f} % | {100 * r['qat_int8']:.1f} % | "
                     f"{100 * (r['qat_int8'] - r['float']):+.1f} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=["demo", "ds_cnn"])
    ap.add_argument("--qat-epochs", type=int, default=1)
    args = ap.parse_args(argv)
    keras.utils.set_random_seed(0)
    data = mnist5k()
    nets = {"demo": demo_cnn, "ds_cnn": ds_cnn}
    rows = []
    with tempfile.TemporaryDirectory() as work:
        for name in args.nets:
            rows += run(name, nets[name], data, args.qat_epochs, work)
    os.makedirs(os.path.dirname(RESULTS), exist_ok=True)
    with open(RESULTS, "w") as f:
        json.dump({"command": "python bench/qat.py " + " ".join(argv or sys.argv[1:]),
                   "machine": platform.machine(), "rows": rows}, f, indent=1)
    print(table(rows))


if __name__ == "__main__":
    main()
