"""What tfprune refuses, and why: one data table, run as tests and rendered into README.

Each row is code a user may write, the tfprune.errors class it raises and a fragment of
the message. ``python tests/test_errors.py`` prints the README table (the lead merges it
into README.md); ``test_readme_table_matches_the_tests`` fails when they drift.
"""

from __future__ import annotations

import re
import sys
from pathlib import Path

import numpy as np
import pytest

import tfprune
from tfprune import errors
from tfprune.compat import keras

README = Path(__file__).parents[1] / "README.md"
TITLE = "## What tfprune refuses, and why"

# (code, error class name, message fragment, why). `m` is a Sequential model with input
# (4,), layers "fc1" (Dense 8) and "out" (Dense 3); `pruned` is tfprune.prune(m, ...);
# `a_file` is the path of an existing file; `evil.h5` (in the current folder) a model file
# holding a Lambda layer; `recipes` is tfprune.app.recipes.
CASES = [
    ('tfprune.prune(m, sparsity=1.0)', "ConfigError", "must be in [0, 1)",
     "a fraction of weights set to zero; 1.0 would remove everything"),
    ('tfprune.prune(m, sparsity=0.5, criterion="magnitud")', "ConfigError",
     "Did you mean 'magnitude'?", "unknown names get the closest valid name"),
    ('errors.check_layer_names("exclude", "fc", m)', "ConfigError", "Did you mean 'fc1'?",
     "a string is one layer name, never split into letters; unknown names are refused"),
    ('errors.check_pair((4, 2))', "ConfigError", "`n_m` = (4, 2)",
     "N:M keeps N of every M weights: 0 < N < M; blamed on n_m, not sparsity"),
    ('errors.check_not_pruned(pruned)', "AlreadyPrunedError", "tfprune.strip(model)",
     "pruning a pruned (tfprune or TF-MOT) model would wrap wrappers"),
    ('tfprune.data.check_labels(np.array([0, 5]), m, sparse=True)', "DataError",
     "valid classes 0..2", "a label out of range trains on garbage"),
    ('tfprune.data.check_labels(np.eye(3)[[0, 1]], m, sparse=True)', "DataError",
     "labels are one-hot", "sparse losses need class ids"),
    ('tfprune.data.check_labels(np.array([0, 1, 2]), m, n_samples=2)', "DataError",
     "one label per sample", "x and y must have the same length"),
    ('errors.check_loss("sparse_categorical_crosentropy")', "ConfigError",
     "Did you mean 'sparse_categorical_crossentropy'?", "a loss name typo"),
    ('tfprune.data.check(m, np.zeros((2, 5)))', "DataError", "expects (4,)",
     "calibration samples must match the model input (both shapes named)"),
    ('tfprune.data.check(m, np.array([["a"] * 4]))', "DataError", "strings",
     "text must be tokenized first"),
    ('tfprune.data.check(m, np.full((2, 4), np.nan))', "DataError", "NaN/inf",
     "NaN/inf statistics poison every score"),
    ('tfprune.data.check(m, np.full((2, 4), 255, np.uint8))', "DataError",
     "/ 255", "unscaled 0..255 images for a float model (export refuses them too)"),
    ('errors.check_output_dir(a_file)', "OutputPathError", "is an existing file",
     "checked before any conversion work"),
    ('tfprune.summary(m, print_fn=3)', "ConfigError", "`print_fn` must be a function",
     "print_fn takes one string, or None"),
    ('tfprune.callbacks.AccuracyGuard("loss", tolerance=float("nan"))', "ConfigError",
     "must be a finite number", "a NaN tolerance would make every comparison False"),
    ('tfprune.callbacks.LotteryTicket(rate=1.5)', "ConfigError", "must be in (0, 1)",
     "rate is the fraction of the remaining weights pruned per round"),
    ('tfprune.callbacks.RigL()', "ConfigError", "gradient regrowth needs data=(x, y)",
     "RigL regrows where the gradient is largest: it needs data (or use SET)"),
    ('m.fit(x, y, verbose=0, callbacks=[tfprune.PruningCallback()])', "ConfigError",
     "has no pruning wrappers", "the callback drives a pruned model"),
    ('tfprune.load_model("evil.h5")', "ConfigError", "carries Python code",
     "a Lambda (or other code) in a model file would run on load; safe_mode=False / --unsafe "
     "opts in"),
    (r'recipes.load_recipe_text("name: ../up\nmodel: m.keras\ndata: {source: d.npz}")',
     "ConfigError", "it holds '..'", "a run name is a folder inside runs/, never outside it"),
    (r'recipes.load_recipe_text("model: a.keras\nmodel: b.keras")', "ConfigError",
     "is written twice", "YAML would silently keep only the last value"),
    ('tfprune.quantize_aware(pruned)', "AlreadyPrunedError", "tfprune.strip(model) first",
     "quantization-aware training starts from the plain (stripped) pruned model"),
    ('tfprune.one_shot(m, 0.9, granularity="2:4")', "ConfigError",
     "its sparsity is 1 - N/M = 0.5", "N:M fixes the sparsity; a different one is a "
     "contradiction"),
    ('tfprune.schedules.AGP(0.9, end_step=8, power=float("nan"))', "ConfigError", "power",
     "a NaN power makes every sparsity NaN; refused when the schedule is made, not in fit"),
    ('tfprune.one_shot(m, 0.5, data=np.full((8, 4), 0.5).tolist() + [[1, 2]])', "DataError",
     "data", "ragged nested lists cannot be one array of samples"),
    ('tfprune.data.check_labels(np.array([0.5, 1.5]), m, sparse=True)', "DataError",
     "non-integer", "a sparse loss takes class ids, not fractions"),
]


