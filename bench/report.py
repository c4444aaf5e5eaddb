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


def structured_section(d):
    if not d:
        return []
    c = d["config"]
    rows = ["## Channel pruning on the one path (`bench/structured.py`)", "",
            f"Command: `{d.get('command', 'python bench/structured.py')}`. Demo CNN on MNIST-5k, "
            f"{c['dense_epochs']} dense + {c['finetune_epochs']} fine-tune epoch(s), "
            f"{c['sparsity']:.0%} of the channels of every group, "
            "`prune(criterion=..., granularity=\"channel\")` -> fit(PruningCallback) -> strip -> "
            "shrink (gradual: AGP during fine-tuning; one_shot: masks once, then fine-tune). "
            f"Dense accuracy {pct(d['dense']['accuracy'])}%, {d['dense']['macs']:,} MACs; the "
            f"same network built at half width has {d['half_width_macs']:,} MACs.", "",
            "| criterion | mode | accuracy % | MACs | params | LiteRT ms (1 thread) | vs half width |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for r in d["rows"]:
        lat = r.get("latency_ms")
        rel = r.get("latency_vs_half_width")
        rows.append(f"| {r['criterion']} | {r['mode']} | {pct(r['accuracy'])} | {r['macs']:,} | "
                    f"{r['params']:,} | {'' if lat is None else f'{lat:.4f}'} | "
                    f"{'' if rel is None else f'{rel:.2f}x'} |")
    lat = d.get("latency_ms", {})
    if "dense" in lat and "half_width" in lat:
        rows += ["", f"LiteRT latency, measured interleaved in one run: dense {lat['dense']:.4f} ms, "
                 f"half width {lat['half_width']:.4f} ms. The epoch-cost ratios of this quick run "
                 "include the first epoch's tracing and are not reported."]
    return rows + [""]


def allocation_section(d):
    if not d:
        return []
    rows = ["## Sensitivity, allocation and budgets (`bench/allocation.py`)", ""]
    s = d.get("scan")
    if s:
        rows += [f"Sensitivity scan, {s['model']}, channel granularity, {s['groups']} groups x 4 "
                 f"levels ({s['evaluations']} evaluations) on 256 samples: {s['seconds_total']:.0f} s "
                 f"wall ({s['cpu_seconds']:.0f} CPU-s; 1-min load average "
                 f"{s['load_average_1min'][0]:.1f} on {s['cpus']} shared cores). Target: < 60 s.", ""]
    for key, unit in (("channel", "macs_kept"), ("weight", "sparsity")):
        part = d.get(key)
        if not part:
            continue
        methods = list(dict.fromkeys(r["method"] for r in part["rows"]))
        points = list(dict.fromkeys(r[unit] for r in part["rows"]))
        title = ("MACs kept (channel granularity, 2 fine-tune epochs)" if key == "channel" else
                 "weight sparsity (one_shot(scope=allocation) + 4 epochs PruningCallback)")
        rows += [f"Accuracy % by allocation method, {title}; dense "
                 f"{pct(part['dense_accuracy'])}%:", "",
                 "| " + unit + " | " + " | ".join(methods) + " |",
                 "|---|" + "---:|" * len(methods)]
        for pt in points:
            cells = []
            for m in methods:
                r = next((r for r in part["rows"] if r[unit] == pt and r["method"] == m), None)
                cells.append("" if r is None else pct(r["accuracy"]))
            rows.append(f"| {pt:.0%} | " + " | ".join(cells) + " |")
        rows.append("")
    b = d.get("budget")
    if b:
        rows += [f"`to_budget` (demo CNN, MACs target): achieved {b['achieved']:,.0f} of "
                 f"{b['rounds'][-1]['internal_target']:,.0f} (dense {b['dense']:,.0f}), met: "
                 f"{b['met']}, {len(b['rounds'])} round(s), accuracy {pct(b['accuracy'])}% "
                 f"(dense {pct(b['dense_accuracy'])}%).", ""]
    c = d.get("compensate")
    if c:
        rows += ["One-shot channel pruning without fine-tuning, least-squares refit of the "
                 f"consumers (`tfprune.analysis.compensate`); dense {pct(c['dense_accuracy'])}%:", "",
                 "| channels removed | allocation | uncompensated % | compensated % |",
                 "|---:|---|---:|---:|"]
        for r in c["rows"]:
            rows.append(f"| {r['channels_removed']:.0%} | {r['method']} | "
                        f"{pct(r['uncompensated'])} | {pct(r['compensated'])} |")
        rows.append("")
    return rows


def compress_section(d):
    if not d:
        return []
    t = d["target"]
    rows = ["## Microcontroller flash with TFLM DECODE prune encoding (`bench/compress.py`)", "",
            f"Command: `{d['meta']['command']}`. Demo CNN on MNIST-5k; accuracy measured in the "
            "TFLite Micro interpreter on the 1,000 test digits; compressed files bit-exact "
            "against their uncompressed int8 twin in TFLM.", "",
            "| variant | TFLM accuracy % | flash bytes | vs dense int8 | encoded tensors |",
            "|---|---:|---:|---:|---:|"]
    for v in d["variants"]:
        rows.append(f"| {v['variant']} | {pct(v['tflm_accuracy'])} | {v['compressed_bytes']:,} | "
                    f"{v['compressed_bytes'] / t['dense_int8_bytes']:.3f} | {v['encoded_tensors']} |")
    m = d.get("micro_channels50+unstructured90")
    if m:
        rows += ["", f"Through `export.micro(compress=\"prune\")`: flash {m['flash_bytes']:,} B, "
                 f"arena {m['arena_bytes']:,} B (bisected; the dense channels-only model needs "
                 f"{m['dense_arena_bytes']:,} B: decoded weights live in the arena), host decode "
                 f"overhead {m['decode_overhead']:.2f}x invoke time."]
    return rows + [""]


def sweeps_section(d):
    if not d:
        return []
    import json as _json
    return ["## Sweeps (`bench/sweeps.py`)", "", "```json",
            _json.dumps({k: v for k, v in d.items() if k not in ("trials", "rows")}, indent=1)[:3000],
            "```", ""]


def main():
    parts = ["# Benchmarks", "",
             "Generated by `python bench/report.py` from `bench/results/*.json`. Machine: 2 shared "
             "x86_64 cores, no GPU; timings are noisy, compare within one run.", ""]
    parts += demo_section(load("demo"))
    parts += criteria_section(load("criteria"))
    parts += shrink_section(load("shrink"))
    parts += export_section(load("export"))
    parts += structured_section(load("structured"))
    parts += allocation_section(load("allocation"))
    parts += compress_section(load("compress"))
    parts += sweeps_section(load("sweeps"))
    (ROOT / "BENCHMARKS.md").write_text("\n".join(parts))
    print("wrote", ROOT / "BENCHMARKS.md")


if __name__ == "__main__":
    main()
