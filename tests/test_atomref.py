"""Atom reference energies: isolated atoms of the reference method, the rank test, training on one
molecule with them, and energy errors with and without the constant offset."""

import logging

import numpy as np
import pytest
from ase.build import molecule
from ase.calculators.singlepoint import SinglePointCalculator

from mlcalc.atomref import choose_atomref, composition_rank, fit_atomref
from mlcalc.data.molecules import load_molecule
from mlcalc.errors import MLCalcError


def _labelled(atoms, energy):
    atoms = atoms.copy()
    atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=np.zeros((len(atoms), 3)))
    return atoms


@pytest.fixture
def ethanols():
    """Five ethanols (one composition) with made-up total energies (eV)."""
    return [_labelled(load_molecule("ethanol"), -310.0 + 0.1 * k) for k in range(5)]


def test_isolated_atoms_are_in_their_ground_spin_state():
    pytest.importorskip("tblite")
    from mlcalc.data.isolated_atoms import ground_state_multiplicity, isolated_atom, isolated_atom_energies

    assert [ground_state_multiplicity(z) for z in (1, 6, 7, 8, 9, 16)] == [2, 3, 4, 3, 2, 3]
    energies = isolated_atom_energies("GFN2-xTB", [8, 1, 6, 1])
    assert list(energies) == [1, 6, 8]
    assert energies[1] == pytest.approx(-11.6817, abs=1e-3)  # spin-polarised H; -10.707 eV without
    assert energies[8] == isolated_atom("GFN2-xTB", 8, 3)
    assert energies[8] < isolated_atom("GFN2-xTB", 8, 1) - 1.0  # Hund: the triplet O is 1.5 eV below the singlet
    assert energies[6] < isolated_atom("GFN2-xTB", 6, 1) - 1.0
    assert isolated_atom_energies("gfn1-xtb", [1])[1] != energies[1]
    with pytest.raises(MLCalcError, match="known: gfn2-xtb, xtb, gfn1-xtb"):
        isolated_atom_energies("dft", [1])


def test_closed_shell_molecules_are_unchanged_by_spin_polarisation():
    """The atoms' method is the molecules' method: spin polarisation only acts on open shells."""
    pytest.importorskip("tblite")
    from mlcalc.data.xtb import xtb_calculator

    atoms = load_molecule("ethanol")
    atoms.calc = xtb_calculator()
    plain = atoms.get_potential_energy()
    atoms.calc = xtb_calculator(spin_polarization=1.0)
    assert atoms.get_potential_energy() == pytest.approx(plain, abs=1e-8)


def test_rank_test_picks_the_method(ethanols, caplog):
    pytest.importorskip("tblite")
    assert composition_rank(ethanols) == ([1, 6, 8], 1)
    refs, record = choose_atomref(ethanols, "auto", "gfn2-xtb")
    assert record["method"] == "isolated_atoms" and record["rank"] == 1
    assert set(record["isolated_atom_eV"]) == {"1", "6", "8"}
    with caplog.at_level(logging.WARNING, logger="mlcalc.atomref"):
        _, unknown = choose_atomref(ethanols, "auto", None)
    assert unknown["method"] == "least_squares" and "reference method is unknown" in caplog.text
    assert choose_atomref(ethanols, "auto", "dft")[1]["method"] == "least_squares"  # e.g. a file's own label
    assert "'dft', which has no isolated-atom energies" in caplog.text
    with pytest.raises(ValueError, match="data.reference"):
        choose_atomref(ethanols, "isolated_atoms", None)
    spanning = [*ethanols, _labelled(molecule("CH4"), -114.0), _labelled(molecule("H2O"), -137.0)]
    refs_auto, record = choose_atomref(spanning, "auto", "gfn2-xtb")
    assert record == {"method": "least_squares", "reference": "gfn2-xtb", "elements": [1, 6, 8], "rank": 3}
    refs_atoms, _ = choose_atomref(spanning, "isolated_atoms", "gfn2-xtb")  # determined: the same solution
    assert refs_atoms == pytest.approx(refs_auto, abs=1e-8)
    with pytest.raises(ValueError, match="auto, least_squares, isolated_atoms"):
        choose_atomref(spanning, "mean")


def test_least_squares_nearest_to_a_start(ethanols):
    start = {1: -11.7, 6: -50.0, 8: -104.0}
    refs = fit_atomref(ethanols, start=start)
    counts = np.array([6, 2, 1])  # H, C, O
    shift = np.array([refs[z] - start[z] for z in (1, 6, 8)])
    mean = np.mean([a.get_potential_energy() for a in ethanols])
    assert counts @ np.array([refs[z] for z in (1, 6, 8)]) == pytest.approx(mean)  # fits the mean energy
    np.testing.assert_allclose(shift / shift[0], counts / counts[0])  # the smallest change: along the counts
    plain = fit_atomref(ethanols)
    assert plain[1] == pytest.approx(mean * 6 / 41)  # minimum norm: the total spread by count


