"""Extra BENCHMARKS.md sections from the scripts the suite does not replace.

``bench/shrink.py`` (channel shrink on 14 tf_keras.applications architectures),
``bench/allocation.py`` (sensitivity scan time, allocation methods, to_budget),
``bench/compress.py`` (channel shrink + unstructured + TFLM DECODE on the demo CNN),
``bench/structured.py`` (every channel criterion on the demo CNN, issue 10),
``bench/sweeps.py``, ``bench/distill.py`` and ``bench/collapse.py``; each JSON is read when
present in the results folder.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path


def pct(x):
    return "–" if x is None else f"{100 * x:.1f}"


def _load(results: Path, name):
    path = results / f"{name}.json"
    return json.loads(path.read_text()) if path.exists() else None


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


def allocation_section(d):
    if not d:
        return []
    rows = ["## Sensitivity, allocation and budgets (`bench/allocation.py`)", ""]
    s = d.get("scan")
    if s:
        runs = s.get("runs") or [s]
        timed = "; ".join(
            f"{r['seconds_total']:.1f} s wall, {r['cpu_seconds']:.1f} CPU-s "
            + {True: "with BatchNormalization re-estimated per point (recalibrate_bn='auto', "
                     "the default for a BN model)",
               False: "recalibrate_bn=False"}.get(r.get("recalibrate_bn"), "")
            + f" (1-min load average {r['load_average_1min'][0]:.1f})" for r in runs)
        rows += [f"Sensitivity scan, {s['model']}, channel granularity, {s['groups']} groups x 4 "
                 f"levels ({s['evaluations']} evaluations) on 256 samples, {s['cpus']} shared "
                 f"cores: {timed}. Target: < 60 s.", ""]
    names = {"demo": "demo CNN", "ds_cnn": "DS-CNN"}
    weights = sorted(k for k in d if k.startswith("weight"))
    for key, unit in [("channel", "macs_kept")] + [(k, "sparsity") for k in weights]:
        part = d.get(key)
        if not part:
            continue
        for net in dict.fromkeys(r.get("net", "demo") for r in part["rows"]):
            mine = [r for r in part["rows"] if r.get("net", "demo") == net]
            methods = list(dict.fromkeys(r["method"] for r in mine))
            points = list(dict.fromkeys(r[unit] for r in mine))
            dense = part.get("nets", {}).get(net, {}).get("dense_accuracy",
                                                          part["dense_accuracy"])
            title = (f"MACs kept (channel granularity, {part.get('epochs', 2)} fine-tune epochs)"
                     if key == "channel" else
                     "weight sparsity (one_shot(scope=allocation) + 4 epochs PruningCallback, "
                     f"Adam lr {part.get('lr', 1e-3):g} for every method; \"global, gradual\": "
                     "prune(scope=\"global\", schedule=AGP) over the same 4 epochs)")
            rows += [f"{names.get(net, net)}: accuracy % by allocation method, {title}; dense "
                     f"{pct(dense)}%:", "",
                     "| " + unit + " | " + " | ".join(methods) + " |",
                     "|---|" + "---:|" * len(methods)]
            for pt in points:
                cells = []
                for m in methods:
                    r = next((r for r in mine if r[unit] == pt and r["method"] == m), None)
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


def structured_section(d):
    """bench/structured.py: every channel criterion on the demo CNN, gradual and one-shot."""
    if not d:
        return []
    cfg, m, t = d["config"], d["machine"], d["targets"]
    dense, half = d["dense"], d["half_width"]
    lat = d.get("latency", {})
    rows = ["## Channel pruning, every criterion (`bench/structured.py`)", "",
            f"Command: `{d['command']}` ({d['seconds'] / 60:.0f} min, started {d['started']}). "
            f"Machine: {m['cpus']} cores, shared: 1-min load average "
            f"{m['load_average_start'][0]:.1f} at the start, {m['load_average_end'][0]:.1f} at "
            "the end; timings are noisy, compare within the run.", "",
            f"Demo CNN on MNIST-5k, {cfg['dense_epochs']} dense epochs (accuracy "
            f"{pct(dense['accuracy'])} %, {dense['macs']:,} MACs, widths {dense['widths']}); "
            f"{cfg['sparsity']:.0%} of the channels of every prunable group at "
            "`granularity=\"channel\"`, then `strip` → `shrink`. Gradual: `prune(schedule=AGP)` "
            f"+ {cfg['finetune_epochs']} epochs with `PruningCallback`; one-shot: "
            f"`one_shot(data=({cfg['calibration_samples']} samples))` + "
            f"{cfg['finetune_epochs']} epochs with `PruningCallback`. Limit: the same network "
            f"built at half width, trained from scratch for {half['epochs']} epochs: accuracy "
            f"{pct(half['accuracy'])} %, {half['macs']:,} MACs, LiteRT "
            f"{lat.get('half_width', {}).get('median_ms', 0):.4f} ms (dense "
            f"{lat.get('dense', {}).get('median_ms', 0):.4f} ms). Epoch cost: steady epoch "
            "(first skipped) of the pruning fit / plain `fit` of the dense network, plain "
            "epochs sampled between the runs; wall time, and in brackets process CPU time "
            "(less sensitive to the other jobs on the machine). Latency: `tf.lite.Interpreter(num_threads=1)`, "
            f"batch 1, median of {cfg['latency_rounds']} interleaved rounds x "
            f"{cfg['latency_runs_per_round']} invokes per model.", "",
            "| criterion | mode | accuracy % | MACs after shrink | params | widths | "
            "epoch × plain, wall (CPU) | LiteRT ms | × half width |", "|---|---|---:|---:|---:|---|---:|---:|---:|"]
    for r in d["rows"]:
        if r["status"] != "ok":
            what = "refused" if r["status"] == "refused" else "failed"
            rows.append(f"| {r['criterion']} | {r['mode']} | {what}: "
                        f"{r['error'].splitlines()[0][:160]} | | | | | | |")
            continue
        er, lv, ec = r.get("epoch_ratio"), r.get("latency_vs_half_width"), r.get("epoch_cpu_ratio")
        rows.append(f"| {r['criterion']} | {r['mode']} | {pct(r['accuracy'])} | {r['macs']:,} | "
                    f"{r['params']:,} | {'/'.join(map(str, r['widths']))} | "
                    f"{'–' if er is None else f'{er:.2f}'}"
                    f"{'' if ec is None else f' ({ec:.2f})'} | "
                    f"{r.get('latency_ms', 0):.4f} | {'–' if lv is None else f'{lv:.3f}'} |")
    lt, et, ba = t["latency_vs_half_width"], t["epoch_ratio"], t["best_accuracy"]

    def yes(ok):
        return "**met**" if ok else "**not met**"

    def num(v, fmt):
        return "–" if v is None else fmt.format(v)

    n_lat = sum("latency_vs_half_width" in r for r in d["rows"])
    rows += ["", "Targets (issue 10):", "",
             f"- LiteRT latency within {lt['target'] - 1:.0%} of the half-width limit: median "
             f"{num(lt['median'], '{:.3f}')}×, worst {num(lt['max'], '{:.3f}')}× over {n_lat} "
             f"shrunk models: {yes(lt['met_all'])} for every one (median {yes(lt['met_median'])}).",
             f"- Epoch cost ≤ {et['target']}× plain fit: median {num(et['median'], '{:.2f}')}× "
             f"(CPU {num(et.get('cpu_median'), '{:.2f}')}×), worst {num(et['max'], '{:.2f}')}× "
             f"(CPU {num(et.get('cpu_max'), '{:.2f}')}×): {yes(et['met_all'])} for every run "
             f"(median {yes(et['met_median'])})."
             + (" In adjacent one-epoch pairs (median of "
                f"{d['epoch_cost'][0]['pairs']} pairs, wall / CPU): " + ", ".join(
                    f"{k} {v:.2f}× / {et['paired_cpu'][k]:.2f}×" for k, v in et["paired"].items())
                + f": {yes(et['paired_met_all'])} for every one." if et.get("paired") else ""),
             f"- Best criterion ≥ dense accuracy: {ba['run']} {pct(ba['best'])} % vs dense "
             f"{pct(ba['target'])} %: {yes(ba['met'])}."]
    warned = {}
    for r in d["rows"]:
        for w in r.get("warnings", []):
            warned.setdefault(w, []).append(f"{r['criterion']}/{r['mode']}")
    for w, runs in warned.items():
        rows += ["", f"Warning in {', '.join(runs)}: {w}"]
    if d.get("left_out"):
        rows += ["", "Not run (no channel granularity): " + "; ".join(
            f"{k}: {v}" for k, v in d["left_out"].items()) + "."]
    return rows + [""]


def qat_section(d):
    if not d:
        return []
    rows = ["## int8 accuracy: post-training vs quantization-aware training (`bench/qat.py`)", "",
            f"Command: `{d['command'].strip()}`. MNIST-5k, 1,000 test images in LiteRT; QAT is "
            f"{d['rows'][0]['qat_epochs']} epoch at Adam 1e-4 from the pruned float model "
            "(tfprune.quantize_aware, zeros kept). The QAT column includes that extra epoch of "
            "training; the float column does not.", "",
            "| network | pruned | float | int8 post-training | int8 QAT | QAT − float | QAT − PTQ |",
            "|---|---|---:|---:|---:|---:|---:|"]
    for r in d["rows"]:
        rows.append(f"| {r['network']} | {r['pattern']} | {pct(r['float'])} | "
                    f"{pct(r['ptq_int8'])} | {pct(r['qat_int8'])} | "
                    f"{100 * (r['qat_int8'] - r['float']):+.1f} | "
                    f"{100 * (r['qat_int8'] - r['ptq_int8']):+.1f} |")
    return rows + [""]


def oneshot_section(d):
    """One network of ``bench/oneshot.py`` (``oneshot.json``: demo CNN; ``oneshot_<net>.json``)."""
    if not d:
        return []
    what = d.get("description", "Demo CNN, MNIST-5k")
    seeds = d.get("seeds", [d["seed"]])
    per_seed = ""
    if len(seeds) > 1:
        per_seed = " (per seed " + ", ".join(pct(a) for a in d["dense_per_seed"]) + ")"
    short = {"ds_cnn": "DS-CNN", "transformer": "transformer text classifier"}.get(
        d.get("net"), "demo CNN")
    rows = [f"## One-shot pruning without fine-tuning: {short} (`bench/oneshot.py`)", "",
            f"Command: `{d.get('command', 'python bench/oneshot.py')}`. {what}, {d['epochs']} "
            f"dense epochs (dense {pct(d['dense'])} %{per_seed}), {d['calibration_samples']} "
            f"calibration samples, seed(s) {', '.join(map(str, seeds))}, no fine-tuning. "
            "Accuracy % (relative output error of the model outputs on the calibration "
            "samples)" + ("; mean over seeds, min–max in brackets." if len(seeds) > 1 else "."),
            ""]
    levels = list(dict.fromkeys(k.split("@")[1] for k in d["rows"]))
    methods = list(dict.fromkeys(k.split("@")[0] for k in d["rows"]))
    rows += ["| criterion | " + " | ".join(levels) + " |",
             "|---|" + "---:|" * len(levels)]
    for m in methods:
        cells = [_oneshot_cell(d["rows"].get(f"{m}@{lv}")) for lv in levels]
        rows.append(f"| {m} | " + " | ".join(cells) + " |")
    return rows + [""] + _oneshot_targets(d)


def _oneshot_cell(r):
    if r is None:
        return "–"
    spread = ""
    if len(r.get("accuracies", [])) > 1:
        spread = f" [{pct(min(r['accuracies']))}–{pct(max(r['accuracies']))}]"
    return f"{pct(r['accuracy'])}{spread} ({r.get('output_error', float('nan')):.3f})"


def _oneshot_targets(d):
    """Issue 25's targets: sparsegpt@50 % within 1 point of dense; @70 % >= magnitude + 10."""
    rows = d["rows"]
    if "sparsegpt@0.5" not in rows or "sparsegpt@0.7" not in rows or "magnitude@0.7" not in rows:
        return []
    gap = 100 * (rows["sparsegpt@0.5"]["accuracy"] - d["dense"])
    lead = 100 * (rows["sparsegpt@0.7"]["accuracy"] - rows["magnitude@0.7"]["accuracy"])
    return [f"Targets: sparsegpt at 50 % {gap:+.1f} points vs dense (target >= -1.0: "
            f"{'met' if gap >= -1.0 else 'NOT met'}); at 70 % {lead:+.1f} points vs magnitude "
            f"(target >= +10: {'met' if lead >= 10 else 'NOT met'}).", ""]


