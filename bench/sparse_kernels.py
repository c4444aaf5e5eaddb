"""Benchmark: do LiteRT's builtin block-sparse FULLY_CONNECTED kernels beat the dense XNNPACK file?

Two Dense-only networks with random (untrained) weights — latency does not depend on the
values: LeNet-300-100 (784-300-100-10, ReLU) and the MLPerf Tiny anomaly-detection autoencoder
(640-128-128-128-128-8-128-128-128-128-640, ReLU). Each is pruned with
``tfprune.one_shot(m, s, granularity="block:RxC")`` at s = 80/90/95 % in the layouts the
converter stores natively (metadata mode 3002, no DENSIFY): ``"block:4x1"`` for float (TFLite's
1x4), ``"block:16x1"`` for int8 (1x16); a layer whose input width is not a multiple of the
block stays dense (int8 LeNet: 300 and 100 inputs; int8 autoencoder: the 8-input layer).
Every file of one model and kind (dense, and the three sparse files) runs in one process,
LiteRT 1 thread, batch 1, interleaved: ROUNDS rounds, each timing a block of invokes of every
interpreter in turn; the figure is the fastest block's per-invoke time (the machine is shared:
other processes only add time; the medians are in the JSON too). Ratios are dense-XNNPACK time
divided by the sparse file's time with the builtin resolver (> 1: the sparse file is faster).
The last column is what ``export.tflite(objective="balanced")`` keeps for the pruned model.
Writes bench/results/sparse_kernels.json.

    .venv/bin/python bench/sparse_kernels.py            # ~3 min on 2 shared cores
    .venv/bin/python bench/sparse_kernels.py --quick    # fewer rounds
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
from tfprune.compat import keras  # noqa: E402
from tfprune.export import _inspect, _litert, timing  # noqa: E402

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "results", "sparse_kernels.json")
SPARSITIES = (0.8, 0.9, 0.95)
KINDS = {"float32": (None, (4, 1)), "int8": ("int8", (16, 1))}
SHAPES = {"lenet_300_100": [784, 300, 100, 10],
          "ad_autoencoder": [640, 128, 128, 128, 128, 8, 128, 128, 128, 128, 640]}


def build(name, widths):
    keras.utils.set_random_seed(0)
    L = keras.layers
    layers = [keras.Input((widths[0],))]
    for i, w in enumerate(widths[1:]):
        last = i == len(widths) - 2
        layers.append(L.Dense(w, activation=None if last else "relu", name=f"fc{i}"))
    return keras.Sequential(layers, name=name)


def not_tiling(model, block):
    return [layer.name for layer in model.layers if layer.kernel.shape[0] % block[0]]


def _file(model, quantize, sparse, x, folder, tag):
    rec = export.tflite(model, os.path.join(folder, f"{tag}.tflite"), quantize=quantize,
                        sparse=sparse, representative_data=x if quantize else None,
                        measure=False, overwrite=True)
    with open(rec.path, "rb") as f:
        return f.read(), rec


def run_kind(model, kind, rounds, folder):
    quantize, block = KINDS[kind]
    x = np.random.default_rng(0).random((64, model.input_shape[-1])).astype("float32")
    dense, _ = _file(model, quantize, False, x, folder, f"{model.name}_{kind}_dense")
    its = {"dense/xnnpack": _litert.interpreter(dense, resolver=_litert.DEFAULT)[0],
           "dense/builtin": _litert.interpreter(dense, resolver=_litert.BUILTIN)[0]}
    files, kept = {}, {}
    excluded = not_tiling(model, block)
    for s in SPARSITIES:
        pruned = tfprune.strip(tfprune.one_shot(model, s,
                                                granularity=f"block:{block[0]}x{block[1]}",
                                                exclude=excluded or None))
        content, rec = _file(pruned, quantize, True, x, folder, f"{model.name}_{kind}_{s}")
        files[s] = (content, rec)
        for resolver, it, _ in _litert.resolvers(content):
            if it is not None:
                its[f"{s}/{'xnnpack' if resolver == _litert.DEFAULT else 'builtin'}"] = it
        choice = export.tflite(pruned, os.path.join(folder, "choice.tflite"),
                               quantize=quantize, representative_data=x if quantize else None,
                               overwrite=True)
        kept[s] = {"encoding": "sparse" if choice.sparse else "dense",
                   "resolver": choice.resolver, "decision": choice.decision}
    every = timing.interleaved(its, _inspect.summarize(dense), rounds=rounds, block_ms=1.0,
                               statistic="all")
    ms = {k: float(np.min(v)) for k, v in every.items()}
    med = {k: float(np.median(v)) for k, v in every.items()}
    rows = []
    for s, (content, rec) in files.items():
        builtin = ms[f"{s}/builtin"]
        rows.append({
            "sparsity": s, "block": list(block), "dense_layers": excluded,
            "modes": list(rec.modes), "ops": list(rec.ops), "bytes": len(content),
            "dense_bytes": len(dense), "sparse_builtin_ms": builtin,
            "sparse_xnnpack_ms": ms.get(f"{s}/xnnpack"),
            "kernels_default": _litert.kernels_text(_litert.kernels(
                _litert.interpreter(content, resolver=_litert.DEFAULT)[0])),
            "dense_xnnpack_ms": ms["dense/xnnpack"], "dense_builtin_ms": ms["dense/builtin"],
            "speedup_vs_dense_xnnpack": ms["dense/xnnpack"] / builtin,
            "speedup_vs_dense_builtin": ms["dense/builtin"] / builtin,
            "median_ms": {k: v for k, v in med.items() if k.startswith(("dense/", f"{s}/"))},
            "median_speedup_vs_dense_xnnpack": med["dense/xnnpack"] / med[f"{s}/builtin"],
            "balanced_keeps": kept[s]})
    return rows


def table(results) -> str:
    lines = ["| model | kind | sparsity | dense XNNPACK ms | dense builtin ms | sparse builtin ms "
             "| vs dense XNNPACK | vs dense builtin | bytes (dense) | balanced keeps |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for r in results:
        lines.append(
            f"| {r['model']} | {r['kind']} | {r['sparsity']:.0%} | {r['dense_xnnpack_ms']:.4f} "
            f"| {r['dense_builtin_ms']:.4f} | {r['sparse_builtin_ms']:.4f} "
            f"| {r['speedup_vs_dense_xnnpack']:.2f}x | {r['speedup_vs_dense_builtin']:.2f}x "
            f"| {r['bytes']:,} ({r['dense_bytes']:,}) | {r['balanced_keeps']['encoding']} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--out", default=OUT)
    args = ap.parse_args(argv)
    rounds = 15 if args.quick else 151
    t0 = time.time()
    results = []
    with tempfile.TemporaryDirectory() as folder:
        for name, widths in SHAPES.items():
            model = build(name, widths)
            for kind in KINDS:
                for row in run_kind(model, kind, rounds, folder):
                    results.append({"model": name, "kind": kind, **row})
                    print(table([results[-1]]).splitlines()[-1], flush=True)
    doc = {"command": "python bench/sparse_kernels.py" + (" --quick" if args.quick else ""),
           "host": {"machine": platform.machine(), "python": sys.version.split()[0],
                    "cpu_avx": "avx" in open("/proc/cpuinfo").read().split()
                    if os.path.exists("/proc/cpuinfo") else None},
           "threads": 1, "rounds": rounds, "seconds": round(time.time() - t0, 1),
           "results": results, "table": table(results)}
    os.makedirs(os.path.dirname(args.out), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(doc, f, indent=1)
    print(doc["table"])


if __name__ == "__main__":
    main()
