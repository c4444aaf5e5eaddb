import re
from pathlib import Path

import pytest

from tfprune import errors
from tfprune.app import recipes

ROOT = Path(__file__).resolve().parents[2] / "configs"
BASE = "model: demo_cnn\ndata: {source: digits}\n"


@pytest.mark.parametrize("extra, match", [
    ("prune: {learning_rate: .nan}", r"'prune.learning_rate': nan is not a finite number"),
    ("prune: {ramp_fraction: .nan}", r"'prune.ramp_fraction': nan is not a finite"),
    ("train: {learning_rate: .inf}", r"'train.learning_rate': inf is not a finite"),
    ("seed: -1", r"'seed': -1 is less than the minimum of 0"),
    ("prune: {sparsity: 1.0}", r"'prune.sparsity'"),
    ("prune: {sparsity: true}", r"'prune.sparsity': True is not of type 'number'"),
    ("prune: {epochs: 2.5}", r"'prune.epochs'"),
    ("prune: {granularity: channels}", r"'prune.granularity'"),
    ("prun: {}", r"'prun' is not a known key. Did you mean 'prune'\?"),
    ("prune: {sparsty: 0.5}", r"'prune.sparsty' is not a known key. Did you mean 'sparsity'\?"),
    ("export: {tflite: [float, float]}", r"'export.tflite'"),
])
def test_bad_run_recipes_are_refused_naming_the_key(extra, match):
    with pytest.raises(errors.ConfigError, match=match):
        recipes.load_recipe_text(BASE + extra)


def test_required_keys():
    with pytest.raises(errors.ConfigError, match="'data' is a required property"):
        recipes.load_recipe_text("model: demo_cnn")


def test_alias_bomb_refused_before_expansion():
    lines = ["a: &a [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, 9):
        p, c = chr(96 + i), chr(97 + i)
        lines.append(f"{c}: &{c} [{', '.join(['*' + p] * 9)}]")
    text = "\n".join(lines)  # 9**9 leaves if expanded
    with pytest.raises(errors.ConfigError, match="aliases"):
        recipes.load_recipe_text(BASE + "sensitivity:\n  " + text.replace("\n", "\n  "))


def test_few_aliases_are_fine():
    text = BASE + "prune: &p {sparsity: 0.5}\nreport: {plots: true}\n"
    assert recipes.load_recipe_text(text)["prune"] == {"sparsity": 0.5}


def test_size_limit(tmp_path):
    f = tmp_path / "big.yaml"
    f.write_text(BASE + "#" * (recipes.MAX_BYTES + 10))
    with pytest.raises(errors.ConfigError, match="larger than"):
        recipes.load_recipe(str(f))


def test_unsafe_yaml_tags_refused():
    with pytest.raises(errors.ConfigError, match="not valid YAML"):
        recipes.load_recipe_text(BASE + "name: !!python/object/apply:os.system ['true']")


def test_capability_not_installed_is_refused(monkeypatch):
    monkeypatch.setattr(recipes, "capabilities",
                        lambda: {"mlflow": "needs the optional MLflow extra: pip install "
                                           "'tfprune[mlflow]'"})
    with pytest.raises(errors.ConfigError, match=re.escape("pip install 'tfprune[mlflow]'")):
        recipes.load_recipe_text(BASE + "mlflow: {experiment: x}")


def test_shipped_recipes_are_valid():
    files = sorted(ROOT.glob("*.yaml"))
    assert len(files) >= 5
    caps = recipes.capabilities()
    for f in files:
        text = f.read_text()
        if text.lstrip().startswith("#") and "\nmodel:" not in text:
            assert isinstance(recipes.load_demo_recipe(str(f)), dict), f
            continue
        needs = [k for k in ("sensitivity", "sweep") if f"\n{k}:" in text]
        if any(caps[k] for k in needs):
            continue  # validated once the capability lands
        assert recipes.load_recipe(str(f))["model"], f