def sparse_kernels_section(d):
    if not d:
        return []
    return ["## Block-sparse Dense layers in LiteRT (`bench/sparse_kernels.py`)", "",
            f"Command: `{d['command']}`; {d['threads']} thread, {d['rounds']} interleaved "
            f"rounds, host {d['host']}. `vs dense XNNPACK` above 1x means the block-sparse file "
            "(builtin sparse FULLY_CONNECTED kernels) is faster than the dense file with the "
            "default XNNPACK delegate.", "", d["table"], ""]


def mcu_flash_section(d):
    if not d:
        return []
    rows = ["## Smallest microcontroller file: prune, LUT, Huffman and auto DECODE encodings "
            "(`bench/mcu_flash.py`)", "",
            f"Command: `{d['meta']['command']}`. Demo CNN on MNIST-5k; accuracy in the TFLM "
            "interpreter on 1,000 test digits; every encoded file bit-exact against its own int8 "
            "file; clustering is post-training (`export.cluster`), no fine-tuning after it.", "",
            "| variant | encoding | flash B | % of dense int8 | TFLM accuracy | arena B |",
            "|---|---|---:|---:|---:|---:|"]
    for v in d["variants"]:
        rows.append(f"| {v['variant']} | {v['encoding']} | {v['flash_bytes']:,} | "
                    f"{100 * v['flash_ratio_vs_dense_int8']:.2f} | {pct(v['tflm_accuracy'])} | "
                    f"{v.get('arena_reported') or 0:,} |")
    t = d["target"]
    rows += ["", f"Best within 1 point of dense: {t['best_within_1pt']}, {t['best_bytes']:,} B = "
             f"{100 * t['best_ratio']:.2f} % of dense int8 (target 5 %: "
             f"{'met' if t['target_0.05_met'] else 'not met'})."]
    return rows + [""]


