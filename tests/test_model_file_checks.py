"""Model files that are what they say: checksums, truncation, manifests checked against the weights,
non-finite weights and predictions refused with one line naming the file or the structure."""

import json
import re
import struct
from pathlib import Path

import numpy as np
import pytest
import torch
from ase import Atoms
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.cli import main
from mlcalc.data import load_molecule
from mlcalc.evaluation import ImplausiblePredictionError
from mlcalc.evaluators import NonFinitePredictionError
from mlcalc.modelfile import (ModelFileError, load_model, read_manifest, read_model_file, save_model,
                              weights_sha256, write_model_file)
from mlcalc.named_models import available_models, resolve_model_path
from mlcalc.testing import tiny_potential, tiny_property_model


@pytest.fixture
def saved(tmp_path):
    return save_model(tmp_path / "tiny.mlc", tiny_potential("torchmdnet-et", elements=(1, 6, 8), seed=2))


def _header(path):
    raw = path.read_bytes()
    (n,) = struct.unpack("<Q", raw[:8])
    return json.loads(raw[8:8 + n]), raw[8 + n:]


def _edit_manifest(path, edit, out):
    """A hand edit of the manifest inside the header; the weights' bytes and the stored checksum stay as they were."""
    header, data = _header(path)
    manifest = json.loads(header["__metadata__"]["manifest"])
    edit(manifest)
    header["__metadata__"]["manifest"] = json.dumps(manifest, sort_keys=True)
    text = json.dumps(header).encode()
    text += b" " * (-len(text) % 8)
    out.write_bytes(struct.pack("<Q", len(text)) + text + data)
    return out


def _one_line(err) -> str:
    message = str(err.value)
    assert "\n" not in message, message
    return message


def test_save_stores_the_weights_checksum_and_load_checks_it(saved):
    manifest, weights = read_model_file(saved)
    assert re.fullmatch("[0-9a-f]{64}", manifest["weights_sha256"])
    assert manifest["weights_sha256"] == weights_sha256(weights)


@pytest.mark.parametrize("name", available_models())
def test_the_shipped_models_carry_a_verified_checksum(name):
    manifest = read_manifest(resolve_model_path(name))
    assert re.fullmatch("[0-9a-f]{64}", manifest["weights_sha256"])


