"""Run folders written atomically, and the report of a run (report.json + report.md).

A run is written into a staging folder next to ``--out`` (``.<name>.partial-<pid>``) and
renamed into place only when complete, so an interrupted run never leaves a folder mixing
two runs: ``--out`` holds the previous complete run (or nothing) until the new one is done.
An existing ``--out`` is replaced only if it is empty or a previous tfprune run (it holds
``report.json``, or ``failure.json`` for a run that failed); any other folder is refused.

Example:
    >>> import tempfile, os
    >>> out = os.path.join(tempfile.mkdtemp(), "run")
    >>> with RunFolder(out) as stage:
    ...     write_text(os.path.join(stage, "report.md"), "# hi")
    >>> sorted(os.listdir(out))
    ['report.md']
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile

from tfprune import errors
from tfprune.app import recipes
from tfprune.export.atomic import pid_alive

__all__ = ["RunFolder", "check_out", "write_text", "write_report", "render_markdown", "METRICS",
           "table", "run_folder"]


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_out(out) -> str:
    """Return ``out`` as an absolute path a run may be written to, or refuse before work.

    Raises:
        ConfigError: ``out`` is a file, a folder that is neither empty nor a tfprune run,
            or its parent folder cannot be created or written.

    Example:
        >>> check_out("/proc/x")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: --out '/proc/x': the folder '/proc' is not writable ...
    """
    path = os.path.abspath(os.fspath(out))
    if os.path.exists(path) and not os.path.isdir(path):
        raise errors.ConfigError(f"--out {out!r} is an existing file; give a folder path (it is "
                                 "created if missing).")
    if os.path.isdir(path) and os.listdir(path) and not any(
            os.path.exists(os.path.join(path, f)) for f in ("report.json", "failure.json")):
        raise errors.ConfigError(f"--out {out!r} is a folder holding other files (not a tfprune "
                                 "run); choose a new folder: a run replaces its --out folder.")
    parent = os.path.dirname(path)
    try:
        os.makedirs(parent, exist_ok=True)
    except OSError as exc:
        raise errors.ConfigError(f"--out {out!r}: cannot create the folder {parent!r} "
                                 f"({exc.strerror}). Choose a writable location.") from None
    try:  # a real write: os.access() says yes to root on read-only file systems
        probe = tempfile.mkdtemp(prefix=".tfprune-probe-", dir=parent)
        os.rmdir(probe)
    except OSError as exc:
        raise errors.ConfigError(f"--out {out!r}: the folder {parent!r} is not writable "
                                 f"({exc.strerror}); choose a writable location.") from None
    return path


class RunFolder:
    """Context manager: a staging folder renamed to ``out`` when the block succeeds.

    On an exception the staging folder is removed and ``out`` is untouched. Stale staging
    folders of killed runs (their process is gone) are removed on entry.
    """

    def __init__(self, out):
        self.out = check_out(out)
        self.stage = None

    def _clean_stale(self, parent, prefix):
        for name in os.listdir(parent):
            if name.startswith(prefix):
                pid = name.rsplit("-", 1)[-1]
                if pid.isdigit() and not pid_alive(int(pid)):
                    shutil.rmtree(os.path.join(parent, name), ignore_errors=True)

    def __enter__(self) -> str:
        parent, name = os.path.split(self.out)
        prefix = f".{name}.partial-"
        self._clean_stale(parent, prefix)
        self.stage = os.path.join(parent, f"{prefix}{os.getpid()}")
        shutil.rmtree(self.stage, ignore_errors=True)
        os.makedirs(self.stage)
        os.chmod(self.stage, 0o777 & ~_umask())
        return self.stage

    def __exit__(self, exc_type, exc, tb):
        if exc_type is not None:
            shutil.rmtree(self.stage, ignore_errors=True)
            return False
        old = None
        if os.path.exists(self.out):
            old = f"{self.stage}.old"
            os.rename(self.out, old)
        os.rename(self.stage, self.out)
        if old:
            shutil.rmtree(old, ignore_errors=True)
        return False


def write_text(path: str, text: str) -> None:
    """Write a text file (mode from the umask, like any file the user creates)."""
    with open(path, "w", encoding="utf-8") as f:
        f.write(text)


# (key, label, format) rows of the side-by-side table; missing values show as "—"
METRICS = [
    ("accuracy", "accuracy (test set)", "{:.2%}"),
    ("mae", "MAE (test set)", "{:.4g}"),
    ("loss", "loss (test set)", "{:.4g}"),
    ("params", "params", "{:,}"),
    ("nonzero_params", "non-zero params", "{:,}"),
    ("sparsity", "weight sparsity", "{:.1%}"),
    ("macs", "MACs per sample", "{:,}"),
    ("tflite.float.bytes", ".tflite float32 bytes", "{:,}"),
    ("tflite.float.gzip_bytes", ".tflite float32 gzip bytes", "{:,}"),
    ("tflite.int8.bytes", ".tflite int8 bytes", "{:,}"),
    ("tflite.float.latency_ms", "LiteRT latency float32 (ms, 1 thread)", "{:.3f}"),
    ("tflite.int8.latency_ms", "LiteRT latency int8 (ms, 1 thread)", "{:.3f}"),
    ("tflite.float.mae", "float32 MAE (LiteRT)", "{:.4g}"),
    ("tflite.float.loss", "float32 loss (LiteRT)", "{:.4g}"),
    ("tflite.int8.accuracy", "int8 accuracy (LiteRT)", "{:.2%}"),
    ("tflite.int8.mae", "int8 MAE (LiteRT)", "{:.4g}"),
    ("tflite.int8.loss", "int8 loss (LiteRT)", "{:.4g}"),
    ("qat.tflite.int8.accuracy", "int8 accuracy after QAT (LiteRT)", "{:.2%}"),
    ("qat.tflite.int8.mae", "int8 MAE after QAT (LiteRT)", "{:.4g}"),
    ("qat.tflite.int8.loss", "int8 loss after QAT (LiteRT)", "{:.4g}"),
    ("qat.tflite.int8.bytes", ".tflite int8 bytes after QAT", "{:,}"),
    ("micro.flash_bytes", "TFLM flash (model array bytes)", "{:,}"),
    ("micro.arena_bytes", "TFLM arena bytes", "{:,}"),
    ("micro.top1_vs_keras", "TFLM top-1 agreement with Keras", "{:.1%}"),
]


def lookup(entry: dict, key: str):
    """``entry["a"]["b"]`` for ``key="a.b"``; None when absent.

    Example:
        >>> lookup({"a": {"b": 3}}, "a.b"), lookup({}, "a.b")
        (3, None)
    """
    for part in key.split("."):
        if not isinstance(entry, dict) or part not in entry:
            return None
        entry = entry[part]
    return entry


def _cell(value, fmt):
    return "—" if value is None else fmt.format(value)


def _layers_table(variants: dict) -> list:
    names = list(variants)
    base = variants[names[0]].get("layers", {})
    rows = ["| layer | params (" + names[0] + ") | " + " | ".join(
        f"{n} removed" for n in names[1:]) + " |", "|---|---:|" + "---:|" * (len(names) - 1)]
    for layer, info in base.items():
        cells = []
        for n in names[1:]:
            lv = variants[n].get("layers", {}).get(layer)
            kept = lv["nonzero_params"] if lv else 0
            cells.append(f"{1 - kept / info['params']:.1%}" if info["params"] else "—")
        rows.append(f"| {layer} | {info['params']:,} | " + " | ".join(cells) + " |")
    return rows


_LABELS = {"accuracy": "accuracy", "mae": "MAE", "loss": "loss"}


def _fmt_metric(metric, value):
    if value is None:
        return "—"
    return f"{value:.2%}" if metric == "accuracy" else f"{value:.4g}"


def _qat_table(variants: dict) -> list:
    """float, post-training int8 and QAT int8 metric side by side, per variant with QAT."""
    rows = []
    for name, v in variants.items():
        q = v.get("qat")
        if not q:
            continue
        m = v.get("metric", "accuracy")
        cells = [v.get(m), lookup(v, f"tflite.float.{m}"), lookup(v, f"tflite.int8.{m}"),
                 lookup(q, f"tflite.int8.{m}")]
        rows.append(f"| {name} | {_LABELS.get(m, m)} | "
                    + " | ".join(_fmt_metric(m, c) for c in cells)
                    + f" | {q.get('epochs', '—')} | {q.get('zeros_after', 0):.1%} |")
    if not rows:
        return []
    return ["", "## int8: post-training vs quantization-aware training (test set)", "",
            "| variant | metric | float (Keras) | float32 (LiteRT) | int8 post-training (LiteRT) "
            "| int8 QAT (LiteRT) | QAT epochs | kernel zeros after QAT |",
            "|---|---|---:|---:|---:|---:|---:|---:|", *rows]


def _exports(variants: dict) -> list:
    """Per written .tflite file: which encoding was kept and why, its latency against the
    dense encoding, and the record's notes (delegate fallbacks)."""
    out = []
    for name, v in variants.items():
        files = [(fmt, e) for fmt, e in (v.get("tflite") or {}).items()]
        files += [(f"{fmt} after QAT", e) for fmt, e in (lookup(v, "qat.tflite") or {}).items()]
        for fmt, e in files:
            if not isinstance(e, dict) or not (e.get("decision") or e.get("notes")):
                continue
            line = f"- **{name} {fmt}** (`{e.get('file', '')}`): {e.get('decision') or ''}"
            if e.get("latency_ms") is not None and e.get("dense_latency_ms") is not None:
                line += (f" Latency {e['latency_ms']:.3f} ms vs {e['dense_latency_ms']:.3f} ms "
                         "for the dense encoding.")
            out.append(line)
            out += [f"  - {note}" for note in e.get("notes", ())]
    return ["", "## Exports (which file was kept, and why)", "", *out] if out else []


