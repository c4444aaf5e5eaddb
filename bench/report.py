"""Write BENCHMARKS.md from the JSON files in bench/results/ (no measurement here).

usage: python bench/report.py   # after running the bench scripts
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RESULTS = ROOT / "bench" / "results"


def load(name):
    path = RESULTS / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}"


def demo_section(d):
    if not d:
        return []
    rows = ["## The demo (`tfprune demo`)", "",
            f"Command: `{d.get('command', 'tfprune demo')}`, {d['seconds']:.0f} s.", "",
            "| | dense | pruned |", "|---|---:|---:|"]
    for key, label in [("accuracy", "accuracy %"), ("nonzero_params", "non-zero params"),
                       ("macs", "MACs"), ("tflite_bytes", ".tflite bytes (float)"),
                       ("tflite_gzip_bytes", ".tflite gzip bytes")]:
        a, b = d["dense"][key], d["pruned"][key]
        fmt = pct if key == "accuracy" else (lambda v: f"{v:,}")
        rows.append(f"| {label} | {fmt(a)} | {fmt(b)} |")
    return rows + [""]


def criteria_section(d):
    if not d:
        return []
    res = [r for r in d["results"] if r.get("status") == "ok"]
    fine = {}
    for r in res:
        if r["kind"] in ("tfprune", "tfmot"):
            name = "TF-MOT magnitude" if r["kind"] == "tfmot" else r["criterion"]
            cell = pct(r["accuracy"])
            if abs(r.get("sparsity", r["target"]) - r["target"]) > 0.02:
                cell += f" (reached {r['sparsity']:.0%})"
            fine[(name, r["scope"], r["target"])] = cell
    targets = sorted({k[2] for k in fine})
    names = sorted({(k[0], k[1]) for k in fine}, key=lambda t: (t[0] != "TF-MOT magnitude", t))
    rows = ["## Criteria (`bench/criteria.py`)", "",
            f"Command: `{d['command']}`" + (f" then re-runs {d['reruns']}" if d.get("reruns") else "")
            + f". Dense accuracy {pct(d['dense_accuracy'])}%.", "",
            d["protocol"].split("\n\n", 1)[-1].replace("\n", " "), "",
            "Accuracy (%) after fine-tuning:", "",
            "| criterion | scope | " + " | ".join(f"{t:.0%}" for t in targets) + " |",
            "|---|---|" + "---:|" * len(targets)]
    for name, scope in names:
        rows.append(f"| {name} | {scope} | "
                    + " | ".join(fine.get((name, scope, t), "–") for t in targets) + " |")
    one = {(r["criterion"], r["scope"], r["target"]): r["accuracy"]
           for r in res if r["kind"] == "one_shot"}
    if one:
        ts = sorted({k[2] for k in one})
        rows += ["", "One-shot accuracy (%), no fine-tuning:", "",
                 "| criterion | scope | " + " | ".join(f"{t:.0%}" for t in ts) + " |",
                 "|---|---|" + "---:|" * len(ts)]
        for name, scope in sorted({(k[0], k[1]) for k in one}):
            rows.append(f"| {name} | {scope} | "
                        + " | ".join(pct(one.get((name, scope, t))) for t in ts) + " |")
    def steady(label):
        r = next((r for r in res if r.get("label") == label), None)
        ep = (r or {}).get("epoch_seconds") or []
        return statistics.median(ep[1:]) if len(ep) > 1 else None

    plain = steady("plain fine-tune (dense)")
    if plain:
        rows += ["", "Steady epoch time relative to plain fine-tuning (median of epochs 2-4 of "
                 "each variant, same run; about 1 s epochs on a shared machine, so noisy):", ""]
        for label in ("TF-MOT magnitude / layer @ 90%", "tfprune magnitude / layer @ 90%",
                      "tfprune taylor / layer @ 90%", "tfprune obd / layer @ 90%"):
            t = steady(label)
            if t:
                rows.append(f"- {label}: {t / plain:.2f}x ({t:.2f} s vs {plain:.2f} s)")
    return rows + [""]


def shrink_section(d):
    if not d:
        return []
    rows = ["## Structured pruning and shrink (`bench/shrink.py`)", "",
            f"Command: `{d['command']}`. One-shot {d['sparsity']:.0%} of channels by "
            f"{d['criterion']}; {d['passed']}/{d['total']} architectures shrink with parity.", "",
            "| architecture | MACs before → after (M) | params before → after (M) | parity rel. err | LiteRT speedup |",
            "|---|---|---|---:|---:|"]
    for a in d["architectures"]:
        if not a.get("ok"):
            rows.append(f"| {a['arch']} | failed: {a.get('error', '?')} | | | |")
            continue
        rows.append(f"| {a['arch']} | {a['macs_before'] / 1e6:.1f} → {a['macs_after'] / 1e6:.1f} | "
                    f"{a['params_before'] / 1e6:.2f} → {a['params_after'] / 1e6:.2f} | "
                    f"{a['parity_rel_err']:.1e} | {a['speedup']:.2f}x |")
    speed = [a["speedup"] for a in d["architectures"] if a.get("ok")]
    if speed:
        rows += ["", f"Median speedup {statistics.median(speed):.2f}x."]
    for key in ("mnist", "mnist_gradual"):
        m = d.get(key)
        if not m:
            continue
        acc = m.get("accuracy_finetuned", m.get("accuracy_shrunk"))
        rows += ["", f"**{m['model']}**: accuracy {pct(m['accuracy_dense'])}% → {pct(acc)}%, "
                 f"MACs {m['macs_before']:,} → {m['macs_after']:,}, LiteRT "
                 f"{m['latency_ms_dense']:.4f} → {m['latency_ms_shrunk']:.4f} ms "
                 f"(**{m['speedup']:.2f}x**)."]
    return rows + [""]


def export_section(d):
    if not d:
        return []
    rows = ["## Edge export (`bench/export.py`)", "",
            f"Command: `{d['meta']['command']}`. {d['meta']['training']}.", "",
            "| variant | type | sparse | bytes | gzip | accuracy % | LiteRT ms |",
            "|---|---|---|---:|---:|---:|---:|"]
    for r in d["tflite"]:
        rows.append(f"| {r['variant']} | {r['quantize']} | {'yes' if r['sparse'] else 'no'} | "
                    f"{r['bytes']:,} | {r['gzip_bytes']:,} | {pct(r['accuracy'])} | "
                    f"{r['latency_ms']:.3f} |")
    rows += ["", "| micro (TFLM) | flash B | arena B | TFLM accuracy % | TFLM vs LiteRT int8 |",
             "|---|---:|---:|---:|---|"]
    for m in d["micro"]:
        rows.append(f"| {m['variant']} | {m['flash_bytes']:,} | {m['arena_bytes']:,} | "
                    f"{pct(m['tflm_accuracy'])} | max {m['tflm_vs_litert']['max_step_diff']} "
                    "quantisation steps |")
    t = d["targets"]
    rows += ["", f"Smallest deployable file within 1 point of dense: {t['smallest_within_1pt']['variant']} "
             f"{t['smallest_within_1pt']['quantize']}, {t['smallest_within_1pt']['bytes']:,} B, "
             f"{t['reduction_x']:.1f}x smaller than dense float. Micro flash ratio "
             f"{t['micro_flash_ratio']:.2f}, arena ratio {t['micro_arena_ratio']:.2f} (50% channels "
             "vs dense int8)."]
    return rows + [""]


def main():
    parts = ["# Benchmarks", "",
             "Generated by `python bench/report.py` from `bench/results/*.json`. Machine: 2 shared "
             "x86_64 cores, no GPU; timings are noisy, compare within one run.", ""]
    parts += demo_section(load("demo"))
    parts += criteria_section(load("criteria"))
    parts += shrink_section(load("shrink"))
    parts += export_section(load("export"))
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print("wrote", ROOT / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
