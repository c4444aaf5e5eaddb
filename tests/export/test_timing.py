import pytest

from tfprune import errors, export
from tfprune.export import _litert


@pytest.mark.slow
def test_latency_reports_ordered_percentiles(tmp_path, mlp64):
    rec = export.tflite(mlp64, tmp_path / "m.tflite")
    lat = export.latency(rec.path, runs=30, warmup=3)
    assert 0 < lat.p10_ms <= lat.median_ms <= lat.p90_ms
    assert (lat.runs, lat.threads, lat.resolver) == (30, 1, _litert.DEFAULT)


@pytest.mark.slow
def test_latency_accepts_bytes_and_threads(tmp_path, mlp64):
    rec = export.tflite(mlp64, tmp_path / "m.tflite")
    lat = export.latency((tmp_path / "m.tflite").read_bytes(), threads=2, runs=5, warmup=0)
    assert lat.threads == 2 and lat.median_ms > 0 and rec.bytes > 0


@pytest.mark.parametrize("kwargs", [{"threads": 0}, {"runs": 0}, {"warmup": -1},
                                    {"runs": 2.5}])
def test_latency_refuses_bad_counts(kwargs):
    with pytest.raises(errors.ConfigError, match="must be an integer"):
        export.latency(b"", **kwargs)


def test_latency_refuses_a_missing_file():
    with pytest.raises(errors.ExportError, match="neither"):
        export.latency("/no/such/file.tflite")
