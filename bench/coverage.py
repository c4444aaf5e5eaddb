"""Coverage table (issue 27, item 6): every ``keras.applications`` model, Keras 3 and
tf_keras, plus a few model families, through three pipelines.

    (a) weight:  prune(m, sparsity=0.5) -> strip -> save .keras -> reload with plain
                 ``keras``/``tf_keras`` ``models.load_model``, no custom objects and the
                 global custom-object registry emptied (the file must not name tfprune;
                 ``--strict-reload``: in a fresh process that never imports tfprune),
                 outputs compared -> export.tflite of the file (float)
    (b) channel: one_shot(m, 0.5, criterion="l1", granularity="channel") -> strip ->
                 shrink (parity: max |masked - shrunk| / max |masked| <= 1e-4 on random
                 inputs) -> export.tflite (float)
    (c) sensitivity: compile with a loss, sensitivity(m, (x, y), granularity="weight")
                 on 8 random samples

Models are built with ``weights=None``, ``classes=10`` and the smallest input each accepts
(32x32; Xception 71, Inception* 75). Each model runs in its own subprocess. A cell's limit
counts the CPU seconds of that subprocess (RLIMIT_CPU, so a loaded machine does not make
a big model time out by chance), with a wall-clock backstop (--wall-factor x the CPU
limit); the CPU seconds each cell took are recorded ("cpu_seconds", wall in "seconds").
Every cell is "ok" or the first line of the refusal/exception with its class and the stage
that raised. Results go to bench/results/coverage.json as they come, merged under a lock
and replaced atomically (resumable: cells already there are skipped unless --fresh, or
--rerun-timeouts for timed-out/crashed cells; two drivers may share the file); the
markdown table goes to bench/results/coverage.md. Models run smallest first (parameter
count), the giants last (--no-giants leaves them out).

    nice -n 19 .venv/bin/python bench/coverage.py                   # everything, small first
    nice -n 19 .venv/bin/python bench/coverage.py --models 'MobileNet*' lstm --pipelines a b
    .venv/bin/python bench/coverage.py --render                     # only rewrite the .md
"""

from __future__ import annotations

import argparse
import fcntl
import fnmatch
import json
import os
import platform
import resource
import signal
import subprocess
import sys
import tempfile
import time
import traceback
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
OUT_JSON = os.path.join(HERE, "results", "coverage.json")
OUT_MD = os.path.join(HERE, "results", "coverage.md")
PY = sys.executable

FLAVOURS = ("keras3", "tf_keras")
PIPELINES = ("a", "b", "c")
PIPELINE_TITLES = {
    "a": "(a) weight → strip → .keras → reload → TFLite",
    "b": "(b) channel → shrink (parity) → TFLite",
    "c": "(c) sensitivity (weight)",
}
FAMILIES = ("text_conv1d", "lstm", "transformer", "conv_autoencoder", "two_output")
# Millions of parameters of the ImageNet models (the Keras applications table; VGG at a
# 32x32 input, where its classifier is small): the run order, smallest first.
PARAMS_M = {
    "MobileNetV3Small": 2.5, "RegNetX002": 2.7, "RegNetY002": 3.2, "MobileNetV2": 3.5,
    "MobileNet": 4.3, "RegNetY004": 4.4, "RegNetX004": 5.2, "NASNetMobile": 5.3,
    "EfficientNetB0": 5.3, "MobileNetV3Large": 5.4, "RegNetY006": 6.1, "RegNetX006": 6.2,
    "RegNetY008": 6.3, "EfficientNetV2B0": 7.2, "RegNetX008": 7.3, "EfficientNetB1": 7.9,
    "DenseNet121": 8.1, "EfficientNetV2B1": 8.2, "EfficientNetB2": 9.2, "RegNetX016": 9.2,
    "EfficientNetV2B2": 10.2, "RegNetY016": 11.2, "EfficientNetB3": 12.3, "DenseNet169": 14.3,
    "EfficientNetV2B3": 14.5, "RegNetX032": 15.3, "RegNetY032": 19.4, "EfficientNetB4": 19.5,
    "DenseNet201": 20.2, "RegNetY040": 20.6, "EfficientNetV2S": 21.6, "RegNetX040": 22.1,
    "Xception": 22.9, "InceptionV3": 23.9, "ResNet50": 25.6, "ResNet50V2": 25.6,
    "RegNetX064": 26.2, "ConvNeXtTiny": 28.6, "EfficientNetB5": 30.6, "RegNetY064": 30.6,
    "VGG16": 34.0, "ResNetRS50": 35.7, "VGG19": 39.3, "RegNetY080": 39.2, "RegNetX080": 39.6,
    "EfficientNetB6": 43.3, "ResNet101": 44.7, "ResNet101V2": 44.7, "RegNetX120": 46.1,
    "ConvNeXtSmall": 50.2, "RegNetY120": 51.8, "RegNetX160": 54.3, "EfficientNetV2M": 54.4,
    "InceptionResNetV2": 55.9, "ResNet152": 60.4, "ResNet152V2": 60.4, "ResNetRS101": 63.7,
    "EfficientNetB7": 66.7, "RegNetY160": 83.6, "ResNetRS152": 86.8, "ConvNeXtBase": 88.5,
    "NASNetLarge": 88.9, "ResNetRS200": 93.2, "RegNetX320": 107.8, "EfficientNetV2L": 119.0,
    "ResNetRS270": 129.8, "RegNetY320": 145.0, "ResNetRS350": 164.0, "ResNetRS420": 192.0,
    "ConvNeXtLarge": 197.7, "ConvNeXtXLarge": 350.1,
}
# Run last (and left out by --no-giants): the largest or slowest to trace.
GIANTS = frozenset({"NASNetLarge", "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtXLarge",
                    "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "EfficientNetV2M",
                    "EfficientNetV2L", "ResNetRS200", "ResNetRS270", "ResNetRS350",
                    "ResNetRS420", "RegNetX080", "RegNetX120", "RegNetX160", "RegNetX320",
                    "RegNetY080", "RegNetY120", "RegNetY160", "RegNetY320", "ResNetRS152",
                    "InceptionResNetV2", "ResNet152", "ResNet152V2"})
