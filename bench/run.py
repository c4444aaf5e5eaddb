"""The tfprune benchmark suite: one command, one JSON, then BENCHMARKS.md and plots.

usage:
    python bench/run.py              # make bench: full grid (see FULL), 2 worker processes
    python bench/run.py --quick      # make bench-quick: every stage, small grid, < 10 min
    python bench/run.py --nets demo_cnn --seeds 0 --weight-ratios 4 --channel-ratios 2

For every (seed, network): the dense network is pre-trained once (cached on disk per
(network, seed, epochs)), measured, then every method starts from those weights with the
same fine-tuning budget: weight methods at compression ratios r (a fraction 1 - 1/r of the
prunable weights removed), channel methods at MAC ratios r (MACs kept 1/r; shrunk). Each
cell records accuracy, params, non-zeros, MACs; for the ``--export-seeds`` it also records
the float .tflite bytes and LiteRT 1-thread latency and the int8 TFLM export, dense and
DECODE prune-compressed (flash, arena). Results go to ``<out>/suite.json`` after every cell
(atomically); a rerun with the same settings resumes where it stopped (``--fresh`` to
restart). ``--budget-min`` stops starting new cells after that many minutes; the rest are
listed as not run. Finally bench/report.py writes BENCHMARKS.md and the plots.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

FULL = {"nets": ["demo_cnn", "ds_cnn"], "seeds": [0, 1, 2],
        "weight_ratios": [2, 4, 8, 16, 32], "channel_ratios": [2, 3, 4],
        "weight_methods": ["tfmot", "random", "magnitude_global", "taylor_global",
                           "sensitivity"],
        "channel_methods": ["random", "l2", "taylor", "sensitivity"],
        "dense_epochs": 6, "epochs": 2, "batch": 128, "export_seeds": [0]}
QUICK = dict(FULL, nets=["demo_cnn"], seeds=[0], weight_ratios=[4, 16], channel_ratios=[2],
             weight_methods=["tfmot", "magnitude_global", "taylor_global"],
             channel_methods=["sensitivity"], dense_epochs=2, epochs=1)
EXTRAS = ["shrink", "allocation", "compress", "sweeps"]


def _parse(argv):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true", help="the small grid (make bench-quick)")
    ap.add_argument("--out", default=None, help="results folder (default bench/results, "
                    "bench/results/quick with --quick)")
    ap.add_argument("--report", default=None, help="markdown file to write (default "
                    "BENCHMARKS.md, <out>/BENCHMARKS.md with --quick)")
    ap.add_argument("--cache", default="/tmp/tfprune-bench-cache",
                    help="dense checkpoints, one per (network, seed, epochs)")
    ap.add_argument("--fresh", action="store_true", help="ignore earlier partial results")
    ap.add_argument("--budget-min", type=float, default=None,
                    help="start no new cell after this many minutes")
    ap.add_argument("--workers", type=int, default=2,
                    help="(seed, network) groups run at once, one process each (default 2: "
                         "one per core of the reference machine)")
    ap.add_argument("--threads", type=int, default=None,
                    help="TensorFlow threads per worker (default 1 with several workers)")
    ap.add_argument("--worker", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--group", default=None, help=argparse.SUPPRESS)
    ap.add_argument("--extras", nargs="*", choices=EXTRAS, default=[],
                    help="also run these older scripts (their JSON feeds extra sections)")
    for key, typ in (("nets", str), ("seeds", int), ("weight_ratios", int),
                     ("channel_ratios", int), ("weight_methods", str),
                     ("channel_methods", str), ("export_seeds", int)):
        ap.add_argument("--" + key.replace("_", "-"), nargs="*", type=typ, default=None)
    for key in ("dense_epochs", "epochs", "batch"):
        ap.add_argument("--" + key.replace("_", "-"), type=int, default=None)
    args = ap.parse_args(argv)
    config = dict(QUICK if args.quick else FULL)
    for key in config:
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    out = Path(args.out or (BENCH / "results" / ("quick" if args.quick else "")))
    report = Path(args.report or (out / "BENCHMARKS.md" if args.quick else ROOT / "BENCHMARKS.md"))
    return args, config, out, report


def _fingerprint(config):
    return hashlib.sha1(json.dumps(config, sort_keys=True).encode()).hexdigest()[:12]


def _write(path: Path, result):
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(result, indent=1))
    os.replace(tmp, path)


def _spread(levels):
    """Middle level first, then the ends, then the rest: a run stopped early still has
    each method at a few operating points across the range."""
    levels = sorted(levels)
    if len(levels) < 3:
        return levels
    first = [levels[len(levels) // 2], levels[0], levels[-1]]
    return first + [x for x in levels if x not in first]


def _groups(config):
    """(seed, net) in run order: seed-major, so an interrupted run has every network at the
    first seed (the seed whose cells are also exported and measured)."""
    return [(seed, net) for seed in config["seeds"] for net in config["nets"]]


def _cells(config, seed, net):
    """(seed, net, kind, method, ratio) of one (seed, network) in run order: the dense model,
    then weight and channel levels interleaved in _spread order."""
    yield seed, net, "dense", "dense", 1
    w = [("weight", r, config["weight_methods"]) for r in _spread(config["weight_ratios"])]
    c = [("channel", r, config["channel_methods"]) for r in _spread(config["channel_ratios"])]
    blocks = []
    while w or c:
        blocks += [w.pop(0)] if w else []
        blocks += [w.pop(0)] if w else []
        blocks += [c.pop(0)] if c else []
    for kind, r, names in blocks:
        for m in names:
            yield seed, net, kind, m, r


def _cpu():
    """CPU seconds of this process and its finished children (TFLM runs in a child)."""
    import resource

    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime


def _key(cell):
    return "/".join(str(c) for c in cell)


def _reusable(path: Path, fp):
    """Finished cells of an earlier run with the same settings, by key."""
    if not path.exists():
        return {}
    old = json.loads(path.read_text())
    if old.get("fingerprint") != fp:
        return {}
    return {c["key"]: c for c in old.get("cells", []) if c.get("status") == "ok"}


def run_group(config, seed, net, part: Path, cache: str, done: dict, deadline):
    """Every cell of one (seed, network), in this process; the part file is rewritten
    (atomically) after each cell. ``done`` holds finished cells to reuse; no cell starts
    after ``deadline`` (epoch seconds)."""
    from suite import measure, methods, nets

    t_start, c_start = time.time(), _cpu()
    result = {"fingerprint": _fingerprint(config), "group": f"{seed}/{net}", "dense": {},
              "cells": [], "not_run": []}
    train, (xte, yte) = nets.load_data()
    calib = train[0][:200]
    state = None
    for cell in _cells(config, seed, net):
        _, _, kind, method, ratio = cell
        key = _key(cell)
        if key in done:
            result["cells"].append(done[key])
            continue
        if deadline is not None and time.time() > deadline:
            result["not_run"].append(key)
            continue
        if state is None:
            model, info = nets.dense(net, seed, config["dense_epochs"], config["batch"],
                                     train, cache)
            result["dense"][f"{net}/{seed}"] = {k: v for k, v in info.items() if k != "path"}
            state = (model, methods.Context(model, (train[0][:512], train[1][:512])))
        dense, ctx = state
        t0, c0 = time.perf_counter(), _cpu()
        row = {"key": key, "net": net, "seed": seed, "kind": kind, "method": method,
               "ratio": ratio, "status": "ok"}
        try:
            if kind == "dense":
                model, info = dense, {}
            else:
                fn = methods.weight if kind == "weight" else methods.channel
                model, info = fn(method, dense, ratio, train, epochs=config["epochs"],
                                 batch=config["batch"], seed=seed, context=ctx)
            row["train_seconds"] = round(time.perf_counter() - t0, 1)
            row["accuracy"] = measure.accuracy(model, xte, yte)
            row.update(measure.counts(model))
            if seed in config["export_seeds"]:
                row.update(measure.exports(model, calib))
            row.update(info)
            row["sensitivity_seconds"] = dict(ctx.seconds)
        except Exception as e:  # a failed cell is recorded, the suite goes on
            row.update(status="failed", error=f"{type(e).__name__}: {e}"[:500])
        row["seconds"] = round(time.perf_counter() - t0, 1)
        row["cpu_seconds"] = round(_cpu() - c0, 1)
        row["load_average"] = round(os.getloadavg()[0], 2)
        result["cells"].append(row)
        print(json.dumps({k: v for k, v in row.items() if k != "allocation"}), flush=True)
        result["minutes"] = round((time.time() - t_start) / 60, 1)
        result["cpu_minutes"] = round((_cpu() - c_start) / 60, 1)
        _write(part, result)
    result["minutes"] = round((time.time() - t_start) / 60, 1)
    result["cpu_minutes"] = round((_cpu() - c_start) / 60, 1)
    _write(part, result)
    return result


def _worker_cmd(spec: Path, seed, net):
    return [sys.executable, str(BENCH / "run.py"), "--worker", str(spec), "--group",
            f"{seed}/{net}"]


def _worker(spec_path: str, group: str) -> int:
    """Entry point of one worker process: one (seed, network) group, settings from the
    parent's spec file."""
    spec = json.loads(Path(spec_path).read_text())
    if spec["threads"]:
        import tensorflow as tf

        tf.config.threading.set_intra_op_parallelism_threads(spec["threads"])
        tf.config.threading.set_inter_op_parallelism_threads(spec["threads"])
    seed, net = group.split("/", 1)
    seed = int(seed)
    part = Path(spec["parts"]) / f"{seed}-{net}.json"
    run_group(spec["config"], seed, net, part, spec["cache"], spec["done"], spec["deadline"])
    return 0