def mcu_lenet_section(d):
    if not d:
        return []
    t = d["target"]
    rows = ["## LeNet-300-100 in microcontroller flash against Deep Compression's 40x "
            "(`bench/mcu_flash.py --only lenet`)", "",
            f"Command: `{d['meta']['command']}`. MNIST-5k; hidden units removed "
            "(tfprune.structured), global magnitude pruning, post-training clustering, then the "
            "DECODE encodings; flash = the whole .tflite file, against the float32 bytes of the "
            f"dense LeNet-300-100's parameters ({t['float32_weight_bytes']:,} B; 1/40 = "
            f"{t['target_bytes']:,} B). Accuracy in TFLM on 1,000 test digits; every file "
            "bit-exact against its own int8 file. The arena holds the largest decoded kernel.",
            "", "| variant | encoding | flash B | x vs float32 | TFLM accuracy | arena B |",
            "|---|---|---:|---:|---:|---:|"]
    for v in d["variants"]:
        rows.append(f"| {v['variant']} | {v['encoding']} | {v['flash_bytes']:,} | "
                    f"{v['compression_x']} | {pct(v['tflm_accuracy'])} | "
                    f"{v.get('arena_reported') or 0:,} |")
    met = "met" if t["target_40x_met"] else "not met"
    rows += ["", f"Dense int8 TFLM accuracy {pct(t['dense_int8_tflm_accuracy'])}. Best within "
             f"0.5 point: {t['best_within_0.5pt']}, {t['best_bytes']:,} B = "
             f"{t['best_compression_x']}x (target 40x: {met})."]
    return rows + [""]