MIN_SIZE = {"Xception": 71, "InceptionV3": 75, "InceptionResNetV2": 75}
PARITY_TOL = 1e-4
RELOAD_TOL = 1e-5
N_SAMPLES = 8
# (a) reloads in a fresh Python process that never imports tfprune (--strict-reload;
# ~30-60 s of TensorFlow import per model on a loaded machine) or, by default, in the
# worker with the global custom-object registry emptied and no custom_objects.
STRICT_RELOAD = os.environ.get("COVERAGE_STRICT_RELOAD") == "1"


# --------------------------------------------------------------------------- table

def _cell_text(cell: dict | None, width: int | None = None) -> str:
    if cell is None:
        return "—"
    if cell.get("status") == "ok":
        return "✓"
    if width is None:  # a refusal's reason and fix come last in its message: keep them
        width = 300 if cell.get("status") == "refused" else 140
    msg = cell.get("message", "?").replace("|", "\\|").replace("\n", " ")
    if len(msg) > width:
        msg = msg[: width - 1] + "…"
    return msg


def summary(results: dict, flavour: str, pipeline: str) -> tuple[int, int]:
    """(cells ✓, cells run) for one flavour and pipeline.

    >>> r = {"cells": {"keras3/m/a": {"status": "ok"}, "keras3/n/a": {"status": "fail"}}}
    >>> summary(r, "keras3", "a")
    (1, 2)
    """
    cells = [c for k, c in results.get("cells", {}).items()
             if k.split("/")[0] == flavour and k.split("/")[2] == pipeline]
    return sum(c.get("status") == "ok" for c in cells), len(cells)


def refusals(results: dict, flavour: str, pipeline: str) -> int:
    """Cells of one flavour and pipeline refused by a tfprune error (a message naming the
    layer and the reason), as opposed to failures.

    >>> refusals({"cells": {"keras3/m/b": {"status": "refused"}}}, "keras3", "b")
    1
    """
    return sum(c.get("status") == "refused" for k, c in results.get("cells", {}).items()
               if k.split("/")[0] == flavour and k.split("/")[2] == pipeline)


def upstreams(results: dict, flavour: str, pipeline: str) -> int:
    """Cells that fail on the user's dense model too (status "upstream"), not tfprune's.

    >>> upstreams({"cells": {"tf_keras/m/a": {"status": "upstream"}}}, "tf_keras", "a")
    1
    """
    return sum(c.get("status") == "upstream" for k, c in results.get("cells", {}).items()
               if k.split("/")[0] == flavour and k.split("/")[2] == pipeline)


