"""Benchmark: TFLM flash of the demo CNN with channel shrink + unstructured pruning + the
TFLM DECODE prune encoding (tfprune.export.compress), on MNIST-5k.

Dense demo CNN trained 8 epochs (Adam 1e-3, batch 64); variants fine-tuned 4 epochs per
stage: 50% channels (tfprune.structured plan/apply_masks/shrink) and/or tfprune.prune global
magnitude AGP 0 -> s ending at 75% of the steps (frequency 25), strip. Each variant is
converted to full-int8 (int8 I/O), prune-encoded, and run in the real TFLM interpreter
(tflite-micro Python runtime) on all 1,000 test digits next to its dense int8 file: outputs
must be bit-identical; accuracy is the TFLM accuracy of the compressed file. Flash = .tflite
bytes; arena = TFLM's allocation report; decode overhead = median over 300 rounds of the
invoke time ratio (compressed / dense int8 of the same variant, run back to back) on this host. Writes bench/results/compress.json.

    .venv/bin/python bench/compress.py            # ~10 min on 2 shared cores
    .venv/bin/python bench/compress.py --quick    # 2 dense epochs, 1 fine-tune epoch
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfprune  # noqa: E402
from tfprune import structured as S  # noqa: E402
from tfprune.compat import keras  # noqa: E402
from tfprune.export import tflite_bytes  # noqa: E402
from tfprune.export.compress import prune_encode  # noqa: E402
from tfprune.export.compress.measure import compare_tflm  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "compress.json")
BATCH = 64


def fit(model, xy, epochs, callbacks=()):
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy",
                  metrics=["accuracy"])
    model.fit(*xy, epochs=epochs, batch_size=BATCH, verbose=0, callbacks=list(callbacks))
    return model


def clone(model):
    c = keras.models.clone_model(model)
    c.set_weights(model.get_weights())
    return c


def unstructured(model, xy, sparsity, epochs):
    steps = epochs * int(np.ceil(len(xy[0]) / BATCH))
    sched = tfprune.schedules.AGP(sparsity, end_step=max(1, int(0.75 * steps)), frequency=25)
    wrapped = tfprune.prune(clone(model), schedule=sched, scope="global")
    fit(wrapped, xy, epochs, [tfprune.PruningCallback()])
    return tfprune.strip(wrapped)


def channels(model, xy, sparsity, epochs):
    plan = S.plan(model, sparsity=sparsity)
    return fit(S.shrink(S.apply_masks(model, plan)), xy, epochs)


def kernel_zeros(model):
    k = [w.numpy() for w in model.weights if w.shape.rank >= 2]
    return float(sum((a == 0).sum() for a in k) / sum(a.size for a in k))


def input_codes(content, x):
    from ai_edge_litert.interpreter import Interpreter

    d = Interpreter(model_content=content).get_input_details()[0]
    scale, zp = d["quantization"]
    return np.clip(np.round(x / scale + zp), -128, 127).astype(np.int8)


def row(name, model, xtr, xte, yte, repeats):
    t0 = time.time()
    dense8 = tflite_bytes(model, quantize="int8", data=xtr[:300], int8_io=True)
    small, report = prune_encode(dense8, allow_uncompressed=True)
    res = compare_tflm(dense8, small, input_codes(dense8, xte),
                       repeats=repeats if report["encoded"] else 1, keep_outputs=True)
    if not res["ok"]:
        raise RuntimeError(f"{name}: TFLM failed: {res['error']}\n{res.get('log', '')}")
    acc = float(np.mean(res["outputs_array"].argmax(-1) == yte))
    keras_acc = float(np.mean(model.predict(xte, verbose=0, batch_size=256).argmax(1) == yte))
    out = {"variant": name, "params": int(model.count_params()),
           "kernel_zero_fraction": round(kernel_zeros(model), 4),
           "keras_accuracy": keras_acc, "tflm_accuracy": acc,
           "int8_bytes": len(dense8), "compressed_bytes": len(small),
           "encoded_tensors": report["encoded"], "bit_exact": res["bit_exact"],
           "tflm_samples": res["samples"], "arena_reported": res["reported"],
           "invoke_seconds": res["seconds"],
           "decode_overhead": res["overhead"] if report["encoded"] else None,
           "decode_overhead_min": res["overhead_min"] if report["encoded"] else None,
           "tensors": report["tensors"], "skipped": report["skipped"],
           "seconds": round(time.time() - t0, 1)}
    print(f"{name:32s} acc {acc:.3f} (keras {keras_acc:.3f}) int8 {len(dense8):7d} B  "
          f"compressed {len(small):7d} B  bit-exact {res['bit_exact']}  arena "
          f"{res['reported']}  overhead {out['decode_overhead']}", flush=True)
    return out


def public_micro(model, xtr):
    """The same model through tfprune.export.micro(compress="prune"): bisected arena."""
    import tempfile

    from tfprune.export import micro

    with tempfile.TemporaryDirectory() as tmp:
        rec = micro(model, tmp, representative_data=xtr[:300], compress="prune")
        c = rec.compression
        out = {"flash_bytes": rec.flash_bytes, "arena_bytes": rec.arena_bytes,
               "arena_reported_bytes": rec.arena_reported_bytes,
               "dense_flash_bytes": c["dense_bytes"],
               "dense_arena_bytes": c["dense_arena_bytes"], "bit_exact": c["bit_exact"],
               "tflm_samples": c["samples"], "decode_overhead": c["decode_overhead"],
               "ops": list(rec.ops)}
    print("micro():", json.dumps(out), flush=True)
    return out


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args(argv)
    dense_ep, tune_ep, repeats = (2, 1, 20) if args.quick else (8, 4, 300)
    from tfprune.app import data

    t0 = time.time()
    keras.utils.set_random_seed(0)
    (xtr, ytr), (xte, yte) = data.mnist5k(seed=0)
    dense = fit(data.demo_cnn(seed=0), (xtr, ytr), dense_ep)
    rows = [row("dense", dense, xtr, xte, yte, repeats)]
    ch50 = channels(clone(dense), (xtr, ytr), 0.5, tune_ep)
    rows.append(row("channels50", ch50, xtr, xte, yte, repeats))
    for s in (0.8, 0.9):
        m = unstructured(ch50, (xtr, ytr), s, tune_ep)
        rows.append(row(f"channels50+unstructured{int(s * 100)}", m, xtr, xte, yte, repeats))
    best_model = m
    m = unstructured(dense, (xtr, ytr), 0.9, tune_ep)
    rows.append(row("unstructured90", m, xtr, xte, yte, repeats))
    micro_rec = public_micro(best_model, xtr)

    base = rows[0]
    for r in rows:
        r["flash_ratio_vs_dense_int8"] = round(r["compressed_bytes"] / base["int8_bytes"], 4)
        r["accuracy_loss_points"] = round(100 * (base["tflm_accuracy"] - r["tflm_accuracy"]), 2)
    ok = [r for r in rows if r["accuracy_loss_points"] <= 1.0]
    best = min(ok, key=lambda r: r["compressed_bytes"])
    result = {
        "variants": rows,
        "target": {"dense_int8_bytes": base["int8_bytes"],
                   "dense_int8_tflm_accuracy": base["tflm_accuracy"],
                   "best_within_1pt": best["variant"], "best_bytes": best["compressed_bytes"],
                   "best_ratio": best["flash_ratio_vs_dense_int8"],
                   "target_0.15_met": best["flash_ratio_vs_dense_int8"] <= 0.15},
        "micro_channels50+unstructured90": micro_rec,
        "meta": {"command": "python bench/compress.py" + (" --quick" if args.quick else ""),
                 "epochs": {"dense": dense_ep, "fine_tune_per_stage": tune_ep},
                 "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared), "
                            f"Python {sys.version.split()[0]}",
                 "arena": "TFLM allocation report (print_allocations), dense and compressed",
                 "decode_overhead": f"median over {repeats} rounds of the compressed/dense invoke "
                                    "time ratio (back to back); _min: ratio of the fastest "
                                    "invokes; host x86 TFLM reference kernels",
                 "minutes": round((time.time() - t0) / 60, 1)},
    }
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    tmp = args.out + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, args.out)
    print(json.dumps(result["target"]))


if __name__ == "__main__":
    main()
