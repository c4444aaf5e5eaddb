"""YAML recipes: one JSON schema for every recipe, validated before any work.

A recipe is read with a size limit and a YAML loader that refuses more than
:data:`MAX_ALIASES` aliases *while composing* (an alias bomb is refused before it is
expanded), then every number is checked finite and the whole document is validated
against :data:`SCHEMA` (jsonschema). Unknown keys are refused with the closest valid
key; keys for capabilities that are not installed (``mlflow``) or not in this
version (``sensitivity``, ``sweep``) are refused with the fix.

``tfprune run`` uses the ``run`` recipe (``configs/*.yaml``); ``tfprune demo --config``
uses the flat ``demo`` recipe (``configs/demo*.yaml`` budgets).

Example:
    >>> load_recipe_text("model: demo_cnn\\ndata: {source: digits}\\n")["model"]
    'demo_cnn'
    >>> load_demo_recipe_text("sparsity: 0.8\\ndense_epochs: 2\\n")["sparsity"]
    0.8
"""

from __future__ import annotations

import difflib
import importlib.util
import math
import os
import re

import jsonschema
import yaml

import tfprune.analysis as analysis
from tfprune import errors
from tfprune.app.schema import DEMO_SCHEMA, MAX_ALIASES, MAX_BYTES, SCHEMA

__all__ = ["SCHEMA", "DEMO_SCHEMA", "MAX_BYTES", "MAX_ALIASES", "load_recipe", "load_recipe_text",
           "load_demo_recipe", "load_demo_recipe_text", "capabilities", "check_run_name"]


def capabilities() -> dict:
    """Which optional recipe sections can run here: ``{key: None or the reason not}``.

    Example:
        >>> sorted(capabilities())
        ['mlflow', 'sensitivity', 'sweep']
    """

    have = {
        "mlflow": None if importlib.util.find_spec("mlflow") else
        "needs the optional MLflow extra: pip install 'tfprune[mlflow]'",
        "sensitivity": None if callable(getattr(analysis, "sensitivity", None))
        and callable(getattr(analysis, "allocate", None))
        else "tfprune.analysis.sensitivity/allocate are not in this version of tfprune",
        "sweep": None if importlib.util.find_spec("tfprune.tuning") else
        "tfprune.tuning (PruningTuner) is not in this version of tfprune",
    }
    return have


class _LimitedLoader(yaml.SafeLoader):
    """SafeLoader that counts aliases while composing and refuses past MAX_ALIASES, and
    refuses a key written twice in one mapping (YAML keeps the last one silently)."""

    aliases = 0

    def construct_mapping(self, node, deep=False):
        if isinstance(node, yaml.MappingNode):
            seen = {}
            for key_node, _ in node.value:
                if key_node.tag == "tag:yaml.org,2002:merge":
                    continue  # `<<: *base` overrides on purpose
                key = self.construct_object(key_node, deep=True)
                line = key_node.start_mark.line + 1
                try:
                    first = seen.get(key)
                    seen[key] = line
                except TypeError:
                    continue  # an unhashable key: SafeLoader refuses it below
                if first is not None:
                    raise errors.ConfigError(
                        f"key {key!r} is written twice (line {first} and line {line}); YAML "
                        "would keep only the last one. Merge the two into one entry.")
        return super().construct_mapping(node, deep)

    def compose_node(self, parent, index):
        if self.check_event(yaml.AliasEvent):
            self.aliases += 1
            if self.aliases > MAX_ALIASES:
                raise errors.ConfigError(
                    f"more than {MAX_ALIASES} YAML aliases (*name): refused before expanding "
                    "them (a recipe with that many references is an alias bomb). Write the "
                    "values out.")
        return super().compose_node(parent, index)