def render(results: dict, command: str | None = None) -> str:
    """The markdown coverage table (models × pipelines, one section per Keras flavour).

    >>> md = render({"cells": {"keras3/lstm/a": {"status": "ok"},
    ...                        "keras3/lstm/b": {"status": "fail", "message": "E: x | y"}}})
    >>> "4/5" in md, "1/1 ✓ for (a)" in md, "E: x \\\\| y" in md
    (False, True, True)
    """
    cells = results.get("cells", {})
    lines = ["## Coverage", ""]
    if command:
        lines += [f"Command: `{command}`", ""]
    lines += ["Each model: `weights=None`, `classes=10`, the smallest input it accepts; "
              "a cell is ✓ or the first line of the refusal/exception (`[stage] Class: message`); "
              "— not run. " + "; ".join(f"{PIPELINE_TITLES[p]}" for p in PIPELINES) + ". "
              "CPU s: the CPU seconds of each cell, (a)/(b)/(c) (- not recorded; a cell's "
              "limit counts CPU time, not wall-clock time).", ""]
    for flavour in FLAVOURS:
        models = sorted({k.split("/")[1] for k in cells if k.split("/")[0] == flavour},
                        key=_order_key)
        if not models:
            continue
        title = "Keras 3 (`keras.applications`)" if flavour == "keras3" else \
            "tf_keras (`tf_keras.applications`)"
        lines += [f"### {title}", ""]
        counts = []
        for p in PIPELINES:
            ok, n = summary(results, flavour, p)
            if n:
                counts.append(f"{ok}/{n} ✓ for ({p})")
        lines += ["**" + ", ".join(counts) + "**", ""]
        refused = [f"{refusals(results, flavour, p)} in ({p})" for p in PIPELINES
                   if refusals(results, flavour, p)]
        if refused:
            lines += ["Refused on purpose (a tfprune error naming the layer and the reason): "
                      + ", ".join(refused) + ".", ""]
        upstream = [f"{upstreams(results, flavour, p)} in ({p})" for p in PIPELINES
                    if upstreams(results, flavour, p)]
        if upstream:
            lines += ["Keras' own limitation (the same step fails on the dense model, "
                      "without tfprune): " + ", ".join(upstream) + ".", ""]
        lines += ["| model | " + " | ".join(f"({p})" for p in PIPELINES) + " | CPU s |",
                  "|---|" + "---|" * (len(PIPELINES) + 1)]
        for m in models:
            row = [_cell_text(cells.get(f"{flavour}/{m}/{p}")) for p in PIPELINES]
            cpu = "/".join(cpu_seconds(cells.get(f"{flavour}/{m}/{p}")) or "-" for p in PIPELINES)
            lines.append(f"| {m} | " + " | ".join(row) + f" | {cpu} |")
        lines.append("")
    meta = results.get("meta")
    if meta:
        lines += [f"Machine: {meta.get('machine', '?')}; TensorFlow {meta.get('tensorflow', '?')},"
                  f" Keras {meta.get('keras', '?')}, tf_keras {meta.get('tf_keras', '?')}.", ""]
    return "\n".join(lines)


def _order_key(name: str):
    """Families first, then models by size, the giants last (unknown names: mid-size).

    >>> sorted(["ResNet50", "NASNetLarge", "lstm", "MobileNetV2"], key=_order_key)
    ['lstm', 'MobileNetV2', 'ResNet50', 'NASNetLarge']
    """
    if name in FAMILIES:
        return (0, FAMILIES.index(name), name)
    return (2 if name in GIANTS else 1, PARAMS_M.get(name, 30.0), name)


def cpu_seconds(cell: dict | None) -> str:
    """A cell's CPU seconds for the table ("" when not recorded).

    >>> cpu_seconds({"cpu_seconds": 93.4}), cpu_seconds({"seconds": 10}), cpu_seconds(None)
    ('93', '', '')
    """
    if not cell or cell.get("cpu_seconds") is None:
        return ""
    return f"{cell['cpu_seconds']:.0f}"


# --------------------------------------------------------------------------- models

def _keras(flavour):
    if flavour == "keras3":
        import keras

        return keras
    import tf_keras

    return tf_keras


def application_names(flavour: str) -> list:
    k = _keras(flavour)
    return sorted(n for n in dir(k.applications) if n[:1].isupper()
                  and callable(getattr(k.applications, n)))


