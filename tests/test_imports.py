"""Import direction: app -> analysis/tuning -> masking/structured/export -> graph/layers -> core.

The core (masks, criteria, schedules) imports no Keras glue, and the library never imports
the app layer. Checked on the source (every import statement, including those inside
functions), so no import order can hide a cycle.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1] / "tfprune"
GLUE = ("masking", "structured", "graph", "callbacks", "analysis", "export", "app", "tuning",
        "layers")


def _imports(path):
    tree = ast.parse(path.read_text())
    package = ".".join(path.relative_to(ROOT.parent).with_suffix("").parts[:-1])
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield alias.name
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")[: len(package.split(".")) - node.level + 1]
                mod = ".".join(base + ([node.module] if node.module else []))
            else:
                mod = node.module or ""
            yield mod
            for alias in node.names:  # `from tfprune import masking`
                yield f"{mod}.{alias.name}"


def _sources(sub=""):
    return sorted((ROOT / sub).rglob("*.py"))


@pytest.mark.parametrize("path", _sources("core"), ids=lambda p: str(p.relative_to(ROOT)))
def test_core_imports_no_glue(path):
    bad = sorted({m for m in _imports(path)
                  if any(m == f"tfprune.{g}" or m.startswith(f"tfprune.{g}.") for g in GLUE)})
    assert not bad, f"{path.relative_to(ROOT)} imports glue: {bad}"


def test_library_never_imports_the_app():
    bad = {}
    for path in _sources():
        if "app" in path.relative_to(ROOT).parts:
            continue
        found = [m for m in _imports(path) if m == "tfprune.app" or m.startswith("tfprune.app.")]
        if found:
            bad[str(path.relative_to(ROOT))] = found
    assert not bad, f"library modules import tfprune.app: {bad}"


def test_the_checker_sees_relative_and_nested_imports(tmp_path):
    src = ROOT / "core" / "masks.py"
    assert "tensorflow" in set(_imports(src))
    assert any(m.startswith("tfprune.core") for m in _imports(ROOT / "core" / "criteria" /
                                                             "grouping.py"))


def test_data_module_is_a_low_layer():
    """tfprune.data (every data form, check and iteration) sits just above errors/compat."""
    allowed = ("tfprune.errors", "tfprune.compat")
    bad = sorted(m for m in set(_imports(ROOT / "data.py"))
                 if m.startswith("tfprune.") and not any(m == a or m.startswith(a + ".")
                                                          for a in allowed))
    assert not bad, f"data.py imports higher layers: {bad}"
