"""The after-fit and save/load checks of the criteria test_criteria.py does not fit (one fit
per criterion, shared by both checks; the checks are in _fitted.py)."""

import pytest

from ._fitted import DATA_FIT, FIT, SAVED, assert_save_and_load, assert_scores_after_fit


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in FIT if n not in DATA_FIT])
def test_criterion_scores_have_documented_shape_after_fit(name):
    assert_scores_after_fit(name)


@pytest.mark.slow
@pytest.mark.parametrize("name", [n for n in SAVED if n not in DATA_FIT])
def test_criterion_survives_keras_save_and_load_mid_pruning(name, tmp_path):
    assert_save_and_load(name, str(tmp_path / "m.keras"))

