"""Benchmark: the smallest MCU file for the demo CNN (issue 26 item 4) on MNIST-5k.

Same training as bench/compress.py (dense 8 epochs; 50 % channels, then 90 % unstructured
magnitude pruning, 4 fine-tune epochs per stage), then post-training weight clustering
(tfprune.export.cluster, 16 values per kernel with zero kept, no fine-tuning) and the TFLM
DECODE encodings prune / lut / auto (tfprune.export.compress). Every encoded file runs in the
real TFLM interpreter on all 1,000 test digits next to its uncompressed int8 file: outputs
must be bit-identical; accuracy is the TFLM accuracy; flash = .tflite bytes; arena = TFLM's
allocation report. The best variant also goes through export.micro(compress="auto")
(bisected arena). Writes bench/results/mcu_flash.json.

``--only lenet``: LeNet-300-100 (784-300-100-10) on MNIST-5k against Deep Compression's 40x:
hidden units removed (tfprune.structured, then fine-tuned), global unstructured magnitude
pruning, post-training clustering, then every DECODE encoding (prune / lut / huffman / auto),
each bit-exact in TFLM on all 1,000 test digits. Flash (the whole .tflite file) is compared
with the float32 bytes of the dense LeNet-300-100's weights and biases; the best variant
within 0.5 point of the dense int8 TFLM accuracy goes through export.micro(compress="auto").
Writes bench/results/mcu_flash_lenet.json.

    .venv/bin/python bench/mcu_flash.py            # ~6 min on 2 shared cores
    .venv/bin/python bench/mcu_flash.py --quick    # 2 dense epochs, 1 fine-tune epoch
    .venv/bin/python bench/mcu_flash.py --only lenet   # ~5 min
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402
from compress import channels, clone, fit, input_codes, kernel_zeros, unstructured  # noqa: E402

from tfprune.compat import keras  # noqa: E402
from tfprune.export import cluster, micro, tflite_bytes  # noqa: E402
from tfprune.export.compress import (  # noqa: E402
    auto_encode,
    huffman_encode,
    lut_encode,
    prune_encode,
)
from tfprune.export.compress.measure import compare_tflm  # noqa: E402

RESULTS = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results")
OUT = os.path.join(RESULTS, "mcu_flash.json")
OUT_LENET = os.path.join(RESULTS, "mcu_flash_lenet.json")
ENCODERS = {"none": None, "prune": prune_encode, "lut": lut_encode, "huffman": huffman_encode,
            "auto": auto_encode}


def rows_for(name, model, xtr, xte, yte, encodings):
    dense8 = tflite_bytes(model, quantize="int8", data=xtr[:300], int8_io=True)
    codes = input_codes(dense8, xte)
    out = []
    for enc in encodings:
        t0 = time.time()
        if ENCODERS[enc] is None:
            small, report = dense8, {"encoded": 0, "tensors": []}
        else:
            small, report = ENCODERS[enc](dense8, allow_uncompressed=True)
        res = compare_tflm(dense8, small, codes, repeats=1, keep_outputs=True)
        if not res["ok"]:
            raise RuntimeError(f"{name}/{enc}: TFLM failed: {res['error']}")
        acc = float(np.mean(res["outputs_array"].argmax(-1) == yte))
        encoded = sum(r["flash_bytes"] for r in report["tensors"])
        r = {"variant": name, "encoding": enc, "params": int(model.count_params()),
             "kernel_zero_fraction": round(kernel_zeros(model), 4),
             "tflm_accuracy": acc, "int8_bytes": len(dense8), "flash_bytes": len(small),
             "encoded_tensor_bytes": encoded, "other_bytes": len(small) - encoded,
             "bit_exact": res["bit_exact"], "tflm_samples": res["samples"],
             "arena_reported": res["reported"]["compressed"],
             "tensors": [{k: t.get(k) for k in ("name", "shape", "encoding", "flash_bytes",
                                                  "decoded_bytes", "bits", "zero_fraction",
                                                  "bits_per_element", "symbols")}
                         for t in report["tensors"]],
             "seconds": round(time.time() - t0, 1)}
        print(f"{name:28s} {enc:6s} acc {acc:.3f} flash {len(small):7d} B (encoded tensors "
              f"{encoded} B, rest {len(small) - encoded} B) bit-exact {res['bit_exact']} "
              f"arena {r['arena_reported']}", flush=True)
        out.append(r)
    return out


def lenet(seed=0):
    L = keras.layers
    keras.utils.set_random_seed(seed)
    return keras.Sequential([keras.Input((784,)), L.Dense(300, activation="relu", name="fc1"),
                             L.Dense(100, activation="relu", name="fc2"),
                             L.Dense(10, activation="softmax", name="fc3")])


def save(result, path):
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path + ".tmp", "w") as f:
        json.dump(result, f, indent=1)
    os.replace(path + ".tmp", path)


def micro_record(model, xtr, **kw):
    with tempfile.TemporaryDirectory() as tmp:
        rec = micro(model, tmp, representative_data=xtr[:300], compress="auto", **kw)
    c = rec.compression
    return {"flash_bytes": rec.flash_bytes, "arena_bytes": rec.arena_bytes,
            "dense_flash_bytes": c["dense_bytes"], "dense_arena_bytes": c["dense_arena_bytes"],
            "bit_exact": c.get("bit_exact"), "ops": list(rec.ops),
            "tensors": [{k: t.get(k) for k in ("name", "encoding", "flash_bytes",
                                                 "decoded_bytes")} for t in c["tensors"]]}


def lenet_main(args):
    """LeNet-300-100: channels + weights + clustering + DECODE, against float32 / 40."""
    from tfprune.app import data

    dense_ep, tune_ep = (3, 1) if args.quick else (20, 8)
    t0 = time.time()
    (xtr, ytr), (xte, yte) = data.mnist5k(seed=0)
    xtr, xte = xtr.reshape(len(xtr), -1), xte.reshape(len(xte), -1)
    dense = fit(lenet(), (xtr, ytr), dense_ep)
    f32_bytes = 4 * int(dense.count_params())
    keras_acc = float(np.mean(dense.predict(xte, verbose=0).argmax(-1) == yte))
    rows = rows_for("dense", dense, xtr, xte, yte, ["none"])
    models = {}
    for ch in args.lenet_channels:
        shrunk = channels(clone(dense), (xtr, ytr), ch, tune_ep)
        widths = [shrunk.get_layer(n).units for n in ("fc1", "fc2")]
        for sp in args.lenet_sparsity:
            sparse = unstructured(shrunk, (xtr, ytr), sp, tune_ep)
            for k in args.lenet_clusters:
                name = f"units{widths[0]}-{widths[1]}+weights{round(100 * sp)}+cluster{k}"
                models[name] = cluster(sparse, clusters=k)
                rows += rows_for(name, models[name], xtr, xte, yte,
                                 ["prune", "lut", "huffman", "auto"])
    base = rows[0]
    for r in rows:
        r["flash_ratio_vs_float32"] = round(r["flash_bytes"] / f32_bytes, 5)
        r["compression_x"] = round(f32_bytes / r["flash_bytes"], 1)
        r["accuracy_loss_points"] = round(100 * (base["tflm_accuracy"] - r["tflm_accuracy"]), 2)
    ok = [r for r in rows[1:] if r["accuracy_loss_points"] <= 0.5]
    top = min(ok or rows[1:], key=lambda r: r["flash_bytes"])
    micro_rec = micro_record(models[top["variant"]], xtr)
    print("micro(compress='auto'):", json.dumps(micro_rec), flush=True)
    result = {
        "variants": rows,
        "target": {"float32_weight_bytes": f32_bytes, "target_bytes": f32_bytes // 40,
                   "dense_keras_accuracy": keras_acc,
                   "dense_int8_tflm_accuracy": base["tflm_accuracy"],
                   "dense_int8_bytes": base["int8_bytes"],
                   "best_within_0.5pt": f"{top['variant']} / {top['encoding']}",
                   "best_within_0.5pt_found": bool(ok), "best_bytes": top["flash_bytes"],
                   "best_tflm_accuracy": top["tflm_accuracy"],
                   "best_compression_x": top["compression_x"],
                   "target_40x_met": bool(ok) and top["flash_bytes"] <= f32_bytes / 40},
        "micro_auto_best": micro_rec,
        "meta": {"command": "python bench/mcu_flash.py --only lenet" +
                            (" --quick" if args.quick else ""),
                 "epochs": {"dense": dense_ep, "fine_tune_per_stage": tune_ep,
                            "after_clustering": 0},
                 "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared), "
                            f"Python {sys.version.split()[0]}",
                 "flash": "whole .tflite file bytes (int8, DECODE-encoded)",
                 "float32_weight_bytes": "4 x all parameters of the dense LeNet-300-100",
                 "minutes": round((time.time() - t0) / 60, 1)},
    }
    save(result, args.out_lenet)
    print(json.dumps(result["target"]))


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--only", choices=("all", "cnn", "lenet"), default="all")
    ap.add_argument("--out", default=OUT)
    ap.add_argument("--out-lenet", default=OUT_LENET)
    ap.add_argument("--lenet-channels", type=float, nargs="+", default=[0.5, 0.67, 0.75])
    ap.add_argument("--lenet-sparsity", type=float, nargs="+", default=[0.9, 0.95])
    ap.add_argument("--lenet-clusters", type=int, nargs="+", default=[16, 8])
    args = ap.parse_args(argv)
    if args.only in ("all", "lenet"):
        lenet_main(args)
    if args.only in ("all", "cnn"):
        cnn_main(args)


def cnn_main(args):
    dense_ep, tune_ep = (2, 1) if args.quick else (8, 4)
    from tfprune.app import data

    t0 = time.time()
    keras.utils.set_random_seed(0)
    (xtr, ytr), (xte, yte) = data.mnist5k(seed=0)
    dense = fit(data.demo_cnn(seed=0), (xtr, ytr), dense_ep)
    rows = rows_for("dense", dense, xtr, xte, yte, ["none"])
    ch50 = channels(clone(dense), (xtr, ytr), 0.5, tune_ep)
    rows += rows_for("channels50+cluster16", cluster(ch50, clusters=16), xtr, xte, yte,
                     ["none", "lut", "auto"])
    sparse = unstructured(ch50, (xtr, ytr), 0.9, tune_ep)
    rows += rows_for("channels50+unstructured90", sparse, xtr, xte, yte, ["none", "prune"])
    best = None
    for k in (16, 4):
        m = cluster(sparse, clusters=k)
        rows += rows_for(f"channels50+unstructured90+cluster{k}", m, xtr, xte, yte,
                         ["prune", "lut", "huffman", "auto"])
        best = best or m

    base = rows[0]
    for r in rows:
        r["flash_ratio_vs_dense_int8"] = round(r["flash_bytes"] / base["int8_bytes"], 4)
        r["accuracy_loss_points"] = round(100 * (base["tflm_accuracy"] - r["tflm_accuracy"]), 2)
    ok = [r for r in rows if r["accuracy_loss_points"] <= 1.0]
    top = min(ok, key=lambda r: r["flash_bytes"])
    with tempfile.TemporaryDirectory() as tmp:
        rec = micro(best, tmp, representative_data=xtr[:300], compress="auto")
        c = rec.compression
        micro_rec = {"flash_bytes": rec.flash_bytes, "arena_bytes": rec.arena_bytes,
                     "dense_flash_bytes": c["dense_bytes"],
                     "dense_arena_bytes": c["dense_arena_bytes"], "bit_exact": c["bit_exact"],
                     "tensors": [{k: t.get(k) for k in ("name", "encoding", "flash_bytes",
                                                          "decoded_bytes")}
                                 for t in c["tensors"]], "ops": list(rec.ops)}
    print("micro(compress='auto'):", json.dumps(micro_rec), flush=True)
    with tempfile.TemporaryDirectory() as tmp:  # an MCU with a 32 KiB arena budget
        rec = micro(best, tmp, representative_data=xtr[:300], compress="auto", arena=32768)
        c = rec.compression
        micro_rec["arena_limit_32k"] = {
            "flash_bytes": rec.flash_bytes, "arena_bytes": rec.arena_bytes,
            "bit_exact": c.get("bit_exact"),
            "tensors": [{k: t.get(k) for k in ("name", "encoding", "flash_bytes",
                                                 "decoded_bytes")} for t in c["tensors"]],
            "skipped": c["skipped"]}
    print("micro(compress='auto', arena=32768):", json.dumps(micro_rec["arena_limit_32k"]),
          flush=True)
    result = {
        "variants": rows,
        "target": {"dense_int8_bytes": base["int8_bytes"],
                   "dense_int8_tflm_accuracy": base["tflm_accuracy"],
                   "best_within_1pt": f"{top['variant']} / {top['encoding']}",
                   "best_bytes": top["flash_bytes"],
                   "best_ratio": top["flash_ratio_vs_dense_int8"],
                   "target_0.05_met": top["flash_ratio_vs_dense_int8"] <= 0.05},
        "micro_auto_channels50+unstructured90+cluster16": micro_rec,
        "meta": {"command": "python bench/mcu_flash.py" + (" --quick" if args.quick else ""),
                 "epochs": {"dense": dense_ep, "fine_tune_per_stage": tune_ep,
                            "after_clustering": 0},
                 "machine": f"{platform.machine()} {os.cpu_count()} cpus (shared), "
                            f"Python {sys.version.split()[0]}",
                 "arena": "TFLM allocation report (print_allocations) of the encoded file",
                 "other_bytes": "flash minus the encoded tensors' own bytes: flatbuffer, "
                                "unencoded tensors, quantization tables, metadata",
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
