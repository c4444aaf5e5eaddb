"""tfprune.data (the package: batches, bounded, inputs): one bounded iteration (an infinite
source never hangs), the default cap and what reads whole."""

from __future__ import annotations

import itertools
import warnings

import numpy as np
import pytest
import tensorflow as tf

import tfprune
from tfprune import data, errors

from .conftest import SPARSE, Counting, X, Y


def test_endless_generator_is_capped_with_a_message(monkeypatch, dense):
    monkeypatch.setattr(data, "DEFAULT_MAX_BATCHES", 3)
    gen = Counting()
    with pytest.warns(UserWarning, match="more than 3 batches: stopped after 3.*max_batches"):
        p = tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration(gen, loss=SPARSE))
    assert gen.pulled == 4  # 3 used, 1 more read to know the source did not end
    assert p is not None


def test_repeated_dataset_is_capped_with_a_message(monkeypatch, dense):
    monkeypatch.setattr(data, "DEFAULT_MAX_BATCHES", 4)
    ds = tf.data.Dataset.from_tensor_slices((X, Y)).batch(4).repeat()
    assert not data.bounded(ds)
    with pytest.warns(UserWarning, match="stopped after 4,"):
        tfprune.one_shot(dense(), 0.5, criterion="taylor", data=tfprune.Calibration(ds, loss=SPARSE))


def test_explicit_max_batches_bounds_an_endless_source_without_a_warning():
    gen = Counting()
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        got = list(data.batches(gen, max_batches=5))
    assert len(got) == 5 and gen.pulled == 5
    assert data.DEFAULT_MAX_BATCHES > 0  # the default cap is finite: no source is read forever


def test_arrays_and_lists_are_read_whole_without_a_cap(monkeypatch):
    monkeypatch.setattr(data, "DEFAULT_MAX_BATCHES", 1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(list(data.batches(X, batch_size=2))) == 6
        assert len(list(data.batches([X[:2], X[2:4]]))) == 2


def test_inputs_gives_one_array_bounded():
    gen = (X[i % 12:i % 12 + 2] for i in itertools.count(0, 2))
    assert data.inputs(gen, max_batches=2).shape == (4, 4)
    assert data.inputs((X, Y)).shape == (12, 4)


def test_export_reads_generators_and_infinite_datasets_bounded(monkeypatch, dense):
    from tfprune.export import samples as export_data

    monkeypatch.setattr(data, "DEFAULT_MAX_BATCHES", 3)
    ds = tf.data.Dataset.from_tensor_slices(X).batch(4).repeat()
    with pytest.warns(UserWarning, match="stopped after 3,"):
        (a,) = export_data.representative(dense(), ds, limit=10**9)
    assert a.shape == (12, 4)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # a generator that ends at the cap is not "stopped"
        (b,) = export_data.representative(dense(), (X[i:i + 4] for i in range(0, 12, 4)))
    np.testing.assert_array_equal(b, X)
    with pytest.raises(errors.ExportError, match=r"batch 1.*NaN/inf"):
        export_data.representative(dense(), iter(Counting(nan_at=2)), limit=10**9)