def build(flavour: str, name: str):
    """A fresh model, ``(model, loss)`` where loss is a loss for ``compile``."""
    k = _keras(flavour)
    L = k.layers
    if name == "text_conv1d":
        i = k.Input((20,), dtype="int32")
        x = L.Embedding(100, 16)(i)
        x = L.Conv1D(32, 3, activation="relu")(x)
        x = L.Conv1D(32, 3, activation="relu")(x)
        x = L.GlobalMaxPooling1D()(x)
        return k.Model(i, L.Dense(10, activation="softmax")(x), name=name), \
            "sparse_categorical_crossentropy"
    if name == "lstm":
        i = k.Input((12, 8))
        x = L.LSTM(16)(i)
        return k.Model(i, L.Dense(10, activation="softmax")(x), name=name), \
            "sparse_categorical_crossentropy"
    if name == "transformer":
        i = k.Input((16, 32))
        a = L.MultiHeadAttention(4, 8)(i, i)
        x = L.LayerNormalization()(L.Add()([i, a]))
        f = L.Dense(32)(L.Dense(64, activation="relu")(x))
        x = L.LayerNormalization()(L.Add()([x, f]))
        x = L.GlobalAveragePooling1D()(x)
        return k.Model(i, L.Dense(10, activation="softmax")(x), name=name), \
            "sparse_categorical_crossentropy"
    if name == "conv_autoencoder":
        i = k.Input((32, 32, 3))
        x = L.Conv2D(16, 3, strides=2, padding="same", activation="relu")(i)
        x = L.BatchNormalization()(x)
        x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
        x = L.Conv2DTranspose(16, 3, strides=2, padding="same", activation="relu")(x)
        x = L.Conv2DTranspose(3, 3, strides=2, padding="same", activation="sigmoid")(x)
        return k.Model(i, x, name=name), "mse"
    if name == "two_output":
        i = k.Input((32, 32, 3))
        x = L.Conv2D(16, 3, padding="same")(i)
        x = L.BatchNormalization()(x)
        x = L.Activation("relu")(x)
        x = L.Conv2D(32, 3, strides=2, padding="same", activation="relu")(x)
        x = L.GlobalAveragePooling2D()(x)
        cls = L.Dense(10, activation="softmax", name="cls")(x)
        reg = L.Dense(1, name="reg")(x)
        return k.Model(i, [cls, reg], name=name), \
            {"cls": "sparse_categorical_crossentropy", "reg": "mse"}
    size = MIN_SIZE.get(name, 32)
    fn = getattr(k.applications, name)
    return fn(weights=None, input_shape=(size, size, 3), classes=10), \
        "sparse_categorical_crossentropy"


def _inputs(model, n, seed=0):
    import numpy as np

    rng = np.random.default_rng(seed)
    xs = []
    for t in model.inputs:
        shape = (n,) + tuple(int(d) for d in t.shape[1:])
        dtype = str(getattr(t.dtype, "name", t.dtype))
        if "int" in dtype:
            xs.append(rng.integers(0, 50, size=shape).astype(dtype))
        else:
            xs.append(rng.random(shape).astype("float32"))
    return xs[0] if len(xs) == 1 else xs


def _targets(model, loss, n, seed=1):
    import numpy as np

    rng = np.random.default_rng(seed)
    outs = model.outputs
    losses = [loss[k] for k in loss] if isinstance(loss, dict) else [loss] * len(outs)
    ys = []
    for o, lo in zip(outs, losses, strict=True):
        shape = tuple(int(d) for d in o.shape[1:])
        if lo == "sparse_categorical_crossentropy":
            ys.append(rng.integers(0, shape[-1], size=(n,) + shape[:-1]))
        else:
            ys.append(rng.random((n,) + shape).astype("float32"))
    return ys[0] if len(ys) == 1 else ys


def _outputs(model, x):
    import numpy as np

    y = model(x, training=False)
    if isinstance(y, dict):
        y = list(y.values())
    if not isinstance(y, (list, tuple)):
        y = [y]
    return [np.asarray(v) for v in y]


def _rel_diff(a, b):
    import numpy as np

    worst = 0.0
    for u, v in zip(a, b, strict=True):
        scale = max(float(np.max(np.abs(u))), 1e-12)
        worst = max(worst, float(np.max(np.abs(u - v))) / scale)
    return worst


def flavour_of(model) -> str:
    return "keras3" if type(model).__module__.startswith("keras.") else "tf_keras"


# --------------------------------------------------------------------------- pipelines

class Failure(Exception):
    """A check of the bench itself failed (parity, reload)."""


class Upstream(Exception):
    """The step fails on the user's dense model too, without tfprune: a Keras limitation."""


class CellTimeout(BaseException):
    pass


class _Stage:
    """Remembers which step raised."""

    def __init__(self):
        self.name = "build"

    def __call__(self, name):
        self.name = name


