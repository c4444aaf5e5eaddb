"""``tfprune.__all__`` snapshot: a change to the public names must be deliberate."""

import tfprune

SNAPSHOT = [
    "__version__",
    "allocate",
    "load_model",
    "sensitivity",
    "to_budget",
    "tuning",
    "PruningCallback",
    "PruningWrapper",
    "Calibration",
    "Granularity",
    "quantization",
    "quantize_aware",
    "quiet",
    "logs",
    "analysis",
    "before_step",
    "callbacks",
    "compat",
    "core",
    "criteria",
    "distill",
    "drop_blocks",
    "errors",
    "export",
    "graph",
    "layers",
    "masking",
    "masks",
    "one_shot",
    "prune",
    "register",
    "schedules",
    "shrink",
    "structured",
    "strip",
    "summary",
]


def test_public_names_match_the_snapshot():
    assert sorted(tfprune.__all__) == sorted(SNAPSHOT), (
        "tfprune.__all__ changed: update SNAPSHOT in tests/test_public_api.py on purpose "
        f"(added {sorted(set(tfprune.__all__) - set(SNAPSHOT))}, removed "
        f"{sorted(set(SNAPSHOT) - set(tfprune.__all__))}).")


def test_every_public_name_exists_and_has_a_docstring():
    for name in tfprune.__all__:
        obj = getattr(tfprune, name)
        if name != "__version__":
            assert (obj.__doc__ or "").strip(), name