def _parse(text, source: str):
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    if len(text.encode("utf-8", errors="replace")) > MAX_BYTES:
        raise errors.ConfigError(f"{source}: larger than {MAX_BYTES:,} bytes; a recipe is a "
                                 "short list of settings (put data in files it names).")
    loader = None
    try:
        loader = _LimitedLoader(text)
        data = loader.get_single_data()
    except errors.ConfigError as exc:
        raise errors.ConfigError(f"{source}: {exc}") from None
    except yaml.YAMLError as exc:
        raise errors.ConfigError(f"{source}: not valid YAML ({exc}).") from None
    finally:
        if loader is not None:
            loader.dispose()
    if data is None:
        data = {}
    if not isinstance(data, dict):
        raise errors.ConfigError(f"{source}: a recipe is a mapping of keys to values.")
    _check_finite(data, source, ())
    return data


def _check_finite(node, source, path):
    if isinstance(node, dict):
        for k, v in node.items():
            if not isinstance(k, str):
                raise errors.ConfigError(f"{source}: key {k!r} must be a string.")
            _check_finite(v, source, path + (k,))
    elif isinstance(node, list):
        for i, v in enumerate(node):
            _check_finite(v, source, path + (i,))
    elif isinstance(node, float) and not math.isfinite(node):
        key = ".".join(map(str, path))
        raise errors.ConfigError(f"{source}: key {key!r}: {node!r} is not a finite number; "
                                 "give a finite value in range.")


def _first_problem(data, schema):
    validator = jsonschema.Draft202012Validator(schema)
    problems = sorted(validator.iter_errors(data), key=lambda e: (len(e.path), list(map(str, e.path))))
    return problems[0] if problems else None


def _explain(e, source: str) -> errors.ConfigError:
    where = ".".join(str(p) for p in e.path)
    if e.validator == "additionalProperties":
        valid = sorted(e.schema.get("properties", {}))
        extra = sorted(set(e.instance) - set(valid))[0]
        close = difflib.get_close_matches(extra, valid, n=1, cutoff=0.5)
        key = f"{where}.{extra}" if where else extra
        hint = f" Did you mean {close[0]!r}?" if close else ""
        return errors.ConfigError(f"{source}: {key!r} is not a known key.{hint} "
                                  f"Valid keys{' in ' + repr(where) if where else ''}: "
                                  f"{', '.join(valid)}.")
    if e.validator == "required":
        return errors.ConfigError(f"{source}: {e.message}{' in ' + repr(where) if where else ''}.")
    return errors.ConfigError(f"{source}: key {where or '(top level)'!r}: {e.message}.")


def _validate(data: dict, kind: str, source: str) -> dict:
    e = _first_problem(data, SCHEMA["$defs"][kind])
    if e is not None:
        raise _explain(e, source)
    return data


def _check_capabilities(data: dict, source: str) -> None:
    caps = capabilities()
    caps["allocate"] = caps.get("sensitivity")
    for key, why in caps.items():
        if key in data and why:
            raise errors.ConfigError(f"{source}: key {key!r} {why}. Remove the key or "
                                     "install the capability.")


def load_recipe_text(text, source: str = "<text>") -> dict:
    """Parse and validate a ``tfprune run`` recipe given as YAML text.

    Raises:
        ConfigError: too large, too many aliases, YAML syntax, non-finite numbers, unknown
            keys (with the closest valid key), wrong types or ranges, a capability that is
            not installed.

    Example:
        >>> load_recipe_text("model: demo_cnn\\ndata: {source: digits}\\nprun: {}")
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: <text>: 'prun' is not a known key. Did you mean 'prune'? \
Valid keys: allocate, data, export, metric, mlflow, model, model_options, name, prune, \
quantize_aware, report, seed, sensitivity, sweep, task, train.
    """
    data = _validate(_parse(text, source), "run", source)
    if "name" in data:
        check_run_name(data["name"], f"{source}: key 'name'")
    tracking = data.get("mlflow", {}).get("tracking_uri")
    if tracking is not None:
        _check_tracking_uri(tracking, source)
    _check_capabilities(data, source)
    return data


