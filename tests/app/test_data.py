"""tfprune.app.data: the CLI's data sources and its data checks."""

import numpy as np
import pytest

from tests.app.test_data_task import _reg
from tfprune import errors
from tfprune.app import data as data_lib
from tfprune.compat import keras

L = keras.layers


def test_float_targets_accepted_for_a_regression_output_and_refused_for_class_scores():
    x, y = np.zeros((4, 3), "float32"), np.array([6.5, 9.0, 12.25, 18.0], "float32")
    data_lib.check_input(_reg(), x, y)  # inferred from the targets
    data_lib.check_input(_reg(), x, np.array([6, 9, 12, 18]), task="regression")
    cls = keras.Sequential([keras.Input((3,)), L.Dense(3, activation="softmax", name="cls")])
    with pytest.raises(errors.ConfigError, match=r"integer class ids.*'cls'.*task: regression"):
        data_lib.check_input(cls, x, y)
    with pytest.raises(errors.ConfigError, match="regression targets must be finite"):
        data_lib.check_input(_reg(), x, np.array([1.5, np.nan, 2.0, 3.0]))
    with pytest.raises(errors.ConfigError, match="range over"):
        data_lib.check_input(cls, x, np.array([0, 1, 2, 3]))


def test_binary_targets_on_one_unit_are_accepted():
    b = keras.Sequential([keras.Input((3,)), L.Dense(1, activation="sigmoid")])
    data_lib.check_input(b, np.zeros((3, 3), "float32"), np.array([0.0, 1.0, 1.0]))


@pytest.fixture(scope="module")
def png_folder(tmp_path_factory):
    from PIL import Image
    from sklearn.datasets import load_digits

    d = tmp_path_factory.mktemp("images")
    digits = load_digits()
    for cls in range(3):
        (d / f"class{cls}").mkdir()
        idx = np.flatnonzero(digits.target == cls)[:10]
        for k, i in enumerate(idx):
            img = (digits.images[i] * 255 / 16).astype(np.uint8)
            Image.fromarray(img, mode="L").save(d / f"class{cls}" / f"{k}.png")
    return d


def test_image_folder_source_loads_real_pngs(png_folder, capsys):
    (x, y), (xt, yt) = data_lib.load_data({"source": str(png_folder), "image_size": [8, 8],
                                           "test_fraction": 0.2})
    assert x.shape[1:] == (8, 8, 3) and len(x) + len(xt) == 30
    assert x.dtype == np.float32 and 0.0 <= x.min() and x.max() <= 1.0 and x.max() > 0.5
    assert set(np.unique(np.concatenate([y, yt]))) == {0, 1, 2}
    assert "Found" not in capsys.readouterr().out
    m = keras.Sequential([keras.Input((8, 8, 3)), keras.layers.Flatten(),
                          keras.layers.Dense(3, name="out")])
    data_lib.check_input(m, x, y, source="data (train)")


def test_image_folder_with_a_broken_file_is_named(png_folder, tmp_path):
    import shutil

    d = tmp_path / "imgs"
    shutil.copytree(png_folder, d)
    (d / "class0" / "0.png").write_bytes(b"\x89PNG\r\n\x1a\n broken")
    with pytest.raises(errors.ConfigError, match="cannot be read as an image"):
        data_lib.load_data({"source": str(d), "image_size": [8, 8]})
    with pytest.raises(errors.ConfigError, match="data.image_size"):
        data_lib.load_data({"source": str(d)})