@pytest.fixture(scope="module")
def folder(tmp_path_factory):
    """The current folder of the rows: holds evil.h5 (a Lambda layer: Python code)."""
    d = tmp_path_factory.mktemp("cwd")
    i = keras.Input((4,))
    code = keras.layers.Lambda(lambda t: t, name="code")(i)
    keras.Model(i, keras.layers.Dense(3)(code)).save(d / "evil.h5")
    return d


@pytest.fixture(scope="module")
def namespace(tmp_path_factory):
    from tfprune.app import recipes

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(8, name="fc1"),
                          keras.layers.Dense(3, name="out")])
    m.compile("sgd", "mse")
    a_file = tmp_path_factory.mktemp("out") / "a_file"
    a_file.write_text("x")
    return {"tfprune": tfprune, "errors": errors, "np": np, "keras": keras, "m": m,
            "recipes": recipes,
            "pruned": tfprune.prune(m, sparsity=0.5), "a_file": str(a_file),
            "x": np.zeros((4, 4), "float32"), "y": np.zeros((4, 3), "float32")}


@pytest.mark.parametrize("code,error,fragment,why", CASES, ids=[c[0][:50] for c in CASES])
def test_refusal(namespace, folder, monkeypatch, code, error, fragment, why):
    monkeypatch.chdir(folder)
    cls = getattr(errors, error)
    assert issubclass(cls, errors.TfpruneError) and issubclass(cls, (ValueError, TypeError))
    with pytest.raises(cls) as info:
        exec(code, dict(namespace))  # noqa: S102 (the README row, run as written)
    assert fragment in str(info.value), str(info.value)


README_NOTE = ("Loading a pruned `.keras`/`.h5` file needs `import tfprune` before "
               "`keras.models.load_model(...)` (it registers `PruningWrapper`, the criteria "
               "and the schedules); without it Keras reports `Unknown layer: "
               "'PruningWrapper'`. Strip the model (`tfprune.strip`) to save a plain file.")


def render_table() -> str:
    """The README section, rendered from CASES."""
    lines = [TITLE, "",
             "Generated from `tests/test_errors.py` (each row runs as a test). Every error is a "
             "`tfprune.errors` class (a `ValueError`/`TypeError` subclass) whose message names "
             "the argument, the value and the fix.", "",
             "| input | error | the message says | why |", "|---|---|---|---|"]
    for code, error, fragment, why in CASES:
        lines.append(f"| `{code}` | `{error}` | {fragment.replace('|', '/')} | {why} |")
    return "\n".join(lines + ["", README_NOTE]) + "\n"


def _readme_section() -> str | None:
    text = README.read_text() if README.exists() else ""
    match = re.search(re.escape(TITLE) + r".*?(?=\n## |\Z)", text, re.S)
    return match.group(0).rstrip() + "\n" if match else None


def test_readme_table_matches_the_tests():
    section = _readme_section()
    assert section is not None, (
        f"README.md lacks the section {TITLE!r}: render it "
        "with `python tests/test_errors.py` and paste it in.")
    assert section == render_table(), "README table drifted: re-render with " \
                                      "`python tests/test_errors.py`."


@pytest.mark.slow
def test_loading_a_pruned_model_without_import_tfprune_fails_as_documented(tmp_path):
    import subprocess

    m = keras.Sequential([keras.Input((4,)), keras.layers.Dense(3)])
    path = tmp_path / "pruned.keras"
    tfprune.prune(m, sparsity=0.5).save(path)
    code = ("import os; os.environ['TF_USE_LEGACY_KERAS'] = '1'; import tf_keras, sys\n"
            f"try: tf_keras.models.load_model({str(path)!r})\n"
            "except Exception as e: print(type(e).__name__, e); sys.exit(3)")
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                       timeout=300)
    assert r.returncode == 3 and "PruningWrapper" in r.stdout, r.stdout + r.stderr[-500:]
    assert "import tfprune" in README_NOTE and "PruningWrapper" in README_NOTE


if __name__ == "__main__":  # python tests/test_errors.py [out.md]
    text = render_table()
    if len(sys.argv) > 1:
        Path(sys.argv[1]).write_text(text)
    else:
        print(text)
