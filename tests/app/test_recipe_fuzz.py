"""Fuzzing the recipe door: any document is a valid recipe or a tfprune error, never another
exception (validation only: nothing is trained or loaded)."""

import os

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tfprune import errors
from tfprune.app import recipes, schema

SETTINGS = settings(max_examples=100, deadline=None,
                    suppress_health_check=[HealthCheck.too_slow])

_scalars = (st.none() | st.booleans() | st.integers(-2**40, 2**40)
            | st.floats(allow_nan=True, allow_infinity=True)
            | st.text(max_size=12) | st.sampled_from(["../x", "/abs", "a\0b", ".", "~", "0.5"]))
_values = st.recursive(_scalars, lambda kids: st.lists(kids, max_size=4)
                       | st.dictionaries(st.text(max_size=8), kids, max_size=4), max_leaves=12)
_plausible = st.sampled_from([0.5, 0.9, 1, 2, 64, 1e-3, True, "weight", "channel", "layer",
                              "global", "agp", "magnitude", "digits", "float", "int8", [2, 4],
                              [8, 8], ["float"], ["fc1"], "run-1", "a/b"])
_section = {k: st.dictionaries(st.sampled_from(sorted(v.get("properties", {})) + ["typo"]),
                               _plausible | _plausible | _values, max_size=4)
            for k, v in schema.RUN["properties"].items() if v.get("type") == "object"}
_data = _section.pop("data")
_top = st.fixed_dictionaries(
    {"model": st.sampled_from(["demo_cnn", "m.keras", ""]) | _scalars,
     "data": st.fixed_dictionaries({"source": st.just("digits") | st.text(max_size=10)})
     | _data | _values},
    optional={"name": _plausible | _scalars, "seed": _plausible | _scalars, **_section})


def _check(text):
    try:
        recipe = recipes.load_recipe_text(text)
    except errors.TfpruneError:
        return None
    assert isinstance(recipe, dict) and recipe["model"] and "source" in recipe["data"]
    if "name" in recipe:  # an accepted name stays inside runs/
        out = os.path.normpath(os.path.join("runs", recipe["name"]))
        assert out.startswith("runs" + os.sep) and "\0" not in out
    return recipe


@pytest.mark.slow
@SETTINGS
@given(doc=_top)
def test_structured_recipes_are_valid_or_refused(doc):
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    _check(text)


@SETTINGS
@given(text=st.text(max_size=200))
def test_any_text_is_a_recipe_or_a_config_error(text):
    _check(text)


_lines = st.lists(st.sampled_from([
    "model: demo_cnn", "data: {source: digits}", "prune: {sparsity: 0.5}", "prune:",
    "  sparsity: .nan", "  sparsity: 0.9", "name: ../up", "name: run-1", "a: &a [1, 2]",
    "b: *a", "<<: {seed: 1}", "? [1, 2]\n: x", "seed: !!python/name:os.system", "- item",
    "export: {tflite: [float, float]}", "train: {epochs: 1e400}", "data: {source: x, limit: 5}",
    "\t", "'", "{", "model: &m demo_cnn", "name: *m", "data: {<<: {source: digits}}",
]), max_size=8)


@SETTINGS
@given(lines=_lines)
def test_recipe_like_documents_are_valid_or_refused(lines):
    _check("\n".join(lines) + "\n")


_keys = [(k, p) for k, v in schema.RUN["properties"].items() if v.get("type") == "object"
         for p in v.get("properties", {})] + [(k, None) for k in schema.RUN["properties"]]


@pytest.mark.slow
@SETTINGS
@given(changes=st.lists(st.tuples(st.sampled_from(_keys), _plausible | _values), max_size=3))
def test_a_valid_recipe_with_changed_keys_is_valid_or_refused(changes):
    doc = {"model": "demo_cnn", "data": {"source": "digits"}, "prune": {"sparsity": 0.5}}
    for (section, key), value in changes:
        if key is None:
            doc[section] = value
        elif isinstance(doc.get(section), dict):
            doc[section][key] = value
        else:
            doc[section] = {key: value}
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    _check(text)
