"""Re-referencing a one-composition model's atomrefs: its own molecule unchanged, other molecules near GFN2-xTB."""

import numpy as np
import pytest

from mlcalc import MLCalc
from mlcalc.atomref import rereferenced
from mlcalc.data.molecules import load_molecule
from mlcalc.modelfile import read_manifest
from mlcalc.named_models import resolve_model_path
from mlcalc.data.structure_files import file_sha256
from mlcalc.potentials.training.rereference import rereference_model


def test_rereferenced_keeps_the_training_sums_and_moves_towards_the_start():
    ethanol = load_molecule("ethanol")
    old = {1: -45.3, 6: -15.1, 8: -7.55}  # minimum norm: proportional to the counts 6, 2, 1
    start = {1: -11.7, 6: -50.0, 8: -104.0}
    new = rereferenced(old, [ethanol], start)
    counts = {z: int(np.count_nonzero(ethanol.numbers == z)) for z in old}
    assert sum(counts[z] * new[z] for z in old) == pytest.approx(sum(counts[z] * old[z] for z in old), abs=1e-9)
    assert all(abs(new[z] - start[z]) < abs(old[z] - start[z]) for z in old)


def _minimum_norm_copy(name, path):
    """The shipped energy model ``name`` with minimum-norm atomrefs (as trained on one composition) in ``path``."""
    from mlcalc.modelfile import load_model, save_model

    model, manifest = load_model(resolve_model_path(name))
    record = manifest["normalisation"].get("atomref") or {}
    previous = record.get("rereferenced_from_eV") or manifest["normalisation"]["atomref_eV"]
    model.set_atomref({int(z): e for z, e in previous.items()})
    normalisation = {k: v for k, v in manifest["normalisation"].items() if k != "atomref"}
    normalisation["atomref_eV"] = previous
    return save_model(path, model, normalisation=normalisation, data=manifest["data"])


def test_rereferencing_keeps_ethanol_and_forces_and_fixes_propanol(tmp_path):
    pytest.importorskip("tblite")
    from mlcalc.named_calculators import get_calculator

    before = _minimum_norm_copy("ethanol-bpnn", tmp_path / "minimum-norm.mlc")
    path = rereference_model(before, ["ethanol"], out=tmp_path / "bpnn.mlc")
    old, new = MLCalc.load(before, dtype="float64"), MLCalc.load(path, dtype="float64")
    ethanol = load_molecule("ethanol")
    assert new.get_potential_energy(ethanol) == pytest.approx(old.get_potential_energy(ethanol), abs=1e-6)
    propanol = load_molecule("n-propanol")
    np.testing.assert_allclose(new.get_forces(propanol), old.get_forces(propanol), atol=1e-9)
    xtb = get_calculator("gfn2-xtb").get_potential_energy(propanol)
    assert abs(old.get_potential_energy(propanol) - xtb) > 10  # minimum-norm atomrefs: eV off
    # the atomrefs alone now land near GFN2-xTB's energy of a new composition (the network adds its own error)
    sums = [float(sum(calc.model.atomref[z] for z in propanol.numbers)) for calc in (old, new)]
    assert abs(sums[0] - xtb) > 10 and abs(sums[1] - xtb) < 1.5
    assert abs(new.get_potential_energy(propanol) - xtb) < 0.5 * abs(old.get_potential_energy(propanol) - xtb)
    record = read_manifest(path)["normalisation"]["atomref"]
    assert record["method"] == "isolated_atoms" and record["trained_on"] == ["C2H6O"]
    assert record["rereferenced_from_sha256"] == file_sha256(before)
    with pytest.raises(ValueError, match="does not know"):
        rereference_model(before, ["uracil"], out=tmp_path / "x.mlc")


@pytest.mark.parametrize("name", ["ethanol-bpnn", "ethanol-et", "ethanol-tensornet"])
def test_shipped_ethanol_models_are_rereferenced(name, tmp_path):
    """The shipped models' energy of a new C/H/O molecule is far nearer GFN2-xTB's than with minimum-norm atomrefs."""
    pytest.importorskip("tblite")
    from mlcalc.named_calculators import get_calculator

    record = read_manifest(resolve_model_path(name))["normalisation"]["atomref"]
    assert record["method"] == "isolated_atoms" and record["trained_on"] == ["C2H6O"]
    ether = load_molecule("methyl-ethyl-ether")
    xtb = get_calculator("gfn2-xtb").get_potential_energy(ether.copy())
    shipped = MLCalc.load(name, dtype="float64").get_potential_energy(ether.copy()) - xtb
    minimum_norm = MLCalc.load(_minimum_norm_copy(name, tmp_path / "m.mlc"), dtype="float64")
    assert abs(shipped) < 0.5 * abs(minimum_norm.get_potential_energy(ether.copy()) - xtb)


def test_a_study_keeps_the_md_of_the_model_a_rereferenced_one_was_made_from(tmp_path):
    """study.json made with the minimum-norm file: the re-referenced file (same forces) is accepted, another is not."""
    from mlcalc.errors import OutputExistsError
    from mlcalc.analysis.transfer.study_folder import check_same_study
    from mlcalc.analysis.transfer.config import TransferConfig

    before = _minimum_norm_copy("ethanol-bpnn", tmp_path / "minimum-norm.mlc")
    after = rereference_model(before, ["ethanol"], out=tmp_path / "rereferenced.mlc")
    out = tmp_path / "study"
    (out / "md").mkdir(parents=True)
    config = TransferConfig.model_validate({"name": "s", "source": {"molecule": "ethanol", "model": str(before)},
                                            "targets": ["n-propanol"], "compare": ["C-C"], "out_dir": str(out)})
    check_same_study(config, out, before)
    check_same_study(config, out, after)
    with pytest.raises(OutputExistsError, match="another model_sha256"):
        check_same_study(config, out, resolve_model_path("ethanol-et"))
