"""Benchmark: fine-tuning a pruned model with and without the dense model as teacher.

``tfprune.distill(student, teacher, temperature=T, alpha=a)`` against plain fine-tuning, on
the same pruned start, the same epochs and optimizer (Adam, ``--lr``, batch 64), MNIST-5k
(4,000 train / 1,000 test), one seed per run (``--seed``):

* ``demo``: demo CNN at 99 % weight sparsity: ``allocate(method="lamp")`` + ``one_shot``
  (the best 99 % row of bench/allocation.py, 90.9 % at Adam 1e-3), then ``--epochs`` of
  fine-tuning with ``PruningCallback``. Target (issue 25): >= 95.0 %.
* ``lenet``: LeNet-300-100 at 98 % weight sparsity (50x), the same recipe. Target: within
  0.5 points of dense.
* ``ds_cnn``: DS-CNN at MAC ratio 4 (channels:
  ``allocate(method="uniform", target=("macs", 0.25))``,
  L2 filter norm, AGP over 75 % of the fine-tuning, ``strip`` + ``shrink``). Target: within
  1 point of dense.

Writes bench/results/distill.json (after every row, atomically; rows of earlier runs with
other settings are kept) and prints a markdown table.

    nice -n 10 .venv/bin/python bench/distill.py                     # every net, ~25 min
    nice -n 10 .venv/bin/python bench/distill.py --nets demo --epochs 4
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
from tfprune.app.data import demo_cnn, ds_cnn, mnist5k  # noqa: E402
from tfprune.compat import keras  # noqa: E402

RESULTS = os.path.join(os.path.dirname(__file__), "results", "distill.json")
LOSS = "sparse_categorical_crossentropy"
#: net -> (kind, target, text of the issue's target)
TARGETS = {"demo": ("weight", 0.99, ">= 95.0 %"),
           "lenet": ("weight", 0.98, "within 0.5 of dense"),
           "ds_cnn": ("channel", 4, "within 1 of dense")}


def lenet_300_100(input_shape=(28, 28, 1), num_classes: int = 10, seed: int = 0):
    """LeNet-300-100 (LeCun et al. 1998; Han et al. 2015 prune it 12x): Flatten-Dense300-
    Dense100-Dense10.

    Example:
        >>> lenet_300_100().count_params()
        266610
    """
    init = lambda i: keras.initializers.GlorotUniform(seed + i)  # noqa: E731
    L = keras.layers
    return keras.Sequential([
        keras.Input(input_shape), L.Flatten(name="flatten"),
        L.Dense(300, activation="relu", kernel_initializer=init(0), name="fc1"),
        L.Dense(100, activation="relu", kernel_initializer=init(1), name="fc2"),
        L.Dense(num_classes, activation="softmax", kernel_initializer=init(2), name="fc3"),
    ], name="lenet_300_100")


NETS = {"demo": demo_cnn, "lenet": lenet_300_100, "ds_cnn": ds_cnn}


def compiled(model, lr):
    model.compile(keras.optimizers.Adam(lr), LOSS, metrics=["accuracy"])
    return model


def accuracy(model, x, y) -> float:
    return float(np.mean(model.predict(x, verbose=0, batch_size=256).argmax(-1) == y))


def dense_model(net, train, seed, dense_epochs):
    keras.utils.set_random_seed(seed)
    m = compiled(NETS[net](seed=seed), 1e-3)
    m.fit(*train, epochs=dense_epochs, batch_size=64, verbose=0)
    return m


def pruned_start(net, dense, train, epochs):
    """The pruned (wrapped) model every fine-tuning of ``net`` starts from."""
    kind, target, _ = TARGETS[net]
    if kind == "weight":
        a = tfprune.allocate(dense, sparsity=target, method="lamp")
        return tfprune.one_shot(dense, scope=dict(a))
    alloc = tfprune.allocate(dense, target=("macs", 1.0 / target), method="uniform",
                             granularity="channel")
    scope = {k: float(v) for k, v in alloc.items() if v > 0}
    steps = epochs * -(-len(train[0]) // 64)
    end = max(1, int(0.75 * steps))
    sched = tfprune.schedules.AGP(max(scope.values()), end_step=end, frequency=max(1, end // 12))
    return tfprune.prune(dense, schedule=sched, criterion="l2", scope=scope,
                         granularity="channel")


def finetune(net, dense, train, *, teach, epochs, lr, seed, temperature, alpha):
    """Prune ``dense`` and fine-tune, with the dense model as teacher if ``teach``; returns
    the plain (stripped, for channels shrunk) model."""
    keras.utils.set_random_seed(seed)
    student = pruned_start(net, dense, train, epochs)
    fit_model = (tfprune.distill(student, dense, temperature=temperature, alpha=alpha)
                 if teach else student)
    keras.utils.set_random_seed(seed)
    compiled(fit_model, lr).fit(*train, epochs=epochs, batch_size=64, verbose=0, shuffle=True,
                                callbacks=[tfprune.PruningCallback()])
    plain = tfprune.strip(student)
    return tfprune.shrink(plain) if TARGETS[net][0] == "channel" else plain


def _counts(model):
    s = tfprune.summary(model, print_fn=None)
    return {"params": int(s["params"]), "nonzero_params": int(s["nonzero_params"]),
            "macs": int(s["macs"])}


def _write(result, path=RESULTS):
    os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
    tmp = path + ".tmp"
    with open(tmp, "w") as f:
        json.dump(result, f, indent=1)
    os.replace(tmp, path)


def _load_rows(keep, path=RESULTS):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [r for r in json.load(f).get("rows", []) if keep(r)]


def pairs(rows) -> list:
    """(plain row or None, distill row or None) per setting: each distillation row (one per
    temperature and alpha) next to the plain fine-tuning of the same network, epochs, lr
    and seed."""
    key = lambda r: (r["network"], r["pruned"], r["epochs"], r["lr"], r["seed"])  # noqa: E731
    plain = {key(r): r for r in rows if not r["distill"]}
    out, used = [], set()
    for r in rows:
        if r["distill"]:
            out.append((plain.get(key(r)), r))
            used.add(key(r))
    out += [(r, None) for k, r in plain.items() if k not in used]
    return out


def table(rows) -> str:
    """Markdown table of distill.json rows."""
    lines = ["| network | pruned | dense % | fine-tune % | with teacher % | T, alpha | target | "
             "epochs |", "|---|---|---:|---:|---:|---|---|---:|"]
    for p, d in pairs(rows):
        r = p or d
        cell = lambda x: "—" if x is None else f"{100 * x['accuracy']:.1f}"  # noqa: E731
        ta = "—" if d is None else f"{d['temperature']:g}, {d['alpha']:g}"
        lines.append(f"| {r['network']} | {r['pruned']} | {100 * r['dense_accuracy']:.1f} | "
                     f"{cell(p)} | {cell(d)} | {ta} | {r['target']} | {r['epochs']} |")
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--nets", nargs="+", default=list(NETS), choices=list(NETS))
    ap.add_argument("--epochs", type=int, default=4, help="fine-tuning epochs")
    ap.add_argument("--dense-epochs", type=int, default=8)
    ap.add_argument("--lr", type=float, default=1e-3)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--temperature", type=float, default=4.0)
    ap.add_argument("--alpha", type=float, default=0.9)
    ap.add_argument("--modes", nargs="+", default=["plain", "distill"],
                    choices=["plain", "distill"])
    ap.add_argument("--out", default=RESULTS, help="JSON to write (default %(default)s)")
    args = ap.parse_args(argv)
    command = "python bench/distill.py " + " ".join(sys.argv[1:] if argv is None else argv)
    train, (xte, yte) = mnist5k()
    settings = {(n, args.epochs, args.lr, args.seed, m == "distill",
                 (args.temperature, args.alpha) if m == "distill" else (None, None))
                for n in args.nets for m in args.modes}
    same = lambda r: (r["network"], r["epochs"], r["lr"], r["seed"], r["distill"],  # noqa: E731
                      (r["temperature"], r["alpha"])) in settings
    rows = _load_rows(lambda r: not same(r), args.out)
    result = {"command": command, "machine": platform.machine(), "cpus": os.cpu_count(),
              "rows": rows}
    for net in args.nets:
        t0 = time.time()
        dense = dense_model(net, train, args.seed, args.dense_epochs)
        dense_acc = accuracy(dense, xte, yte)
        kind, target, goal = TARGETS[net]
        pruned = (f"{100 * target:g} % weights" if kind == "weight" else
                  f"channels, MAC ratio {target}")
        dense_seconds = round(time.time() - t0, 1)
        for mode in args.modes:
            t0 = time.time()
            model = finetune(net, dense, train, teach=mode == "distill", epochs=args.epochs,
                             lr=args.lr, seed=args.seed, temperature=args.temperature,
                             alpha=args.alpha)
            c, d = _counts(model), _counts(dense)
            row = {"network": net, "pruned": pruned, "distill": mode == "distill",
                   "accuracy": accuracy(model, xte, yte), "dense_accuracy": dense_acc,
                   "target": goal, "epochs": args.epochs, "lr": args.lr, "seed": args.seed,
                   "temperature": args.temperature if mode == "distill" else None,
                   "alpha": args.alpha if mode == "distill" else None,
                   "weight_sparsity": round(1 - c["nonzero_params"] / d["params"], 4),
                   "mac_ratio": round(d["macs"] / max(c["macs"], 1), 2),
                   "dense_seconds": dense_seconds, "seconds": round(time.time() - t0, 1),
                   "command": command}
            print(json.dumps(row), flush=True)
            result["rows"].append(row)
            _write(result, args.out)
    print(table(result["rows"]))


if __name__ == "__main__":
    main()