def distill_section(d):
    """Fine-tuning with and without the dense teacher (``bench/distill.py``)."""
    if not d or not d.get("rows"):
        return []
    rows = ["## Distillation: fine-tuning with the dense model as teacher (`bench/distill.py`)",
            "", "MNIST-5k, 1,000 test images; the same pruned start, epochs and Adam learning "
            "rate with and without `tfprune.distill(student, dense, temperature, alpha)`; one "
            "seed per row. Commands per row in bench/results/distill.json.", "",
            "| network | pruned | dense % | fine-tune % | with teacher % | T, alpha | target | "
            "met | epochs, lr, seed |", "|---|---|---:|---:|---:|---|---|---|---|"]
    for p, t in _distill_pairs(d["rows"]):
        r = p or t
        dense, goal = r["dense_accuracy"], r["target"]
        best = max(x["accuracy"] for x in (p, t) if x is not None)
        met = (best >= 0.95 if goal.startswith(">= 95") else
               best >= dense - (0.005 if "0.5" in goal else 0.01))
        ta = "–" if t is None else f"{t['temperature']:g}, {t['alpha']:g}"
        rows.append(f"| {r['network']} | {r['pruned']} | {pct(dense)} | "
                    f"{pct(p and p['accuracy'])} | {pct(t and t['accuracy'])} | {ta} | {goal} | "
                    f"{'yes' if met else 'no'} | {r['epochs']}, {r['lr']:g}, {r['seed']} |")
    return rows + [""]