_RELOAD = r"""
import os, sys
import numpy as np
flavour, path, npz = sys.argv[1:4]
if flavour == "keras3":
    import keras as k
else:
    import tf_keras as k
assert "tfprune" not in sys.modules
m = k.models.load_model(path)
d = np.load(npz)
xs = [d[f"x{i}"] for i in range(int(d["nx"]))]
y = m(xs[0] if len(xs) == 1 else xs, training=False)
y = list(y.values()) if isinstance(y, dict) else (list(y) if isinstance(y, (list, tuple)) else [y])
worst = 0.0
for i, v in enumerate(y):
    ref = d[f"y{i}"]
    worst = max(worst, float(np.max(np.abs(np.asarray(v) - ref))) / max(float(np.max(np.abs(ref))), 1e-12))
print("RELOAD", type(m).__module__, worst)
"""


def _reload_without_tfprune(flavour, path, x, ys, tmp, timeout):
    import numpy as np

    npz = os.path.join(tmp, "io.npz")
    xs = x if isinstance(x, list) else [x]
    np.savez(npz, nx=len(xs), **{f"x{i}": v for i, v in enumerate(xs)},
             **{f"y{i}": v for i, v in enumerate(ys)})
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_USE_LEGACY_KERAS")}
    env["TF_CPP_MIN_LOG_LEVEL"] = "3"
    p = subprocess.run([PY, "-c", _RELOAD, flavour, path, npz], capture_output=True, text=True,
                       timeout=timeout, env=env, cwd=tmp)
    line = next((ln for ln in p.stdout.splitlines() if ln.startswith("RELOAD")), None)
    if p.returncode != 0 or line is None:
        err = [ln for ln in p.stderr.strip().splitlines() if ln.strip()]
        raise Failure(f"plain {flavour} load_model failed: {err[-1] if err else p.returncode}")
    worst = float(line.split()[2])
    if not worst <= RELOAD_TOL:
        raise Failure(f"reloaded outputs differ: rel {worst:.2e} > {RELOAD_TOL:g}")
    return worst


def _reload_without_registry(flavour, path, x, ys):
    """Load ``path`` with the global custom-object registry emptied (tfprune's registered
    classes invisible) and no ``custom_objects``: what a user without tfprune gets."""
    k = _keras(flavour)
    with zipfile.ZipFile(path) as z:
        config = z.read("config.json").decode()
    if "tfprune" in config:
        at = config.index("tfprune")
        raise Failure(f"saved config still names tfprune: ...{config[max(0, at - 60):at + 40]}...")
    registry = k.saving.get_custom_objects() if flavour == "keras3" else \
        k.utils.get_custom_objects()
    saved = dict(registry)
    registry.clear()
    try:
        m = k.models.load_model(path)
    finally:
        registry.update(saved)
    worst = _rel_diff(ys, _outputs(m, x))
    if not worst <= RELOAD_TOL:
        raise Failure(f"reloaded outputs differ: rel {worst:.2e} > {RELOAD_TOL:g}")
    return worst


def _blame_upstream(flavour, model, tmp, error):
    """Raise :class:`Upstream` when the user's dense ``model``, saved and reloaded the same
    way without tfprune, fails too; return otherwise (the failure is tfprune's)."""
    path = os.path.join(tmp, "dense.keras")
    model.save(path)
    try:
        x = _inputs(model, 2)
        _reload_without_registry(flavour, path, x, _outputs(model, x))
    except Failure:
        return
    except Exception as dense:  # noqa: BLE001
        raise Upstream(f"{flavour} cannot reload the dense model either, without tfprune "
                       f"({type(dense).__name__}: {_first_line(dense)}); pruned: "
                       f"{type(error).__name__}: {_first_line(error)}") from error


def pipeline_a(flavour, name, stage, tmp, timeout):
    import tfprune

    model, _ = build(flavour, name)
    stage("prune")
    pruned = tfprune.prune(model, sparsity=0.5)
    stage("strip")
    plain = tfprune.strip(pruned)
    detail = {"stripped_flavour": flavour_of(plain)}
    x = _inputs(plain, 2)
    ys = _outputs(plain, x)
    stage("save")
    path = os.path.join(tmp, f"{name}.keras")
    plain.save(path)
    stage("reload")
    if STRICT_RELOAD:
        detail["reload_rel_diff"] = _reload_without_tfprune(flavour_of(plain), path, x, ys,
                                                            tmp, timeout)
    else:
        try:
            detail["reload_rel_diff"] = _reload_without_registry(flavour_of(plain), path, x, ys)
        except Failure:
            raise
        except Exception as e:  # noqa: BLE001 (the dense model tells whose failure it is)
            _blame_upstream(flavour, model, tmp, e)
            raise
    stage("tflite")
    rec = tfprune.export.tflite(path, os.path.join(tmp, f"{name}_a.tflite"), measure=False)
    detail["tflite_bytes"] = getattr(rec, "size_bytes", None) or os.path.getsize(
        os.path.join(tmp, f"{name}_a.tflite"))
    return detail