def run(config, out: Path, cache: str, fresh: bool, budget_min, workers: int = 1,
        threads: int = 0, argv=()):
    """Run every (seed, network) group, ``workers`` at a time (each in its own process with
    ``threads`` TensorFlow threads), and merge the parts into ``<out>/suite.json``."""
    path, parts = out / "suite.json", out / "parts"
    fp = _fingerprint(config)
    done = {} if fresh else _reusable(path, fp)
    if fresh and parts.exists():
        for f in parts.glob("*.json"):
            f.unlink()
    parts.mkdir(parents=True, exist_ok=True)
    t_start, c_start = time.time(), _cpu()
    deadline = None if budget_min is None else t_start + 60 * budget_min
    header = {
        "fingerprint": fp, "config": config, "complete": False,
        "command": "python bench/run.py " + " ".join(argv),
        "machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                    "python": platform.python_version(), "workers": workers,
                    "threads_per_worker": threads or "TensorFlow default",
                    "load_average_start": list(os.getloadavg())},
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
    }
    groups = _groups(config)
    part_of = {g: parts / f"{g[0]}-{g[1]}.json" for g in groups}
    for g in groups:  # cells finished in an interrupted run's parts are reused too
        done.update({} if fresh else _reusable(part_of[g], fp))
    if done:
        print(f"resuming: {len(done)} cells already done", flush=True)
        old = json.loads(path.read_text()) if path.exists() else {}
        header["resumed"] = {"cells_reused": len(done),
                             **{k: old.get(k) for k in ("command", "started", "minutes",
                                                       "cpu_minutes", "resumed")}}
    if workers <= 1:
        for seed, net in groups:
            run_group(config, seed, net, part_of[(seed, net)], cache, done, deadline)
    else:
        spec = parts / "spec.json"
        _write(spec, {"config": config, "cache": cache, "deadline": deadline,
                      "threads": threads, "parts": str(parts), "done": done})
        pending, running = list(groups), []
        while pending or running:
            while pending and len(running) < workers:
                seed, net = pending.pop(0)
                cmd = _worker_cmd(spec, seed, net)
                print("$", " ".join(cmd[1:]), flush=True)
                running.append(subprocess.Popen(cmd, cwd=ROOT))
            time.sleep(2)
            running = [p for p in running if p.poll() is None]
    return _merge(config, header, groups, part_of, t_start, c_start)