def _distill_pairs(rows):
    """Each distillation row next to the plain fine-tuning of the same setting."""
    key = lambda r: (r["network"], r["pruned"], r["epochs"], r["lr"], r["seed"])  # noqa: E731
    plain = {key(r): r for r in rows if not r["distill"]}
    out = [(plain.get(key(r)), r) for r in rows if r["distill"]]
    used = {key(r) for r in rows if r["distill"]}
    return out + [(r, None) for k, r in plain.items() if k not in used]


def collapse_section(d):
    """The DS-CNN collapse at 8x, before and after the no-collapse guard (``bench/collapse.py``)."""
    if not d or not d.get("rows"):
        return []
    rows = ["## DS-CNN at high weight compression: the emptied classifier (`bench/collapse.py`)",
            "", f"Command: `{d['command']}`. {d.get('note', '')}", "",
            "| method | ratio | guard | accuracy % | BN re-estimated % | fc kept | "
            "empty output channels |", "|---|---:|---|---:|---:|---:|---:|"]
    for r in d["rows"]:
        empty = sum(v["empty_out"] for v in r["layers"].values())
        fc = r["layers"].get("fc", {})
        rows.append(f"| {r['method']} | {r['ratio']:g} | {r['guard']} | {pct(r['acc'])} | "
                    f"{pct(r['acc_bn_recalibrated'])} | {fc.get('kept_weights', '–')} | {empty} |")
    return rows + [""]


def coverage_section(results: Path) -> list:
    """The model-zoo coverage table ``bench/coverage.py`` renders into coverage.md."""
    path = results / "coverage.md"
    if not path.exists():
        return []
    text = path.read_text().strip()
    return [text.replace("## Coverage", "## Coverage: every model users bring (`bench/coverage.py`)",
                         1), ""]