def test_one_molecule_training_transfers_with_isolated_atoms(tmp_path, xtb_frames, trained_tiny_model):
    """A tiny ET trained on ethanol only: its n-propanol and methanol energies are off by ~20 eV with
    least-squares atomrefs, and by about 1 eV with the GFN2-xTB isolated atoms (frames say gfn2-xtb). The
    isolated-atom model is the session's ``trained_tiny_model`` (the same network and frames, atomref auto)."""
    from mlcalc import MLCalc
    from mlcalc.potentials.training.config import TrainConfig
    from mlcalc.data.xtb import xtb_calculator
    from mlcalc.potentials.training import train

    targets = [load_molecule("n-propanol"), molecule("CH3OH")]
    reference = []
    for atoms in targets:
        atoms.calc = xtb_calculator()
        reference.append(atoms.get_potential_energy())
    config = TrainConfig.model_validate({
        "name": "least_squares", "seed": 0,
        "data": {"path": xtb_frames, "train": 36, "val": 6, "test": 6, "atomref": "least_squares"},
        "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                  "hyperparameters": {"hidden_channels": 32, "num_layers": 1, "num_rbf": 16, "num_heads": 2}},
        "optim": {"epochs": 30, "batch_size": 4, "lr": 5e-3}, "out_dir": tmp_path / "least_squares",
        "progress": False})
    errors, manifests = {}, {}
    for method, path in (("least_squares", train(config).model_path), ("auto", trained_tiny_model)):
        calc = MLCalc.load(path, dtype="float64")
        manifests[method] = calc.manifest["normalisation"]["atomref"]
        errors[method] = np.array([calc.predict([a.copy()])["energy"][0] - e for a, e in zip(targets, reference)])
    assert manifests["least_squares"]["method"] == "least_squares"
    assert manifests["auto"]["method"] == "isolated_atoms" and manifests["auto"]["reference"] == "gfn2-xtb"
    assert np.abs(errors["least_squares"]).min() > 10.0, errors
    assert np.abs(errors["auto"]).max() < 3.0, errors


def test_model_errors_report_the_offset():
    from mlcalc.analysis.model_errors import model_errors

    frames = [_labelled(load_molecule("ethanol"), e) for e in (-310.0, -309.5, -309.8, -310.2)]
    noise = np.array([0.01, -0.02, 0.03, -0.02])  # eV, mean 0
    predicted = {"energy": np.array([a.get_potential_energy() for a in frames]) + 2.0 + noise,
                 "forces": [np.full((9, 3), 0.1) for _ in frames]}
    errors = model_errors(None, frames, predicted=predicted)
    assert errors["energy_offset_meV"] == pytest.approx(2000.0)
    assert errors["energy_mae_meV"] == pytest.approx(2000.0, abs=30)
    assert errors["energy_mae_offset_removed_meV"] == pytest.approx(np.abs(noise).mean() * 1000)
    assert errors["energy_mae_offset_removed_meV_per_atom"] == pytest.approx(np.abs(noise).mean() * 1000 / 9)
    assert errors["forces_mae_meV_per_A"] == pytest.approx(100.0)


def test_config_options_are_checked(tmp_path):
    import yaml

    from mlcalc.potentials.training.config import load_config

    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"name": "x", "data": {"path": str(tmp_path / "d.extxyz"), "train": 2, "val": 1},
                                    "model": {"kind": "bpnn", "cutoff": 4.0}, "out_dir": str(tmp_path / "run")}))
    assert load_config(path).data.atomref == "auto" and load_config(path).data.reference is None
    with pytest.raises(ValueError, match="data.atomref.*'auto', 'least_squares' or 'isolated_atoms'"):
        load_config(path, {"data.atomref": "mean"})
    with pytest.raises(ValueError, match="data.reference.*'gfn2-xtb' or 'gfn1-xtb'"):
        load_config(path, {"data.reference": "dft"})


def test_kernel_model_takes_the_nearest_solution_and_fits_the_same():
    pytest.importorskip("dscribe")
    from ase.calculators.emt import EMT

    from mlcalc import MLCalc
    from mlcalc.potentials.training.kernel_fit import EnergyKernelFit, fit_kernel_energy_model

    frames = []
    for k in range(12):
        atoms = load_molecule("ethanol")
        atoms.rattle(0.05, seed=k)
        atoms.calc = EMT()
        frames.append(_labelled(atoms, atoms.get_potential_energy()))
    start = {1: -11.7, 6: -50.0, 8: -104.0}
    soap = {"name": "soap", "r_cut": 4.0, "n_max": 2, "l_max": 1}
    plain = fit_kernel_energy_model(frames, EnergyKernelFit(descriptor=soap, alpha=1e-8))
    near = fit_kernel_energy_model(frames, EnergyKernelFit(descriptor=soap, alpha=1e-8, atomref_start=start))
    expected = fit_atomref(frames, start=start)
    assert [float(near.atomref[z]) for z in (1, 6, 8)] == pytest.approx([expected[z] for z in (1, 6, 8)], abs=1e-4)
    assert float(near.atomref[1]) != pytest.approx(float(plain.atomref[1]), abs=1.0)
    np.testing.assert_allclose(MLCalc(near, dtype="float64").predict(frames)["energy"],
                               MLCalc(plain, dtype="float64").predict(frames)["energy"], atol=1e-4)  # float32 atomrefs
