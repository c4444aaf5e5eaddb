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
    ("export: {micro: {compress: gzip}}", r"'export.micro'"),
    ("export: {micro: {arena: 0}}", r"'export.micro'"),
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


@pytest.mark.parametrize("text, match", [
    (BASE + "prune: {sparsity: 0.5}\nprune: {sparsity: 0.9}\n",
     r"key 'prune' is written twice \(line 3 and line 4\)"),
    (BASE + "prune: {sparsity: 0.5, epochs: 2, sparsity: 0.9}\n",
     r"key 'sparsity' is written twice \(line 3 and line 3\)"),
    ("model: demo_cnn\nmodel: other.keras\ndata: {source: digits}\n",
     r"key 'model' is written twice \(line 1 and line 2\)"),
])
def test_duplicate_keys_are_refused_naming_key_and_line(text, match):
    with pytest.raises(errors.ConfigError, match=match):
        recipes.load_recipe_text(text)


def test_merge_keys_may_override():
    text = BASE + "base: &b {sparsity: 0.5, epochs: 2}\n"
    with pytest.raises(errors.ConfigError, match="'base' is not a known key"):
        recipes.load_recipe_text(text)  # merges are parsed (not a duplicate), then validated
    text = BASE + "prune:\n  <<: {sparsity: 0.5, epochs: 2}\n  sparsity: 0.8\n"
    assert recipes.load_recipe_text(text)["prune"] == {"sparsity": 0.8, "epochs": 2}


@pytest.mark.parametrize("name, why", [
    ("../../escaped", "holds '..'"), ("/abs/path", "absolute path"), ('"x\\0y"', "NUL byte"),
    ('"~/x"', "absolute path"), ('"a/./.."', "holds '..'"), ('" "', "names no folder"),
])
def test_run_names_are_refused_in_the_recipe(name, why):
    with pytest.raises(errors.ConfigError, match=f"key 'name' .*{re.escape(why)}"):
        recipes.load_recipe_text(BASE + f"name: {name}\n")


def test_local_mlflow_stores_stay_under_the_current_folder(monkeypatch):
    monkeypatch.setattr(recipes, "capabilities", lambda: {})
    for uri in ("file:///etc/mlruns", "sqlite:////tmp/x.db", "../mlruns", "/abs"):
        with pytest.raises(errors.ConfigError, match="local MLflow store"):
            recipes.load_recipe_text(BASE + f"mlflow: {{tracking_uri: '{uri}'}}\n")
    for uri in ("mlruns", "sqlite:///mlflow.db", "http://127.0.0.1:5000", "databricks"):
        assert recipes.load_recipe_text(BASE + f"mlflow: {{tracking_uri: '{uri}'}}\n")



def test_micro_export_options_from_a_recipe():
    r = recipes.load_recipe_text(BASE + "export: {micro: {compress: huffman, arena: 65536}}")
    assert recipes.micro_options(r["export"]["micro"]) == {"compress": "huffman", "arena": 65536}
    r = recipes.load_recipe_text(BASE + "export: {micro: true}")
    assert recipes.micro_options(r["export"]["micro"]) == {"compress": None, "arena": None}