def check_run_name(name: str, key: str = "name") -> str:
    """Refuse a run name that would put the run folder outside the runs folder: empty,
    absolute, holding ``..`` or a NUL byte. (``tfprune run`` also checks that the folder,
    links resolved, is inside ``runs/``.)

    Example:
        >>> check_run_name("exp-1/a")
        'exp-1/a'
        >>> check_run_name("../../escaped")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: name '../../escaped': a run name is a folder inside runs/...
    """
    why = None
    if "\0" in name:
        why = "it holds a NUL byte"
    elif os.path.isabs(name) or name.startswith(("~", "\\")) or (len(name) > 1 and name[1] == ":"):
        why = "it is an absolute path"
    elif ".." in name.replace("\\", "/").split("/"):
        why = "it holds '..'"
    elif os.path.normpath(name) in (".", "") or not name.strip():
        why = "it names no folder"
    if why:
        raise errors.ConfigError(
            f"{key} {name!r}: a run name is a folder inside runs/ and {why}. Use a plain "
            "name such as 'mnist-50' (letters, digits, '-', '_'; '/' for sub-folders), or "
            "give the folder with --out.")
    return name


def _check_tracking_uri(uri: str, source: str) -> None:
    """A local MLflow store (a path or a ``file:``/``sqlite:`` URI) stays under the current
    folder; remote stores (``http://``, ``databricks``, ...) are the user's server."""
    if uri.startswith("file:"):
        local = uri[5:][2:] if uri[5:].startswith("//") else uri[5:]
    elif uri.startswith("sqlite:"):
        local = uri[7:][3:] if uri[7:].startswith("///") else uri[7:]
    elif "://" in uri or re.match(r"[A-Za-z][A-Za-z0-9+.-]+:", uri):
        return
    else:
        local = uri
    try:
        check_run_name(local, f"{source}: key 'mlflow.tracking_uri'")
    except errors.ConfigError as exc:
        raise errors.ConfigError(str(exc).replace(
            "a run name is a folder inside runs/", "a local MLflow store stays under the "
            "current folder").replace("or give the folder with --out", "or run MLflow as a "
                                      "server (http://...)")) from None


def _read(path: str, arg: str) -> bytes:
    try:
        if os.path.getsize(path) > MAX_BYTES:
            raise errors.ConfigError(f"{arg} {path!r}: larger than {MAX_BYTES:,} bytes; a recipe "
                                     "is a short list of settings.")
        with open(path, "rb") as f:
            return f.read(MAX_BYTES + 1)
    except OSError as exc:
        raise errors.ConfigError(f"{arg} {path!r}: cannot read it ({exc.strerror}).") from None


def load_recipe(path: str) -> dict:
    """Read and validate a ``tfprune run`` recipe file (see ``configs/``).

    Example:
        >>> load_recipe("/no/such.yaml")
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: recipe '/no/such.yaml': cannot read it (No such file or directory).
    """
    return load_recipe_text(_read(path, "recipe"), source=path)


def load_demo_recipe_text(text, source: str = "<text>") -> dict:
    """Parse and validate a demo recipe (the flat budget of ``tfprune demo --config``).

    Example:
        >>> load_demo_recipe_text("sparsty: 0.8")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tfprune.errors.ConfigError: <text>: 'sparsty' is not a known key. Did you mean 'sparsity'?...
    """
    return _validate(_parse(text, source), "demo", source)


def load_demo_recipe(path: str) -> dict:
    """Read and validate a demo recipe file (see ``configs/demo.yaml``)."""
    return load_demo_recipe_text(_read(path, "--config"), source=path)


def micro_options(value) -> dict | None:
    """A recipe's ``export.micro`` as :func:`tfprune.export.micro` keywords; None when off.

    ``micro: true`` is a dense int8 file; ``micro: {compress: auto, arena: 65536}`` asks for
    TFLM DECODE compression (``none``, ``auto``, ``prune``, ``lut``, ``huffman``) under an
    arena limit in bytes.

    Example:
        >>> micro_options(True), micro_options(False)
        ({'compress': None, 'arena': None}, None)
        >>> micro_options({"compress": "auto", "arena": 65536})
        {'compress': 'auto', 'arena': 65536}
    """
    if not value:
        return None
    value = {} if value is True else value
    compress = value.get("compress", "none")
    return {"compress": None if compress == "none" else compress, "arena": value.get("arena")}