def _merge(config, header, groups, part_of, t_start, c_start):
    from suite import methods, nets

    result = dict(header, networks={n: nets.DESCRIPTION[n] for n in config["nets"]},
                  methods={"weight": {m: methods.WEIGHT[m][0] for m in config["weight_methods"]},
                           "channel": {m: methods.CHANNEL[m][0]
                                       for m in config["channel_methods"]}},
                  dense={}, cells=[], not_run=[])
    cpu = _cpu() - c_start  # children's CPU time counts once they have finished
    for g in groups:
        part = json.loads(part_of[g].read_text()) if part_of[g].exists() else None
        if part is None:  # a worker that died before its first cell
            result["not_run"] += [_key(c) for c in _cells(config, *g)]
            continue
        result["dense"].update(part["dense"])
        result["cells"] += part["cells"]
        result["not_run"] += part["not_run"]
        missing = {_key(c) for c in _cells(config, *g)} - {c["key"] for c in part["cells"]}
        result["not_run"] += sorted(missing - set(part["not_run"]))
    result["complete"] = not result["not_run"] and all(
        c["status"] == "ok" for c in result["cells"])
    result["minutes"] = round((time.time() - t_start) / 60, 1)
    result["cpu_minutes"] = round(cpu / 60, 1)
    result["machine"]["load_average_end"] = list(os.getloadavg())
    result["finished"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
    _write(out_path := part_of[groups[0]].parent.parent / "suite.json", result)
    print(f"wrote {out_path}", flush=True)
    return result


def main(argv=None) -> int:
    args, config, out, report = _parse(argv)
    if args.worker:
        return _worker(args.worker, args.group)
    t0 = time.time()
    threads = args.threads if args.threads is not None else (1 if args.workers > 1 else 0)
    result = run(config, out, args.cache, args.fresh, args.budget_min, args.workers, threads,
                 sys.argv[1:] if argv is None else argv)
    failed = [c["key"] for c in result["cells"] if c["status"] != "ok"]
    for name in args.extras:
        cmd = [sys.executable, str(BENCH / f"{name}.py")] + (["--quick"] if args.quick else [])
        print("$", " ".join(cmd[1:]), flush=True)
        if subprocess.call(cmd, cwd=ROOT):
            failed.append(name)
    rc = subprocess.call([sys.executable, str(BENCH / "report.py"), "--results", str(out),
                          "--out", str(report)], cwd=ROOT)
    print(f"suite: {len(result['cells'])} cells, {len(failed)} failed, "
          f"{len(result['not_run'])} not run, {(time.time() - t0) / 60:.1f} min", flush=True)
    if failed:
        print("failed: " + ", ".join(failed), file=sys.stderr)
    return 1 if failed or rc else 0


if __name__ == "__main__":
    sys.exit(main())
