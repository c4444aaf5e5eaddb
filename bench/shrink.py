"""Benchmark: one-shot 50% channel pruning + shrink on 14 tf_keras.applications
architectures (weights=None) and the demo CNN on MNIST-5k with fine-tuning.

Per architecture: MACs/params before and after, parity (masked vs shrunk, max
abs error / max abs output), LiteRT float latency (1 thread, median of many
invokes, dense and shrunk interleaved in the same run). Writes
bench/results/shrink.json and prints a markdown table.

    .venv/bin/python bench/shrink.py                 # everything (~15 min on 2 cores)
    .venv/bin/python bench/shrink.py --archs MobileNetV2 ResNet50 --skip-mnist
    .venv/bin/python bench/shrink.py --only-gradual  # prune(granularity='channel') on MNIST, merged into the json
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import platform
import statistics
import sys
import tempfile
import time
import traceback

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

import tfprune  # noqa: E402,F401
from tfprune import structured as S  # noqa: E402
from tfprune.compat import keras  # noqa: E402

ARCHS = [
    "MobileNet",
    "MobileNetV2",
    "MobileNetV3Small",
    "MobileNetV3Large",
    "ResNet50",
    "ResNet50V2",
    "DenseNet121",
    "EfficientNetB0",
    "EfficientNetV2B0",
    "Xception",
    "InceptionV3",
    "NASNetMobile",
    "VGG16",
    "ConvNeXtTiny",
]
log = logging.getLogger("bench.shrink")


def tflite_bytes(model) -> bytes:
    import tensorflow as tf

    return tf.lite.TFLiteConverter.from_keras_model(model).convert()


def latencies(contents: list, x: np.ndarray, invokes: int) -> list:
    """Median invoke time (ms) per model, 1 thread, models interleaved."""
    from ai_edge_litert.interpreter import Interpreter

    its = []
    for c in contents:
        it = Interpreter(model_content=c, num_threads=1)
        it.allocate_tensors()
        inp = it.get_input_details()[0]
        it.set_tensor(inp["index"], x.astype(inp["dtype"]))
        for _ in range(3):
            it.invoke()
        its.append(it)
    times = [[] for _ in its]
    for _ in range(invokes):
        for k, it in enumerate(its):
            t = time.perf_counter()
            it.invoke()
            times[k].append((time.perf_counter() - t) * 1e3)
    return [statistics.median(t) for t in times]


def build(name: str, size: int):
    fn = getattr(keras.applications, name)
    try:
        m = fn(weights=None, input_shape=(size, size, 3), classifier_activation=None)
    except TypeError:
        m = fn(weights=None, input_shape=(size, size, 3))
    rng = np.random.RandomState(0)  # random BN statistics: masks must matter
    for layer in m.layers:
        if isinstance(layer, keras.layers.BatchNormalization):
            layer.set_weights(
                [rng.uniform(0.5, 1.5, w.shape).astype("float32") for w in layer.get_weights()]
            )
    return m


def bench_arch(name: str, size: int, invokes: int) -> dict:
    t0 = time.time()
    m = build(name, size)
    p = S.plan(m, sparsity=0.5, criterion="l2")
    masked = S.apply_masks(m, p)
    small = S.shrink(masked)  # plan read back from the zeroed channels
    x = np.random.RandomState(1).uniform(0, 255, (2, size, size, 3)).astype("float32")
    a, b = masked(x).numpy(), small(x).numpy()
    rel = float(np.abs(a - b).max() / np.abs(a).max())
    t_shrink = time.time() - t0
    dense_ms, small_ms = latencies([tflite_bytes(m), tflite_bytes(small)], x[:1], invokes)
    macs0, macs1 = S.count_macs(m), S.count_macs(small)
    return {
        "arch": name,
        "ok": rel <= 1e-5 and macs1 < macs0,
        "input": size,
        "groups_pruned": len(p.keep),
        "channels_removed": p.removed,
        "channels_prunable": sum(p.channels.values()),
        "macs_before": macs0,
        "macs_after": macs1,
        "params_before": m.count_params(),
        "params_after": small.count_params(),
        "parity_rel_err": rel,
        "latency_ms_dense": dense_ms,
        "latency_ms_shrunk": small_ms,
        "speedup": dense_ms / small_ms,
        "shrink_seconds": round(t_shrink, 1),
    }


def bench_mnist(invokes: int, seed: int = 0) -> dict:
    from tfprune.app import data

    keras.utils.set_random_seed(seed)
    (xtr, ytr), (xte, yte) = data.mnist5k(seed)
    m = data.demo_cnn(seed=seed)
    m.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    m.fit(xtr, ytr, batch_size=64, epochs=8, verbose=0)
    acc0 = m.evaluate(xte, yte, verbose=0)[1]
    p = S.plan(m, sparsity=0.5, criterion="l2")
    small = S.shrink(S.apply_masks(m, p))
    acc_oneshot = None
    small.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    acc_oneshot = small.evaluate(xte, yte, verbose=0)[1]
    small.fit(xtr, ytr, batch_size=64, epochs=4, verbose=0)
    acc1 = small.evaluate(xte, yte, verbose=0)[1]
    dense_ms, small_ms = latencies([tflite_bytes(m), tflite_bytes(small)], xte[:1], invokes)
    return {
        "model": "demo_cnn (MNIST-5k, 8 dense epochs, 50% channels l2, 4 fine-tune epochs)",
        "accuracy_dense": acc0,
        "accuracy_one_shot": acc_oneshot,
        "accuracy_finetuned": acc1,
        "accuracy_drop_points": 100 * (acc0 - acc1),
        "macs_before": S.count_macs(m),
        "macs_after": S.count_macs(small),
        "params_before": m.count_params(),
        "params_after": small.count_params(),
        "kept": {g: len(k) for g, k in p.keep.items()},
        "latency_ms_dense": dense_ms,
        "latency_ms_shrunk": small_ms,
        "speedup": dense_ms / small_ms,
    }


def bench_mnist_gradual(runs: int, seed: int = 0) -> dict:
    """Demo CNN on MNIST-5k: 8 dense epochs, then ``prune(granularity="channel",
    criterion="l2", schedule=AGP)`` for 4 epochs (AGP to 50% of channels over the first 3,
    then 1 at 50%), strip, shrink; accuracy, MACs, LiteRT speedup."""
    from tfprune import export
    from tfprune.app import data
    from tfprune.core import schedules

    keras.utils.set_random_seed(seed)
    (xtr, ytr), (xte, yte) = data.mnist5k(seed)
    m = data.demo_cnn(seed=seed)
    m.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    t0 = time.time()
    m.fit(xtr, ytr, batch_size=64, epochs=8, verbose=0)
    t_dense = time.time() - t0
    acc0 = m.evaluate(xte, yte, verbose=0)[1]
    dense = keras.models.clone_model(m)
    dense.set_weights(m.get_weights())
    steps = int(np.ceil(len(xtr) / 64))
    sched = schedules.AGP(0.5, end_step=3 * steps, frequency=steps // 3)  # the pruning step
    p = tfprune.prune(m, schedule=sched, criterion="l2", granularity="channel")
    p.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    t0 = time.time()
    h = p.fit(xtr, ytr, batch_size=64, epochs=4, verbose=0,
              callbacks=[tfprune.PruningCallback()])
    t_prune = time.time() - t0
    acc_masked = p.evaluate(xte, yte, verbose=0)[1]
    kept = {g: int(k.sum()) for g, k in
            tfprune.masking.channels.keep_state(tfprune.masking.pruner.wrapped_layers(p)).items()}
    small = tfprune.shrink(tfprune.strip(p))
    a, b = p.predict(xte, verbose=0), small.predict(xte, verbose=0)
    small.compile(loss="sparse_categorical_crossentropy", metrics=["accuracy"])
    acc1 = small.evaluate(xte, yte, verbose=0)[1]
    blobs = [tflite_bytes(dense), tflite_bytes(small)]
    rounds = [[export.latency(c, threads=1, runs=runs).median_ms for c in blobs] for _ in range(3)]
    dense_ms, small_ms = (min(r[k] for r in rounds) for k in (0, 1))
    macs0 = tfprune.summary(dense, print_fn=None)["macs"]
    macs1 = tfprune.summary(small, print_fn=None)["macs"]
    return {
        "model": "demo_cnn (MNIST-5k, 8 dense epochs, then 4 epochs prune(granularity="
        "'channel', criterion='l2', schedule=AGP -> 50% over 3 epochs), strip, shrink)",
        "schedule": sched.get_config(),
        "weight_sparsity_per_epoch": h.history["sparsity"],
        "accuracy_dense": acc0,
        "accuracy_masked": acc_masked,
        "accuracy_shrunk": acc1,
        "accuracy_drop_points": 100 * (acc0 - acc1),
        "parity_rel_err": float(np.abs(a - b).max() / np.abs(a).max()),
        "macs_before": macs0,
        "macs_after": macs1,
        "params_before": dense.count_params(),
        "params_after": small.count_params(),
        "kept": kept,
        "latency_ms_dense": dense_ms,
        "latency_ms_shrunk": small_ms,
        "speedup": dense_ms / small_ms,
        "latency": f"tfprune.export.latency, 1 thread, {runs} runs, best median of 3 rounds",
        "seconds_dense_training": round(t_dense, 1),
        "seconds_gradual_pruning": round(t_prune, 1),
    }


def table(rows: list) -> str:
    out = [
        "| architecture | MACs before → after (M) | params before → after (M) | parity "
        "(rel. err) | LiteRT ms dense → shrunk | speedup | status |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        if "error" in r:
            out.append(f"| {r['arch']} | | | | | | FAIL: {r['error']} |")
            continue
        out.append(
            f"| {r['arch']} | {r['macs_before'] / 1e6:.1f} → {r['macs_after'] / 1e6:.1f} | "
            f"{r['params_before'] / 1e6:.2f} → {r['params_after'] / 1e6:.2f} | "
            f"{r['parity_rel_err']:.1e} | {r['latency_ms_dense']:.2f} → "
            f"{r['latency_ms_shrunk']:.2f} | {r['speedup']:.2f}× | "
            f"{'ok' if r['ok'] else 'FAIL'} |"
        )
    return "\n".join(out)


def write_json(path: str, obj) -> None:
    d = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=d, suffix=".tmp")
    with os.fdopen(fd, "w") as f:
        json.dump(obj, f, indent=2)
    os.chmod(tmp, 0o644)
    os.replace(tmp, path)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--archs", nargs="*", default=ARCHS)
    ap.add_argument("--size", type=int, default=96)
    ap.add_argument("--invokes", type=int, default=30)
    ap.add_argument("--mnist-invokes", type=int, default=2000)
    ap.add_argument("--skip-mnist", action="store_true")
    ap.add_argument(
        "--only-gradual",
        action="store_true",
        help="run only the MNIST gradual channel-pruning part; merge it into --out",
    )
    ap.add_argument("--gradual-runs", type=int, default=2000)
    ap.add_argument(
        "--out", default=os.path.join(os.path.dirname(__file__), "results", "shrink.json")
    )
    args = ap.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s")
    if args.only_gradual:
        return main_gradual(args)
    rows = []
    for name in args.archs:
        log.info("%s ...", name)
        try:
            rows.append(bench_arch(name, args.size, args.invokes))
        except Exception as e:  # a failing architecture is a result, not a crash
            traceback.print_exc()
            rows.append({"arch": name, "ok": False, "error": f"{type(e).__name__}: {e}"[:300]})
        log.info("%s", rows[-1])
    result = {
        "command": " ".join([os.path.basename(sys.executable)] + sys.argv),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, {platform.python_version()}",
        "sparsity": 0.5,
        "criterion": "l2",
        "architectures": rows,
        "passed": sum(r.get("ok", False) for r in rows),
        "total": len(rows),
    }
    if not args.skip_mnist:
        log.info("MNIST demo CNN ...")
        result["mnist"] = bench_mnist(args.mnist_invokes)
    write_json(args.out, result)
    print(table(rows))
    print(f"\n{result['passed']}/{result['total']} architectures shrink with parity and fewer MACs")
    if "mnist" in result:
        mn = result["mnist"]
        print(
            f"\nMNIST demo CNN: accuracy {mn['accuracy_dense']:.3f} → {mn['accuracy_finetuned']:.3f}"
            f" (one-shot {mn['accuracy_one_shot']:.3f}), MACs {mn['macs_before']} → "
            f"{mn['macs_after']}, LiteRT {mn['latency_ms_dense']:.3f} → "
            f"{mn['latency_ms_shrunk']:.3f} ms ({mn['speedup']:.2f}×)"
        )
    return 0


def main_gradual(args) -> int:
    log.info("MNIST demo CNN, gradual prune(granularity=\"channel\") ...")
    result = {}
    if os.path.exists(args.out):
        with open(args.out) as f:
            result = json.load(f)
    g = bench_mnist_gradual(args.gradual_runs)
    g["command"] = " ".join([os.path.basename(sys.executable)] + sys.argv)
    result["mnist_gradual"] = g
    write_json(args.out, result)
    print(
        f"MNIST demo CNN, gradual prune(granularity=channel): accuracy {g['accuracy_dense']:.3f} -> "
        f"{g['accuracy_shrunk']:.3f}, MACs {g['macs_before']} -> {g['macs_after']}, LiteRT "
        f"{g['latency_ms_dense']:.3f} -> {g['latency_ms_shrunk']:.3f} ms ({g['speedup']:.2f}x), "
        f"parity {g['parity_rel_err']:.1e}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
