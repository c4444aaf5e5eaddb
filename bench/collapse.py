"""Benchmark: why the DS-CNN fell to chance at 8x weight compression, and the guard.

The suite's DS-CNN cell (``bench/suite``: dense 6 epochs at batch 128, cached; 2 fine-tune
epochs of Adam 1e-3 with an AGP ramp ending at 75 %) for the given methods and compression
ratios, each with tfprune's no-collapse guard (``masking.pruner._floor_empty_outputs``: an
output channel a global ranking empties keeps a uniform cut's share of its weights) and,
with ``--no-guard``, without it. Every row records per layer: the kept fraction, kept
weights, output channels with no weight left (a Dense unit, filter or depthwise channel) and
input channels no longer read; the accuracy in inference mode, with BatchNormalization in
batch-statistics mode (training=True, on the test batches), and after re-estimating the BN
moving statistics on 2,000 training images (``masking.refit.recalibrate_bn``).

Writes bench/results/collapse.json (rows of other settings are kept) and prints a table.

    nice -n 10 .venv/bin/python bench/collapse.py --methods magnitude_global --ratios 8 10 \\
        --no-guard
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import numpy as np  # noqa: E402

RESULTS = BENCH / "results" / "collapse.json"


def layer_report(model) -> dict:
    """Per prunable kernel: size, kept fraction and count, emptied output channels and
    input channels no longer read.

    Example:
        >>> from tfprune.compat import keras
        >>> m = keras.Sequential([keras.Input((3,)), keras.layers.Dense(2, name="d")])
        >>> m.get_layer("d").kernel.assign([[1., 0.], [0., 0.], [2., 0.]])  # doctest: +ELLIPSIS
        <...>
        >>> layer_report(m)["d"]
        {'size': 6, 'kept': 0.333, 'kept_weights': 2, 'empty_out': 1, 'empty_in': 1}
    """
    out = {}
    for layer in model.layers:
        for w in layer.weights:
            name = w.name.split("/")[-1].split(":")[0]
            if name not in ("kernel", "depthwise_kernel"):
                continue
            k = w.numpy() != 0
            if name == "depthwise_kernel":  # [h, w, in, multiplier]: an output per (in, mult)
                empty_out = empty_in = int((k.reshape(-1, k.shape[-2] * k.shape[-1])
                                            .sum(0) == 0).sum())
            else:
                empty_out = int((k.reshape(-1, k.shape[-1]).sum(0) == 0).sum())
                empty_in = int((k.reshape(-1, k.shape[-2], k.shape[-1]).sum((0, 2)) == 0).sum())
            out[layer.name] = {"size": int(k.size), "kept": round(float(k.mean()), 3),
                               "kept_weights": int(k.sum()), "empty_out": empty_out,
                               "empty_in": empty_in}
    return out


@contextlib.contextmanager
def guard(on: bool):
    """The no-collapse guard as it ships (``on``) or switched off for the "before" rows."""
    from tfprune.masking import pruner

    original = pruner._floor_empty_outputs  # noqa: SLF001
    if not on:
        pruner._floor_empty_outputs = lambda w, i, scores, unit, target: unit  # noqa: SLF001
    try:
        yield
    finally:
        pruner._floor_empty_outputs = original  # noqa: SLF001


def measure_row(method, ratio, on, dense, train, test, ctx, *, epochs, batch, seed):
    from suite import measure, methods, nets

    from tfprune.masking.refit import recalibrate_bn

    t0 = time.time()
    with guard(on):
        model, _ = methods.weight(method, dense, ratio, train, epochs=epochs, batch=batch,
                                  seed=seed, context=ctx)
    xte, yte = test
    batch_bn = np.concatenate([model(xte[i:i + 250], training=True).numpy()
                               for i in range(0, len(xte), 250)])
    recal = nets.clone(model)
    recalibrate_bn(recal, train[0][:2000])
    counts = measure.counts(model)
    return {"method": method, "ratio": ratio, "guard": "on" if on else "off", "seed": seed,
            "epochs": epochs, "acc": measure.accuracy(model, xte, yte),
            "acc_batch_bn": float(np.mean(batch_bn.argmax(-1) == yte)),
            "acc_bn_recalibrated": measure.accuracy(recal, xte, yte),
            "achieved_ratio": round(counts["params"] / max(counts["nonzero_params"], 1), 2),
            **counts, "layers": layer_report(model), "seconds": round(time.time() - t0, 1)}


def table(rows) -> str:
    lines = ["| method | ratio | guard | accuracy % | batch-stat BN % | BN re-estimated % | "
             "achieved x | fc kept | empty outputs |", "|---|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in rows:
        lines.append(f"| {r['method']} | {r['ratio']:g} | {r['guard']} | {100 * r['acc']:.1f} | "
                     f"{100 * r['acc_batch_bn']:.1f} | {100 * r['acc_bn_recalibrated']:.1f} | "
                     f"{r['achieved_ratio']} | {r['layers']['fc']['kept_weights']} | "
                     f"{sum(v['empty_out'] for v in r['layers'].values())} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--methods", nargs="+", default=["magnitude_global", "taylor_global"])
    ap.add_argument("--ratios", nargs="+", type=float, default=[8.0, 10.0])
    ap.add_argument("--no-guard", action="store_true", help="also run without the guard")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--epochs", type=int, default=2)
    ap.add_argument("--cache", default="/tmp/tfprune-bench-cache")
    ap.add_argument("--out", default=str(RESULTS))
    args = ap.parse_args(argv)
    from suite import methods, nets

    command = "python bench/collapse.py " + " ".join(sys.argv[1:] if argv is None else argv)
    train, test = nets.load_data()
    dense, _ = nets.dense("ds_cnn", args.seed, 6, 128, train, args.cache)
    ctx = methods.Context(dense, (train[0][:512], train[1][:512]))
    todo = [(m, r, on) for m in args.methods for r in args.ratios
            for on in ([False, True] if args.no_guard else [True])]
    out = Path(args.out)
    old = json.loads(out.read_text()).get("rows", []) if out.exists() else []
    keys = {(m, r, "on" if on else "off", args.seed, args.epochs) for m, r, on in todo}
    rows = [r for r in old if (r["method"], r["ratio"], r["guard"], r["seed"], r["epochs"])
            not in keys]
    from suite import measure

    result = {"command": command, "dense_accuracy": measure.accuracy(dense, *test),
              "note": "DS-CNN (24k params), MNIST-5k, the suite's budget; one seed per row.",
              "rows": rows}
    for m, r, on in todo:
        row = measure_row(m, r, on, dense, train, test, ctx, epochs=args.epochs, batch=128,
                          seed=args.seed)
        row["command"] = command
        print(json.dumps({k: v for k, v in row.items() if k != "layers"}), flush=True)
        result["rows"].append(row)
        out.parent.mkdir(parents=True, exist_ok=True)
        tmp = out.with_suffix(".json.tmp")
        tmp.write_text(json.dumps(result, indent=1))
        os.replace(tmp, out)
    print(f"dense {100 * result['dense_accuracy']:.1f} %")
    print(table(result["rows"]))


if __name__ == "__main__":
    main()