def _strings(value):
    """Every string in a manifest (keys and values, nested)."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield str(key)
            yield from _strings(item)
    elif isinstance(value, list):
        for item in value:
            yield from _strings(item)
    elif isinstance(value, str):
        yield value


@pytest.mark.parametrize("name", available_models())
def test_the_shipped_manifests_carry_no_local_paths(name):
    """A shipped file says where its data came from, never a folder of the machine that trained it."""
    import os

    from mlcalc.data.cache import cache_dir

    local = ("/root", "/home", "/tmp", "/work", "/Users", "~", str(cache_dir()), os.path.expanduser("~"))
    found = [s for s in _strings(read_manifest(resolve_model_path(name), verify=False))
             if any(place in s for place in local) or Path(s).is_absolute()]
    assert not found, found


def test_qm9_records_its_source_without_a_folder(qm9_cache):
    from mlcalc.data.qm9 import load_qm9

    source = load_qm9(cache=qm9_cache).source
    assert source.startswith("qm9pack ") and "/" not in source and str(qm9_cache) not in source


@pytest.mark.parametrize("keep", [0.5, 0.99])
def test_a_truncated_file_is_refused_by_load_manifest_and_info(saved, tmp_path, keep):
    raw = saved.read_bytes()
    cut = tmp_path / "cut.mlc"
    cut.write_bytes(raw[:int(len(raw) * keep)])
    for read in (load_model, read_manifest, lambda p: read_manifest(p, verify=False)):
        with pytest.raises(ModelFileError) as err:
            read(cut)
        assert re.search(r"cut\.mlc is truncated: \d+ bytes, its header describes \d+", _one_line(err))
    result = CliRunner().invoke(main, ["info", str(cut)])
    assert result.exit_code != 0 and "truncated" in result.output and "kind:" not in result.output


@pytest.mark.parametrize("where", [0.3, 0.8, -1])
def test_a_flipped_byte_in_the_weights_breaks_the_checksum(saved, tmp_path, where):
    raw = bytearray(saved.read_bytes())
    (n,) = struct.unpack("<Q", raw[:8])
    k = 8 + n + int((len(raw) - 8 - n) * where) if where >= 0 else len(raw) - 1
    raw[k] ^= 0x01
    bad = tmp_path / "flipped.mlc"
    bad.write_bytes(bytes(raw))
    with pytest.raises(ModelFileError) as err:
        MLCalc.load(bad)
    assert "flipped.mlc: the weights do not match the checksum" in _one_line(err)
    result = CliRunner().invoke(main, ["info", str(bad)])
    assert result.exit_code != 0 and "checksum" in result.output


def test_a_file_without_a_checksum_still_loads_silently(saved, tmp_path, recwarn):
    old = _edit_manifest(saved, lambda m: m.pop("weights_sha256"), tmp_path / "old.mlc")
    model, manifest = load_model(old)
    assert "weights_sha256" not in manifest and not [w for w in recwarn if "checksum" in str(w.message)]
    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc(model)
    assert np.isfinite(atoms.get_potential_energy())


def _set_hp(**values):
    def edit(manifest):
        manifest["hyperparameters"].update(values)
    return edit


def _add_silicon(manifest):
    manifest["elements"] = manifest["hyperparameters"]["elements"] = [1, 6, 8, 14]


def _swap_oxygen_for_silicon(manifest):
    manifest["elements"] = manifest["hyperparameters"]["elements"] = [1, 6, 14]


EDITS = [
    ("add-silicon", _add_silicon, r"elements Si \(model\): the manifest lists C, H, O, Si but the weights hold "
                                  r"reference energies for C, H, O"),
    ("swap-for-silicon", _swap_oxygen_for_silicon, r"elements O, Si"),
    ("top-level-elements-only", lambda m: m.update(elements=[1, 6, 8, 14]),
     r"manifest field elements \(\[1, 6, 8, 14\]\) disagrees"),
    ("top-level-cutoff", lambda m: m.update(cutoff=6.0), r"field cutoff \(6\.0\) disagrees with its hyperparameters"),
    ("wider-layers", _set_hp(hidden_channels=32), r"other shapes, e\.g\. .* is \[\d+(, \d+)*\] in the file but"),
    ("more-layers", _set_hp(num_layers=3), r"weights do not match a 'torchmdnet-et' model .*missing: "),
    ("terabytes", _set_hp(hidden_channels=2 ** 20, num_heads=2), r"describe a model larger than its weights"),
    ("string-size", _set_hp(hidden_channels="16"), r"hidden_channels of 'torchmdnet-et' must be int, got '16'"),
    ("bool-size", _set_hp(num_layers=True), r"num_layers of 'torchmdnet-et' must be int, got True"),
    ("misspelt", _set_hp(num_layerz=2), r"num_layerz unknown to kind 'torchmdnet-et'; it takes: activation"),
    ("nan-cutoff", _set_hp(cutoff=float("nan")), r"cutoff of 'torchmdnet-et' is nan"),
    ("unknown-kind", lambda m: m.update(kind="torchmdnet-xx"), r"unknown model kind 'torchmdnet-xx'; known kinds"),
]


@pytest.mark.parametrize("edit, pattern", [e[1:] for e in EDITS], ids=[e[0] for e in EDITS])
def test_an_edited_manifest_is_refused_before_the_model_answers(saved, tmp_path, edit, pattern):
    edited = _edit_manifest(saved, edit, tmp_path / "edited.mlc")
    with pytest.raises(ModelFileError) as err:
        MLCalc.load(edited)
    message = _one_line(err)
    assert message.startswith(f"{edited}: ") and re.search(pattern, message), message


def test_an_edited_member_of_a_composite_is_refused(tmp_path):
    path = save_model(tmp_path / "sum.mlc", tiny_potential("sum"))
    edited = _edit_manifest(path, lambda m: m["hyperparameters"]["members"][1]["hyperparameters"].update(
        num_rbf="8"), tmp_path / "edited.mlc")
    with pytest.raises(ModelFileError, match=r"members\[1\]: hyperparameter num_rbf of 'torchmdnet-et' must be int"):
        load_model(edited)


@pytest.mark.parametrize("value", [float("nan"), float("inf")])
def test_non_finite_weights_are_refused_at_load(tmp_path, value):
    model = tiny_property_model("schnet")
    weights = model.state_dict()
    name = sorted(k for k, v in weights.items() if v.is_floating_point())[3]
    weights[name] = weights[name].clone()
    weights[name].view(-1)[0] = value
    manifest = read_manifest(save_model(tmp_path / "ok.mlc", model))
    bad = write_model_file(tmp_path / "nan.mlc", manifest, weights)  # a valid checksum of bad weights
    with pytest.raises(ModelFileError) as err:
        load_model(bad)
    assert f"nan.mlc: weights {name} hold NaN or infinite values" in _one_line(err)


def _overflowing_calc() -> MLCalc:
    """A float32 potential whose energy overflows to inf for two or more carbon atoms."""
    model = tiny_potential("torchmdnet-et", elements=(1, 6, 8))
    model.set_atomref({1: -1.0, 6: 3e38, 8: -8.0})
    return MLCalc(model, dtype="float32")


def test_a_non_finite_prediction_names_the_structure():
    atoms = load_molecule("ethanol")
    atoms.calc = _overflowing_calc()
    with pytest.raises(NonFinitePredictionError) as err:
        atoms.get_potential_energy()
    assert "infinite energy, free_energy for the structure (C2H6O, 9 atoms)" in _one_line(err)
    assert atoms.calc.results == {}


def test_a_non_finite_prediction_in_a_batch_names_its_index():
    water = Atoms("H2O", positions=[[0, 0, 0], [0.96, 0, 0], [-0.24, 0.93, 0]])
    methane = Atoms("CH4", positions=[[0, 0, 0], [0.63, 0.63, 0.63], [-0.63, -0.63, 0.63], [-0.63, 0.63, -0.63],
                                      [0.63, -0.63, -0.63]])
    calc = _overflowing_calc()
    assert np.isfinite(calc.predict([water, water, water])["energy"]).all()
    with pytest.raises(NonFinitePredictionError) as err:
        calc.predict([water, water, water, load_molecule("ethanol")], batch_size=3)
    assert "for structure 3 (C2H6O, 9 atoms)" in _one_line(err)
    with pytest.raises(ImplausiblePredictionError, match=r"3e\+38 eV .* for structure 1 \(CH4, 5 atoms\)"):
        calc.predict([water, methane, water])  # finite, but no real structure has 6e37 eV per atom
