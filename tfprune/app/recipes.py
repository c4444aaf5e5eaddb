"""YAML recipes, validated by a JSON schema (jsonschema) before any work.

Today one recipe kind exists: the demo's budget (``configs/demo.yaml``). Unknown keys
and wrong types are refused with the key's name and the valid keys.

Example:
    >>> load_demo_recipe_text("sparsity: 0.8\\ndense_epochs: 2\\n")["sparsity"]
    0.8
"""

from __future__ import annotations

import jsonschema
import yaml

from tfprune import errors

__all__ = ["DEMO_SCHEMA", "load_demo_recipe", "load_demo_recipe_text"]

DEMO_SCHEMA = {
    "type": "object",
    "additionalProperties": False,
    "properties": {
        "sparsity": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
        "dense_epochs": {"type": "integer", "minimum": 1},
        "finetune_epochs": {"type": "integer", "minimum": 1},
        "train_samples": {"type": "integer", "minimum": 64, "maximum": 4000},
        "batch_size": {"type": "integer", "minimum": 1},
        "learning_rate": {"type": "number", "exclusiveMinimum": 0},
        "frequency": {"type": "integer", "minimum": 1},
        "ramp_fraction": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
        "seed": {"type": "integer"},
        "scope": {"enum": ["layer", "global"]},
    },
}


def load_demo_recipe_text(text: str, source: str = "<text>") -> dict:
    """Parse and validate a demo recipe given as YAML text.

    Raises:
        ConfigError: YAML syntax errors, unknown keys, wrong types or ranges (naming the key).

    Example:
        >>> load_demo_recipe_text("sparsty: 0.8")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: ...'sparsty' is not a known key...
    """
    try:
        data = yaml.safe_load(text) or {}
    except yaml.YAMLError as exc:
        raise errors.ConfigError(f"{source}: not valid YAML ({exc}).") from None
    if not isinstance(data, dict):
        raise errors.ConfigError(f"{source}: a recipe is a mapping of keys to values.")
    validator = jsonschema.Draft202012Validator(DEMO_SCHEMA)
    problems = sorted(validator.iter_errors(data), key=lambda e: list(e.path))
    if problems:
        e = problems[0]
        valid = ", ".join(sorted(DEMO_SCHEMA["properties"]))
        if e.validator == "additionalProperties":
            extra = sorted(set(data) - set(DEMO_SCHEMA["properties"]))
            raise errors.ConfigError(
                f"{source}: {extra[0]!r} is not a known key. Valid keys: {valid}.")
        key = ".".join(str(p) for p in e.path) or "(top level)"
        raise errors.ConfigError(f"{source}: key {key!r}: {e.message}.")
    return data


def load_demo_recipe(path: str) -> dict:
    """Read and validate a demo recipe file (see ``configs/demo.yaml``)."""
    try:
        with open(path, encoding="utf-8") as f:
            text = f.read()
    except OSError as exc:
        raise errors.ConfigError(f"--config {path!r}: cannot read it ({exc.strerror}).") from None
    return load_demo_recipe_text(text, source=path)