def pipeline_b(flavour, name, stage, tmp, timeout):
    import tfprune

    model, _ = build(flavour, name)
    stage("one_shot")
    pruned = tfprune.one_shot(model, 0.5, criterion="l1", granularity="channel")
    stage("strip")
    masked = tfprune.strip(pruned)
    stage("shrink")
    small = tfprune.shrink(masked)
    stage("parity")
    x = _inputs(masked, 4, seed=2)
    diff = _rel_diff(_outputs(masked, x), _outputs(small, x))
    detail = {"parity": diff, "params": int(model.count_params()),
              "params_shrunk": int(small.count_params()), "shrunk_flavour": flavour_of(small)}
    if not diff <= PARITY_TOL:
        raise Failure(f"parity {diff:.2e} > {PARITY_TOL:g} (masked vs shrunk)")
    stage("tflite")
    out = os.path.join(tmp, f"{name}_b.tflite")
    tfprune.export.tflite(small, out, measure=False)
    detail["tflite_bytes"] = os.path.getsize(out)
    return detail


def pipeline_c(flavour, name, stage, tmp, timeout):
    import tfprune

    model, loss = build(flavour, name)
    model.compile(loss=loss)
    x = _inputs(model, N_SAMPLES, seed=3)
    y = _targets(model, loss, N_SAMPLES)
    stage("sensitivity")
    r = tfprune.sensitivity(model, (x, y), granularity="weight", levels=(0.5,), progress=False,
                            options=tfprune.analysis.SensitivityOptions(max_batches=1))
    return {"curves": len(r.curves), "metric": r.metric}


RUNNERS = {"a": pipeline_a, "b": pipeline_b, "c": pipeline_c}


def _first_line(e) -> str:
    text = str(e).strip()
    return text.splitlines()[0] if text else ""


def _where(tb) -> str:
    """The innermost tfprune frame (file:line function), else the innermost frame."""
    frames = traceback.extract_tb(tb)
    ours = [f for f in frames if "/tfprune/" in f.filename]
    f = (ours or frames or [None])[-1]
    if f is None:
        return ""
    fn = f.filename
    if "/tfprune/" in fn:
        fn = "tfprune/" + fn.split("/tfprune/", 1)[1]
    elif "site-packages/" in fn:
        fn = fn.split("site-packages/", 1)[1]
    return f"{fn}:{f.lineno} {f.name}"


def _cpu_used(who=resource.RUSAGE_SELF) -> float:
    u = resource.getrusage(who)
    return u.ru_utime + u.ru_stime


class _Limits:
    """Arms a CPU-time limit (RLIMIT_CPU soft limit: SIGXCPU once the process has used
    ``cpu`` more CPU seconds) and a wall-clock backstop (SIGALRM after ``wall`` seconds)
    for one cell; the first signal raises CellTimeout and records why."""

    def __init__(self, cpu: float, wall: float):
        self.cpu, self.wall, self.fired = cpu, wall, None

    def _raise(self, why):
        if self.fired is None:  # SIGXCPU repeats every CPU second past the soft limit
            self.fired = why
            self.disarm()
            raise CellTimeout(why)

    def arm(self):
        signal.signal(signal.SIGXCPU, lambda *_: self._raise(f"CPU limit {self.cpu:g} s"))
        signal.signal(signal.SIGALRM, lambda *_: self._raise(
            f"wall-clock backstop {self.wall:g} s"))
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        soft = int(_cpu_used() + self.cpu) + 1
        if hard != resource.RLIM_INFINITY:
            soft = min(soft, hard)
        resource.setrlimit(resource.RLIMIT_CPU, (soft, hard))
        signal.alarm(max(1, int(self.wall)))

    def disarm(self):
        signal.alarm(0)
        _, hard = resource.getrlimit(resource.RLIMIT_CPU)
        resource.setrlimit(resource.RLIMIT_CPU, (hard, hard))


