"""tfprune/deprecations.py: the one table of deprecated spellings and its one warning text."""

import inspect
import warnings

import pytest

from tfprune import deprecations


def test_replace_translates_an_alias_once_with_a_warning_naming_the_fix():
    with pytest.warns(DeprecationWarning, match=r"granularity='unstructured'.*"
                      r"use granularity='weight'.*removed in tfprune 0\.4"):
        assert deprecations.replace("granularity", "unstructured") == "weight"
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a current value passes through silently
        assert deprecations.replace("granularity", "weight") == "weight"
        assert deprecations.replace("granularity", ["unstructured"]) == ["unstructured"]


def test_an_entry_limited_to_one_function_applies_only_there():
    d = deprecations.find("granularity", "filter", where="structured.plan")
    assert (d.new, d.new_argument) == ("producers", "score_from")
    assert deprecations.find("granularity", "filter") is None
    assert deprecations.find("granularity", "filter", where="one_shot") is None
    # an entry for anywhere is found from any function
    assert deprecations.find("granularity", "unstructured", where="one_shot").new == "weight"


def test_a_renamed_function_gets_the_function_wording():
    d = deprecations.find("function", "masking.pruner.apply_masks")
    assert deprecations.message(d) == (
        "tfprune.masking.pruner.apply_masks is deprecated; use "
        "tfprune.masking.pruner.assign_masked_weights (the old name is removed in tfprune 0.4).")


def test_warn_points_at_the_callers_caller():
    def api(value):  # a library function resolving a user's value
        return deprecations.warn("granularity", value)

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        api("unstructured"); line = inspect.currentframe().f_lineno  # noqa: E702
    assert caught[0].category is DeprecationWarning
    assert caught[0].filename == __file__ and caught[0].lineno == line


def test_every_entry_names_a_removal_version_and_a_different_value():
    for d in deprecations.DEPRECATIONS:
        assert d.removed_in and d.new != d.old
        assert deprecations.find(d.argument, d.old, where=d.where) is d


def test_fold_options_sets_deprecated_keywords_as_fields_and_refuses_another_type():
    from tfprune import errors
    from tfprune.analysis import SensitivityOptions
    from tfprune.tuning import sweep

    with pytest.warns(DeprecationWarning, match=r"use options=analysis.SensitivityOptions"):
        got = deprecations.fold_options("analysis.sensitivity", SensitivityOptions(max_batches=2),
                                        SensitivityOptions, {"recalibrate_bn": False})
    assert got == SensitivityOptions(max_batches=2, recalibrate_bn=False)
    with pytest.raises(errors.ConfigError, match=r"`options` must be a SweepOptions, got dict"):
        sweep.checked_options({"overwrite": True}, {})
    with pytest.raises(errors.ConfigError, match=r"Unknown keyword argument of analysis"):
        deprecations.fold_options("analysis.sensitivity", None, SensitivityOptions,
                                  {"max_batch": 1}, valid=["options"])
