"""``mlcalc models`` shows every shipped model's headline test error; ``mlcalc info`` prints the command that made
a model (its recipe), from the records of its manifest."""

import re
import shlex

import pytest
from click.testing import CliRunner

from mlcalc.cli import main
from mlcalc.cli.recipe import CONFIGS, headline_metric, recipe
from mlcalc.yaml_config import dotted_leaves
from mlcalc.modelfile import read_manifest, save_model
from mlcalc.named_models import available_models, resolve_model_path
from mlcalc.testing import tiny_potential


def test_models_lists_a_headline_error_for_every_shipped_model():
    listing = CliRunner().invoke(main, ["models"])
    assert listing.exit_code == 0, listing.output
    lines = {line.split()[0]: line for line in listing.output.splitlines()}
    assert sorted(lines) == available_models()
    for name, line in lines.items():
        assert re.search(r"MAE [0-9.]+ \S+ \(\d+ test (frames|structures)\)$", line), line
    assert "force MAE 6.5 meV/Å (200 test frames)" in lines["ethanol-et"]
    assert "homo MAE 0.0641 eV (5000 test structures)" in lines["qm9-homo"]
    assert "zpve MAE 0.00277 eV" in lines["qm9-zpve"]


@pytest.mark.parametrize("name", available_models())
def test_the_recipe_of_each_shipped_model_remakes_its_recorded_config(name):
    from mlcalc.potentials.training.config import load_config

    manifest = read_manifest(resolve_model_path(name), verify=False)
    command = recipe(manifest)
    words = shlex.split(command)
    assert words[:2] == ["mlcalc", "train"] and words[2].startswith("configs/"), command
    overrides = dict(word.split("=", 1) for word in words[4::2])
    assert words[3::2] == ["--set"] * len(overrides)
    import yaml

    remade = dotted_leaves(load_config(CONFIGS.parent / words[2], {k: yaml.safe_load(v) for k, v in overrides.items()})
                   .model_dump(mode="json"))
    recorded = dotted_leaves(manifest["training"])
    for key in recorded.keys() & remade.keys():
        if not key.startswith(("name", "out_dir", "progress", "data.generate.")):
            assert remade[key] == recorded[key], (name, key)


def test_info_prints_the_recipe():
    result = CliRunner().invoke(main, ["info", "ethanol-et"])
    assert result.exit_code == 0, result.output
    assert result.output.splitlines()[-1] == "recipe: mlcalc train configs/ethanol_et.yaml --set optim.max_minutes=54.0"


def test_recipes_of_imported_finetuned_and_unrecorded_models(tmp_path):
    assert recipe({"foundation": {"package": "sevenn", "checkpoint": "SevenNet-0"}}) == \
        "mlcalc import sevenn:SevenNet-0 --out FILE.mlc"
    finetuned = {"finetune": {"mode": "scratch", "parent": {"name": "ethanol-bpnn", "path": "/x/ethanol-bpnn.mlc"},
                              "frames": {"count": 10, "sha256": "ab" * 32, "source": "propanol.extxyz"},
                              "settings": {"steps": 300, "lr": 0.001, "batch_size": 16, "seed": 0}}}
    assert recipe(finetuned).startswith("mlcalc finetune ethanol-bpnn FRAMES --k 10 --steps 300 --lr 0.001 "
                                        "--batch-size 16 --seed 0 --out DIR --scratch   (FRAMES: propanol.extxyz")
    training = read_manifest(resolve_model_path("ethanol-et"), verify=False)["training"]
    other = {**training, "model": {**training["model"], "cutoff": 4.5}}   # no config has this model
    assert recipe({"training": other}).startswith("mlcalc train CONFIG, with the training config recorded")
    assert recipe({"training": training}, configs=tmp_path / "none") .startswith("mlcalc train CONFIG")
    bare = save_model(tmp_path / "m.mlc", tiny_potential())           # no record of how it was made
    assert recipe(read_manifest(bare)) is None
    result = CliRunner().invoke(main, ["info", str(bare)])
    assert result.exit_code == 0 and "recipe:" not in result.output
    assert headline_metric(read_manifest(bare)) == ""
