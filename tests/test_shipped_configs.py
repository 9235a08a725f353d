"""Every YAML config in configs/ loads with the schema of the command that runs it."""

from pathlib import Path

import pytest

from mlcalc.analysis.transfer.config import load_transfer_config
from mlcalc.potentials.training.config import load_config
from mlcalc.potentials.training.tune_config import load_tune_config

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.yaml")), ids=lambda p: p.name)
def test_config_loads_with_its_commands_schema(path):
    if path.name.startswith("transfer_"):
        config = load_transfer_config(path)
        if config.source.train_config is not None:  # the source's training config ships too
            assert load_config(CONFIGS.parent / config.source.train_config).name
        assert config.name and config.targets
    elif path.name.startswith("broad_"):
        from mlcalc.potentials.training.broad_set import BroadSetSettings
        from mlcalc.yaml_config import load_yaml_config

        assert load_yaml_config(path, BroadSetSettings).molecules > 0
    elif path.name.startswith("tune_"):
        tune = load_tune_config(path)
        assert load_config(CONFIGS.parent / tune.train, tune.overrides).name  # the config each trial trains
    else:
        assert load_config(path).name


@pytest.mark.parametrize("path", sorted(CONFIGS.glob("*.smi")), ids=lambda p: p.name)
def test_smiles_file_reads_every_line_as_a_neutral_closed_shell_molecule(path):
    pytest.importorskip("rdkit")
    from mlcalc.data.smiles_molecules import parse_smiles_entry, read_smiles_file

    entries = read_smiles_file(path)
    canonical = [parse_smiles_entry(entry).canonical for entry in entries]
    assert len(set(canonical)) == len(canonical), "a molecule is listed twice"
