"""tfprune/app/schema.py: the recipe JSON schema (draft 2020-12): what a run recipe and the
demo budget accept and refuse."""

import jsonschema
import pytest

from tfprune.app import schema

_RUN = {"$schema": schema.SCHEMA["$schema"], "$ref": "#/$defs/run", "$defs": schema.SCHEMA["$defs"]}
_DEMO = {"$schema": schema.SCHEMA["$schema"], "$ref": "#/$defs/demo",
         "$defs": schema.SCHEMA["$defs"]}


def _errors(instance, root=_RUN):
    return [e.message for e in jsonschema.Draft202012Validator(root).iter_errors(instance)]


def test_the_schema_is_a_valid_draft_2020_12_schema():
    jsonschema.Draft202012Validator.check_schema(schema.SCHEMA)
    assert schema.DEMO_SCHEMA is schema.DEMO and schema.SCHEMA["$defs"]["run"] is schema.RUN


def test_a_full_run_recipe_is_accepted():
    recipe = {"name": "cnn", "seed": 0, "model": "mobilenet_v2", "task": "auto",
              "data": {"source": "cifar10", "test_fraction": 0.2, "image_size": [32, 32]},
              "train": {"epochs": 1, "loss": {"cls": "mse"}},
              "prune": {"granularity": "channel", "sparsity": 0.0, "n_m": [2, 4],
                        "distill": {"temperature": 4, "alpha": 0.5}},
              "export": {"tflite": ["float", "int8"], "micro": {"compress": "auto"}},
              "allocate": {"macs": 1e6, "method": "erk"}}
    assert _errors(recipe) == []


@pytest.mark.parametrize("recipe, message", [
    ({"data": {"source": "x"}}, "'model' is a required property"),
    ({"model": "m", "data": {}}, "'source' is a required property"),
    ({"model": "m", "data": {"source": "x"}, "epochs": 3}, "Additional properties"),
    ({"model": "m", "data": {"source": "x"}, "prune": {"sparsity": 1.0}}, "1.0 is greater"),
    ({"model": "m", "data": {"source": "x"}, "prune": {"granularity": "filter"}}, "'filter'"),
    ({"model": "m", "data": {"source": "x"}, "export": {"tflite": ["int8", "int8"]}},
     "non-unique"),
    ({"model": "m", "data": {"source": "x"}, "allocate": {}}, "should be non-empty"),
    ({"model": "m", "data": {"source": "x"}, "prune": {"n_m": [2]}}, "too short"),
])
def test_wrong_run_recipes_are_refused(recipe, message):
    assert any(message in e for e in _errors(recipe)), _errors(recipe)


def test_the_demo_budget_is_flat_and_bounded():
    assert _errors({"sparsity": 0.5, "scope": "global", "train_samples": 64}, _DEMO) == []
    assert _errors({"sparsity": 0.0}, _DEMO)  # a fraction excludes 0
    assert _errors({"train_samples": 10}, _DEMO)
    assert _errors({"prune": {}}, _DEMO)


@pytest.mark.parametrize("granularity, ok", [("1:4", True), ("block:8x1", True), ("n:m", True),
                                             ("1:x", False), ("block:8", False)])
def test_a_recipe_granularity_is_one_value(granularity, ok):
    recipe = {"model": "m", "data": {"source": "x"}, "prune": {"granularity": granularity}}
    assert (_errors(recipe) == []) is ok, _errors(recipe)


def test_a_recipe_granularity_and_its_pair_keys_become_one_keyword():
    from tfprune.app.pipeline import _granularity_keys
    from tfprune.app.training import granularity_args

    assert granularity_args({"granularity": "block", "block": [8, 1]}) == {
        "granularity": "block:8x1"}
    assert granularity_args({"granularity": "2:8"}) == {"granularity": "2:8"}
    assert _granularity_keys({"granularity": "1:4"}) == {"granularity": "n:m", "n_m": [1, 4]}
    assert _granularity_keys({"granularity": "unstructured"}) == {"granularity": "weight"}