def never_slower_section(d):
    """Every exported pruned model against its dense encoding (``bench/never_slower.py``)."""
    if not d or not d.get("rows"):
        return []
    rows = ["## Never a slower file (`bench/never_slower.py`)", "",
            f"Command: `{d['command'].strip()}`. One-shot magnitude pruning of the suite's "
            "shapes (no fine-tuning: latency does not depend on accuracy), exported with the "
            "default `objective=\"balanced\"`; the written file and the dense encoding of the "
            f"same model re-timed in a fresh interleaved run ({d['rounds']} rounds x "
            f"{d['runs']} invokes, LiteRT 1 thread), load average "
            f"{d['machine']['load_average']:.1f}. A kept file byte-identical to the dense one "
            f"is ratio 1 without timing. Target: ratio <= {d['target_ratio']}.", "",
            "| network | pattern | file | encoding kept | written ms | dense ms | ratio |",
            "|---|---|---|---|---:|---:|---:|"]
    for r in d["rows"]:
        if r["status"] != "ok":
            rows.append(f"| {r['net']} | {r['pattern']} | {r['quantize']} | {r['status']} "
                        "| | | |")
            continue
        enc = "sparse" if r["sparse"] else "dense"
        ms = ("same file", "") if r.get("same_file") else (
            f"{r['latency_ms']:.4f}", f"{r['dense_latency_ms']:.4f}")
        rows.append(f"| {r['net']} | {r['pattern']} | {r['quantize']} | {enc} | {ms[0]} | "
                    f"{ms[1]} | {r['ratio']:.3f} |")
    return rows + ["", f"{d['within_target']}/{d['measured']} within the target; worst ratio "
                   f"{d['worst_ratio']}.", ""]


def qat_gap_section(d):
    """QAT int8 before and after the BatchNormalization fix (``bench/qat_gap.py``)."""
    if not d or not d.get("rows"):
        return []
    rows = ["## QAT int8 against float and post-training int8 (`bench/qat_gap.py`)", "",
            "MNIST-5k, 1,000 test images, one seed; each network channel-pruned 50 % and shrunk; "
            "1 QAT epoch at Adam 1e-4. before: BatchNormalization left out of QAT (the old "
            "behaviour); fold only: BN after Conv/Depthwise/Dense taken into QAT; after: that "
            "plus activation ranges calibrated from data. Commands: `python bench/qat_gap.py "
            "--nets demo` and `--nets ds_cnn`.", "",
            "| network | float % | int8 PTQ % | QAT before % | QAT fold only % | QAT after % |",
            "|---|---:|---:|---:|---:|---:|"]
    for r in d["rows"]:
        rows.append(f"| {r['network']} | {pct(r['float'])} | {pct(r['ptq_int8'])} | "
                    f"{pct(r['qat_int8_before'])} | {pct(r['qat_int8_fold_only'])} | "
                    f"{pct(r['qat_int8_after'])} |")
    return rows + [""]


def keras3_fit_section(d):
    """Epoch time through the Keras 3 translation vs plain tf_keras (``bench/keras3_fit_time.py``)."""
    if not d:
        return []
    pairs = ", ".join(f"{r:.2f}" for r in d["pair_ratios"])
    return ["## Keras 3 objects in fit: epoch time (`bench/keras3_fit_time.py`)", "",
            f"Command: `{d['command']}`. A pruned model fitted with Keras 3 Adam, loss and "
            "EarlyStopping (translated) vs the same model built and fitted in tf_keras; "
            f"{d['reps']} interleaved pairs, order alternating. Median steady epoch: "
            f"{d['translated_median_epoch_s']:.3f} s translated, {d['plain_median_epoch_s']:.3f} s "
            f"plain ({d['ratio']:.2f}x); pair ratios {pairs} at load "
            f"{d['load_average']:.1f}: no overhead out of the noise.", ""]


def sections(results: Path) -> list:
    """The extra sections whose JSON exists in ``results``."""
    out = coverage_section(results)
    for name, fn in (("demo", demo_section), ("shrink", shrink_section),
                     ("allocation", allocation_section), ("compress", compress_section),
                     ("structured", structured_section), ("sweeps", sweeps_section),
                     ("qat", qat_section), ("oneshot", oneshot_section),
                     ("oneshot_ds_cnn", oneshot_section),
                     ("oneshot_transformer", oneshot_section),
                     ("sparse_kernels", sparse_kernels_section),
                     ("mcu_flash", mcu_flash_section),
                     ("mcu_flash_lenet", mcu_lenet_section), ("distill", distill_section),
                     ("collapse", collapse_section), ("never_slower", never_slower_section),
                     ("qat_gap", qat_gap_section), ("keras3_fit_time", keras3_fit_section)):
        out += fn(_load(results, name))
    return out
