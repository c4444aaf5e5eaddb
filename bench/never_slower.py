"""Never a slower file: every pruned model of the suite's shapes, exported with the default
``objective="balanced"``, timed against its dense encoding in a fresh interleaved run.

usage:
    python bench/never_slower.py              # writes bench/results/never_slower.json
    python bench/never_slower.py --rounds 3   # fewer timing rounds (faster, noisier)

For each network (demo CNN, DS-CNN, LeNet-300-100) and pattern (weight 50/75/90/95 %
magnitude, block (4, 1) 90 % on Dense layers, channels 50 % shrunk), float and int8:
``export.tflite`` writes the file it prefers; the same model is also written with
``sparse=False`` (the dense encoding). Both files are then timed again, interleaved, ``rounds``
times ``runs`` invokes each (LiteRT, 1 thread, default delegate as ``export.latency`` picks),
and the ratio of medians is recorded (a kept file byte-identical to the dense one is
ratio 1 without timing). The target (issue 26): written / dense <= 1.03 unless
the user asked for ``objective="size"``. Training does not change latency, so the models are
pruned one-shot from their seeded initial weights (no fine-tuning); accuracy is not measured.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

from suite import nets  # noqa: E402

import tfprune  # noqa: E402
from tfprune import export  # noqa: E402
from tfprune.compat import keras  # noqa: E402

OUT = BENCH / "results" / "never_slower.json"
TARGET = 1.03


def lenet(seed=0):
    """LeNet-300-100 (784-300-100-10) on flattened 28x28 inputs."""
    keras.utils.set_random_seed(seed)
    inp = keras.Input((28, 28, 1))
    x = keras.layers.Flatten()(inp)
    x = keras.layers.Dense(300, activation="relu", name="fc1")(x)
    x = keras.layers.Dense(100, activation="relu", name="fc2")(x)
    return keras.Model(inp, keras.layers.Dense(10, name="out")(x))


BUILD = {"demo_cnn": lambda: nets.build("demo_cnn", 0), "ds_cnn": lambda: nets.build("ds_cnn", 0),
         "lenet_300_100": lenet}
PATTERNS = {
    "weight 50%": dict(sparsity=0.5),
    "weight 75%": dict(sparsity=0.75),
    "weight 90%": dict(sparsity=0.9),
    "weight 95%": dict(sparsity=0.95),
    "block 4x1 90%": dict(sparsity=0.9, granularity="block:4x1"),
    "channel 50%": dict(sparsity=0.5, granularity="channel"),
}


def pruned(net, pattern, calib):
    model = BUILD[net]()
    kw = dict(PATTERNS[pattern])
    if str(kw.get("granularity")).startswith("block"):
        dense_layers = [layer.name for layer in model.layers
                        if isinstance(layer, keras.layers.Dense) and layer.units >= 16]
        if not dense_layers:
            return None, "n/a: no Dense layer with >= 16 units to block"
        level = kw.pop("sparsity")
        kw["scope"] = {name: level for name in dense_layers}
    try:
        p = tfprune.one_shot(model, criterion="magnitude", data=calib, **kw)
    except tfprune.errors.TfpruneError as e:
        return None, f"refused: {str(e).splitlines()[0]}"
    out = tfprune.strip(p)
    if kw.get("granularity") == "channel":
        out = tfprune.shrink(out)
    return out, None


def retime(a, b, rounds, runs):
    """Interleaved medians: (median ms of a, median ms of b) over ``rounds`` alternations."""
    ta, tb = [], []
    for i in range(rounds):
        for path, acc in ((a, ta), (b, tb)) if i % 2 == 0 else ((b, tb), (a, ta)):
            acc.append(export.latency(path, threads=1, runs=runs, warmup=20).median_ms)
    return float(np.median(ta)), float(np.median(tb))


def cell(net, pattern, quantize, calib, tmp, rounds, runs):
    model, refused = pruned(net, pattern, calib)
    row = {"net": net, "pattern": pattern, "quantize": quantize or "float"}
    if model is None:
        return {**row, "status": refused}
    rep = calib[:200] if quantize == "int8" else None
    stem = f"{tmp}/{net}-{pattern.replace(' ', '_').replace('%', '')}-{quantize}"
    rec = export.tflite(model, stem + ".tflite", quantize=quantize, representative_data=rep)
    dense = export.tflite(model, stem + "-dense.tflite", quantize=quantize, sparse=False,
                          representative_data=rep, measure=False)
    if Path(rec.path).read_bytes() == Path(dense.path).read_bytes():
        # The kept file is the dense encoding itself: same bytes, same speed.
        return {**row, "status": "ok", "sparse": False, "bytes": rec.bytes,
                "dense_bytes": dense.bytes, "export_latency_ms": rec.latency_ms,
                "export_dense_latency_ms": rec.dense_latency_ms, "decision": rec.decision,
                "latency_ms": None, "dense_latency_ms": None, "ratio": 1.0,
                "same_file": True, "within_target": True}
    written_ms, dense_ms = retime(rec.path, dense.path, rounds, runs)
    return {**row, "status": "ok", "sparse": rec.sparse, "bytes": rec.bytes,
            "dense_bytes": dense.bytes, "export_latency_ms": rec.latency_ms,
            "export_dense_latency_ms": rec.dense_latency_ms, "decision": rec.decision,
            "latency_ms": round(written_ms, 5), "dense_latency_ms": round(dense_ms, 5),
            "ratio": round(written_ms / dense_ms, 4), "same_file": False, "within_target": written_ms / dense_ms
            <= TARGET}


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--rounds", type=int, default=7, help="interleaved timing rounds")
    ap.add_argument("--runs", type=int, default=300, help="invokes per round")
    ap.add_argument("--nets", nargs="*", default=list(BUILD))
    ap.add_argument("--out", default=str(OUT))
    args = ap.parse_args(argv)
    (xtr, _), _ = nets.load_data()
    calib = xtr[:256].astype("float32")
    started, rows = time.time(), []
    with tempfile.TemporaryDirectory() as tmp:
        for net in args.nets:
            for pattern in PATTERNS:
                for quantize in (None, "int8"):
                    r = cell(net, pattern, quantize, calib, tmp, args.rounds, args.runs)
                    rows.append(r)
                    print(json.dumps({k: r.get(k) for k in ("net", "pattern", "quantize",
                                      "status", "sparse", "ratio")}), flush=True)
    ok = [r for r in rows if r["status"] == "ok"]
    result = {"command": "python bench/never_slower.py " + " ".join(argv or sys.argv[1:]),
              "target_ratio": TARGET, "rounds": args.rounds, "runs": args.runs,
              "machine": {"cpu_count": os.cpu_count(), "platform": platform.platform(),
                          "load_average": os.getloadavg()[0]},
              "rows": rows, "within_target": sum(r["within_target"] for r in ok),
              "measured": len(ok), "worst_ratio": max((r["ratio"] for r in ok), default=None),
              "minutes": round((time.time() - started) / 60, 1)}
    out = Path(args.out)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp_out = out.with_suffix(".json.tmp")
    tmp_out.write_text(json.dumps(result, indent=1))
    os.replace(tmp_out, out)
    print(f"{result['within_target']}/{result['measured']} within {TARGET}x of dense; "
          f"worst {result['worst_ratio']}; wrote {out}")


if __name__ == "__main__":
    main()