def run_cell(flavour, name, pipeline, cpu_limit, wall_limit) -> dict:
    """One cell in this process: "ok" with details, or the stage and first line of what
    was raised; ``cpu_seconds`` (this process and its finished children) and wall
    ``seconds``."""
    stage = _Stage()
    t0, c0, k0 = time.time(), _cpu_used(), _cpu_used(resource.RUSAGE_CHILDREN)
    limits = _Limits(cpu_limit, wall_limit)
    limits.arm()
    try:
        with tempfile.TemporaryDirectory() as tmp:
            detail = RUNNERS[pipeline](flavour, name, stage, tmp, wall_limit)
        cell = {"status": "ok", "detail": detail}
    except CellTimeout:
        cell = {"status": "timeout", "message": f"[{stage.name}] timeout: {limits.fired}"}
    except Exception as e:  # noqa: BLE001 (the message is the deliverable)
        if limits.fired:  # the timeout surfaced wrapped in another exception (Keras calls)
            cell = {"status": "timeout", "message": f"[{stage.name}] timeout: {limits.fired}"
                    f" (surfaced as {type(e).__name__})"}
        else:  # a tfprune error class is a refusal made on purpose, with its reason
            refused = any(k.__name__ == "TfpruneError" for k in type(e).__mro__)
            status = "upstream" if isinstance(e, Upstream) else "refused" if refused else "fail"
            cell = {"status": status, "stage": stage.name,
                    "message": f"[{stage.name}] {type(e).__name__}: {_first_line(e)}",
                    "where": _where(e.__traceback__)}
    finally:
        limits.disarm()
    cell["seconds"] = round(time.time() - t0, 1)
    cell["cpu_seconds"] = round(_cpu_used() - c0 + _cpu_used(resource.RUSAGE_CHILDREN) - k0, 1)
    return cell