def render_markdown(report: dict) -> str:
    """report.md: the side-by-side table, per-layer removal, plots, notes.

    Example:
        >>> md = render_markdown({"title": "t", "variants": {"dense": {"accuracy": 0.9}}})
        >>> "| accuracy (test set) | 90.00% |" in md
        True
    """
    variants = report["variants"]
    names = list(variants)
    out = [f"# {report.get('title', 'tfprune report')}", ""]
    if report.get("description"):
        out += [report["description"], ""]
    out += ["| | " + " | ".join(names) + " |", "|---|" + "---:|" * len(names)]
    for key, label, fmt in _metric_rows(variants) + METRICS:
        values = [lookup(variants[n], key) for n in names]
        if any(v is not None for v in values):
            out.append(f"| {label} | " + " | ".join(_cell(v, fmt) for v in values) + " |")
    if len(names) > 1 and variants[names[0]].get("layers"):
        out += ["", "## Weights removed per layer (vs " + names[0] + ")", ""]
        out += _layers_table(variants)
    out += _qat_table(variants)
    out += _exports(variants)
    alloc = report.get("allocation")
    if alloc:
        name, value = alloc["target"]
        out += ["", f"## Allocation ({alloc['method']}, {alloc['granularity']} units, "
                f"target {name} <= {value:,.4g})", "", "| unit | sparsity |", "|---|---:|"]
        out += [f"| {u} | {s:.1%} |" for u, s in alloc["scope"].items()]
        out += ["", "predicted: " + ", ".join(f"{k} {v:,.4g}" for k, v in
                                             alloc["predicted"].items() if v is not None)]
    sweep = report.get("sweep")
    if sweep and sweep.get("trials"):
        cols = [c for c in ("trial_id", "granularity", "sparsity", "criterion", sweep["quality"],
                            sweep["cost"]) if any(c in t for t in sweep["trials"])]
        out += ["", f"## Sweep: {len(sweep['trials'])} trials (* = Pareto set, "
                f"{sweep['quality']} vs {sweep['cost']})", "",
                "| | " + " | ".join(cols) + " |", "|---|" + "---|" * len(cols)]
        for i, t in enumerate(sweep["trials"]):
            cells = [f"{t.get(c):.4g}" if isinstance(t.get(c), float) else str(t.get(c, ""))
                     for c in cols]
            out.append(f"| {'*' if i in sweep.get('pareto', []) else ''} | "
                       + " | ".join(cells) + " |")
    if report.get("plots"):
        out += ["", "## Plots", ""] + [f"![{p}]({p})" for p in report["plots"]]
    out += ["", "MACs: dense multiply-accumulates per sample (tfprune.analysis.summary's rule); "
            "unstructured sparsity shrinks the compressed file, not the MACs or the latency; "
            "removing channels (shrink) shrinks all of them. Latency: median LiteRT invoke, "
            "batch 1, 1 thread, on the machine that wrote this report.", ""]
    for note in report.get("notes", []):
        out.append(f"- {note}")
    return "\n".join(out) + "\n"


def write_report(stage: str, report: dict) -> None:
    """Write report.json and report.md into ``stage``."""
    write_text(os.path.join(stage, "report.json"), json.dumps(report, indent=2, default=str))
    write_text(os.path.join(stage, "report.md"), render_markdown(report))


def run_folder(name, recipe) -> str:
    """``runs/<name>`` for a recipe (its ``name``, else its file name), refused unless it
    stays inside ``runs/`` (links resolved).

    Example:
        >>> run_folder("demo", "configs/demo.yaml")
        'runs/demo'
    """

    key = "name" if name else "recipe file name"
    name = recipes.check_run_name(name or os.path.splitext(os.path.basename(recipe))[0],
                                  f"{recipe}: {key}")
    out = os.path.join("runs", name)
    root = os.path.realpath("runs")
    if os.path.commonpath([root, os.path.realpath(out)]) != root or \
            os.path.realpath(out) == root:
        raise errors.ConfigError(f"{recipe}: {key} {name!r}: runs/{name} resolves to "
                                 f"{os.path.realpath(out)!r}, outside the runs folder {root!r} "
                                 "(a link?). Use another name, or give the folder with --out.")
    return out


def _metric_rows(variants) -> list:
    """Rows for a run's metric that :data:`METRICS` does not list (the metric the user's
    model was compiled with: ``mse``, ``rmse``, ...), in Keras and in LiteRT; for a model
    with several outputs, each output's measures and its int8 error against Keras."""
    known = {key for key, _, _ in METRICS}
    names = {v.get("metric") for v in variants.values() if isinstance(v, dict)} - {None}
    rows = []
    for m in sorted(n for n in names if n not in known):
        rows += [(m, f"{m} (test set)", "{:.4g}"),
                 (f"tflite.float.{m}", f"float32 {m} (LiteRT)", "{:.4g}"),
                 (f"tflite.int8.{m}", f"int8 {m} (LiteRT)", "{:.4g}")]
    per = []  # several outputs: each one's measures, then each one's error vs Keras
    for v in variants.values():
        per += [k for k in (v.get("outputs") or {}) if k not in per]
    for m in per:
        rows += [(f"outputs.{m}", f"{m} (test set)", "{:.4g}"),
                 (f"tflite.float.outputs.{m}", f"float32 {m} (LiteRT)", "{:.4g}"),
                 (f"tflite.int8.outputs.{m}", f"int8 {m} (LiteRT)", "{:.4g}")]
    for o in dict.fromkeys(o for v in variants.values() for o in
                           (lookup(v, "tflite.int8.vs_keras") or {})):
        rows.append((f"tflite.int8.vs_keras.{o}.max_abs_error",
                     f"int8 max abs error vs Keras, output {o}", "{:.3g}"))
    return rows


def table(report) -> str:
    """The variants of a report side by side, one row per metric in :data:`METRICS`.

    Example:
        >>> print(table({"variants": {"dense": {"accuracy": 0.9}, "pruned": {"accuracy": 0.8}}}))
                              dense  pruned
        accuracy (test set)  90.00%  80.00%
    """
    variants = report["variants"]
    rows = [("", *variants)]
    for key, label, fmt in _metric_rows(variants) + METRICS:
        vals = [lookup(v, key) for v in variants.values()]
        if any(v is not None for v in vals):
            rows.append((label, *("—" if v is None else fmt.format(v) for v in vals)))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    return "\n".join("  ".join(c.ljust(w) if i == 0 else c.rjust(w)
                               for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows)