def worker(flavour, name, pipelines, cpu_limit, wall_limit, out_path):
    """Runs in the model's subprocess: one JSON line per cell appended to ``out_path``."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    sys.path.insert(0, ROOT)
    import tfprune  # noqa: F401  (sets up tf_keras before TensorFlow loads)

    tfprune.quiet()
    for p in pipelines:
        cell = run_cell(flavour, name, p, cpu_limit, wall_limit)
        with open(out_path, "a") as f:
            f.write(json.dumps({"key": f"{flavour}/{name}/{p}", **cell}) + "\n")


# --------------------------------------------------------------------------- driver

def load_results(path=OUT_JSON) -> dict:
    if os.path.exists(path):
        with open(path) as f:
            return json.load(f)
    return {"cells": {}}


def save_results(results, path=OUT_JSON, cells=None):
    """Write ``results`` atomically. With ``cells`` (new cells only), merge them into the
    file as it is now, under a lock, so that drivers running side by side keep each
    other's cells; returns the merged results."""
    lock_path = os.path.join(tempfile.gettempdir(), os.path.basename(path) + ".lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if cells is not None:
            merged = load_results(path)
            merged.setdefault("cells", {}).update(cells)
            merged.setdefault("meta", {}).update(results.get("meta", {}))
            results = merged
        tmp = f"{path}.{os.getpid()}.tmp"
        with open(tmp, "w") as f:
            json.dump(results, f, indent=1, sort_keys=True, ensure_ascii=False)
        os.replace(tmp, path)
    return results


def write_md(results, command, path=OUT_MD):
    tmp = f"{path}.{os.getpid()}.tmp"
    with open(tmp, "w") as f:
        f.write(render(results, command) + "\n")
    os.replace(tmp, path)


def plan(flavours, patterns, giants=True) -> list:
    todo = []
    for flavour in flavours:
        names = list(FAMILIES) + application_names(flavour)
        if patterns:
            names = [n for n in names if any(fnmatch.fnmatch(n, p) for p in patterns)]
        if not giants:
            names = [n for n in names if n not in GIANTS]
        todo += [(flavour, n) for n in names]
    # small first, both flavours of a model next to each other, giants last
    return sorted(todo, key=lambda t: (_order_key(t[1]), FLAVOURS.index(t[0])))


def to_run(results, key, fresh=False, rerun=("timeout", "crash")) -> bool:
    """Whether a cell runs: not in the results yet, ``fresh``, or its status in ``rerun``.

    >>> r = {"cells": {"k/m/a": {"status": "ok"}, "k/m/b": {"status": "timeout"}}}
    >>> [to_run(r, k) for k in ("k/m/a", "k/m/b", "k/m/c")], to_run(r, "k/m/b", rerun=())
    ([False, True, True], False)
    """
    cell = results.get("cells", {}).get(key)
    return fresh or cell is None or cell.get("status") in rerun


def _meta():
    import importlib.metadata as md

    def v(pkg):
        try:
            return md.version(pkg)
        except md.PackageNotFoundError:
            return "?"

    return {"machine": f"{platform.machine()}, {os.cpu_count()} cores (shared)",
            "tensorflow": v("tensorflow") if v("tensorflow") != "?" else v("tensorflow-cpu"),
            "keras": v("keras"), "tf_keras": v("tf-keras"), "tfmot": v("tensorflow-model-optimization")}


def run_model(flavour, name, pipes, args) -> dict:
    """Runs one model's cells in a worker subprocess; the cells it wrote, and a "crash"
    cell for the first pipeline the process did not finish (later ones stay unrun)."""
    fd, out = tempfile.mkstemp(suffix=".jsonl")
    os.close(fd)
    env = dict(os.environ)
    if args.strict_reload:
        env["COVERAGE_STRICT_RELOAD"] = "1"
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    wall = args.cpu_limit * args.wall_factor
    try:
        p = subprocess.run([PY, os.path.abspath(__file__), "--cpu-limit", str(args.cpu_limit),
                            "--wall-factor", str(args.wall_factor),
                            "--worker", flavour, name, ",".join(pipes), out],
                           capture_output=True, text=True, timeout=wall * len(pipes) + 300,
                           env=env)
        rc, err = p.returncode, p.stderr
    except subprocess.TimeoutExpired:
        rc, err = "hard timeout", ""
    with open(out) as f:
        got = [json.loads(ln) for ln in f if ln.strip()]
    os.unlink(out)
    cells = {c.pop("key"): c for c in got}
    for p_ in pipes:
        key = f"{flavour}/{name}/{p_}"
        if key not in cells:  # the process died (crash, OOM, hard timeout) in this cell
            tail = [ln for ln in (err or "").strip().splitlines() if ln.strip()]
            why = f"process ended ({rc}): {tail[-1][:200] if tail else 'no message'}"
            cells[key] = {"status": "crash", "message": why}
            break
    return cells


def _parser():
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", nargs="*", help="name patterns (fnmatch), e.g. 'MobileNet*' lstm")
    ap.add_argument("--pipelines", nargs="*", choices=PIPELINES, default=list(PIPELINES))
    ap.add_argument("--flavours", nargs="*", choices=FLAVOURS, default=list(FLAVOURS))
    ap.add_argument("--cpu-limit", "--timeout", type=float, default=1200, dest="cpu_limit",
                    help="CPU seconds per cell (of the worker process, all its threads)")
    ap.add_argument("--wall-factor", type=float, default=4.0,
                    help="wall-clock backstop per cell, as a multiple of --cpu-limit")
    ap.add_argument("--fresh", action="store_true", help="rerun cells already in the json")
    ap.add_argument("--rerun-timeouts", action="store_true",
                    help="rerun cells that timed out or crashed")
    ap.add_argument("--no-giants", action="store_true", help="leave out the giant models")
    ap.add_argument("--render", action="store_true", help="only rewrite coverage.md")
    ap.add_argument("--list", action="store_true", help="print the models and exit")
    ap.add_argument("--strict-reload", action="store_true",
                    help="(a): reload in a fresh process that never imports tfprune")
    ap.add_argument("--json", default=OUT_JSON)
    ap.add_argument("--md", default=OUT_MD)
    ap.add_argument("--worker", nargs=4, metavar=("FLAVOUR", "MODEL", "PIPELINES", "OUT"),
                    help=argparse.SUPPRESS)
    return ap


def main(argv=None):
    args = _parser().parse_args(argv)
    command = "nice -n 19 .venv/bin/python bench/coverage.py"
    if args.worker:
        flavour, name, pipes, out = args.worker
        worker(flavour, name, pipes.split(","), args.cpu_limit,
               args.cpu_limit * args.wall_factor, out)
        return 0
    results = load_results(args.json)
    if args.render:
        write_md(results, command, args.md)
        print(render(results, command))
        return 0
    todo = plan(args.flavours, args.models, giants=not args.no_giants)
    if args.list:
        print("\n".join(f"{f}/{n}" for f, n in todo))
        return 0
    meta = {"meta": _meta()}
    rerun = ("timeout", "crash") if args.rerun_timeouts else ()
    for flavour, name in todo:
        results = load_results(args.json)  # another driver may have run it meanwhile
        pipes = [p for p in args.pipelines
                 if to_run(results, f"{flavour}/{name}/{p}", args.fresh, rerun)]
        if not pipes:
            continue
        t0 = time.time()
        cells = run_model(flavour, name, pipes, args)
        results = save_results(meta, args.json, cells=cells)
        write_md(results, command, args.md)
        line = " ".join(f"({k.split('/')[2]}) {_cell_text(c, 70)} [{cpu_seconds(c) or '?'} cpu s]"
                        for k, c in sorted(cells.items()))
        print(f"{flavour}/{name} {time.time() - t0:.0f}s: {line}", flush=True)
    for flavour in args.flavours:
        print(flavour, ", ".join("{}/{} ✓ for ({})".format(*summary(results, flavour, p), p)
                                 for p in PIPELINES))
    return 0


if __name__ == "__main__":
    sys.exit(main())
