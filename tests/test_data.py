"""Data: MD17/rMD17 npz (unit conversion), ASE formats, shipped molecules, GFN2-xTB reference MD."""

import ase.io
import numpy as np
import pytest
from ase.calculators.singlepoint import SinglePointCalculator
from ase.db import connect
from ase.units import kcal, mol

from mlcalc.data import MOLECULES, load_molecule, read_md17, read_structures


def _fake_md17(n=4, n_atoms=3, seed=0):
    rng = np.random.default_rng(seed)
    R = rng.normal(size=(n, n_atoms, 3)) * 2
    z = np.array([8, 1, 1][:n_atoms])
    E = rng.normal(size=(n, 1)) - 47000.0  # kcal/mol
    F = rng.normal(size=(n, n_atoms, 3)) * 30  # kcal/mol/Å
    return R, z, E, F


@pytest.mark.parametrize("layout", [("R", "z", "E", "F"), ("coords", "nuclear_charges", "energies", "forces")])
def test_md17_npz_converted_to_ev(tmp_path, layout):
    R, z, E, F = _fake_md17()
    path = tmp_path / "mol.npz"
    np.savez(path, **dict(zip(layout, (R, z, E, F))))
    frames = read_structures(path)
    assert len(frames) == 4
    ev_per_kcal_mol = kcal / mol
    assert ev_per_kcal_mol == pytest.approx(0.0433641, rel=1e-5)
    for k, atoms in enumerate(frames):
        assert atoms.get_chemical_symbols() == ["O", "H", "H"]
        np.testing.assert_allclose(atoms.positions, R[k])
        assert atoms.get_potential_energy() == pytest.approx(E[k, 0] * ev_per_kcal_mol)
        np.testing.assert_allclose(atoms.get_forces(), F[k] * ev_per_kcal_mol)
    assert len(read_structures(path, index="1:3")) == 2


def test_npz_with_wrong_keys_is_rejected(tmp_path):
    path = tmp_path / "other.npz"
    np.savez(path, positions=np.zeros((1, 2, 3)))
    with pytest.raises(ValueError, match=r"not an MD17/rMD17 file: it has keys \['positions'\]"):
        read_md17(path)


@pytest.mark.parametrize("suffix", ["extxyz", "traj", "db"])
def test_ase_formats_keep_energies_and_forces(tmp_path, suffix, ethanol, rng):
    frames = []
    for k in range(3):
        atoms = ethanol.copy()
        atoms.rattle(0.02, seed=k)
        atoms.calc = SinglePointCalculator(atoms, energy=-10.0 - k, forces=rng.normal(size=(len(atoms), 3)))
        frames.append(atoms)
    path = tmp_path / f"data.{suffix}"
    if suffix == "db":
        with connect(path) as db:
            for a in frames:
                db.write(a)
    else:
        ase.io.write(path, frames)
    back = read_structures(path)
    assert len(back) == 3
    for a, b in zip(frames, back):
        assert b.get_potential_energy() == pytest.approx(a.get_potential_energy())
        np.testing.assert_allclose(b.get_forces(), a.get_forces(), atol=1e-7)  # extxyz keeps ~8 decimals


def test_unreadable_file(tmp_path):
    path = tmp_path / "junk.extxyz"
    path.write_text("this is not xyz\n")
    with pytest.raises(ValueError, match="cannot read structures"):
        read_structures(path)
    with pytest.raises(FileNotFoundError):
        read_structures(tmp_path / "missing.xyz")


def test_shipped_molecules_are_sane():
    expected = {"ethanol": "C2H6O", "n-propanol": "C3H8O", "iso-propanol": "C3H8O", "methyl-ethyl-ether": "C3H8O",
                "uracil": "C4H4N2O2", "pyrimidine": "C4H4N2", "naphthalene": "C10H8"}
    assert set(MOLECULES) == set(expected)
    for name, formula in expected.items():
        atoms = load_molecule(name)
        assert atoms.get_chemical_formula(mode="hill") == formula
        d = atoms.get_all_distances()[np.triu_indices(len(atoms), 1)]
        assert 0.9 < d.min() < 1.2
    with pytest.raises(ValueError, match="unknown molecule 'butanol': give an XYZ file, smiles:SMILES"):
        load_molecule("butanol")


def test_a_molecule_from_its_smiles_has_the_bonds_it_says_and_one_geometry():
    pytest.importorskip("rdkit")
    from mlcalc.data.held_out import smiles_of_atoms

    quinoline = load_molecule("smiles:c1ccc2ncccc2c1")
    assert quinoline.get_chemical_formula(mode="hill") == "C9H7N"
    assert smiles_of_atoms(quinoline) == "c1ccc2ncccc2c1"
    d = quinoline.get_all_distances()[np.triu_indices(len(quinoline), 1)]
    assert 1.0 < d.min() < 1.15 and not quinoline.pbc.any()
    np.testing.assert_array_equal(load_molecule("smiles:c1ccc2ncccc2c1").positions, quinoline.positions)
    for bad, words in (("smiles:", "needs one SMILES"), ("smiles:C[NH3+]", "net charge of \\+1"),
                       ("smiles:c1cc(", "cannot parse")):
        with pytest.raises(ValueError, match=words):
            load_molecule(bad)


def test_xtb_reference_md_is_seeded_and_labelled(tmp_path):
    pytest.importorskip("tblite")
    from mlcalc.md import ReferenceSettings, generate_reference

    kwargs = dict(frames=3, temperature=500, timestep=0.5, thermalise=10, interval=4)
    a = generate_reference(load_molecule("ethanol"), ReferenceSettings(seed=7, **kwargs), out=tmp_path / "ref.extxyz",
                           progress=False)
    b = generate_reference(load_molecule("ethanol"), ReferenceSettings(seed=7, **kwargs), progress=False)
    c = generate_reference(load_molecule("ethanol"), ReferenceSettings(seed=8, **kwargs), progress=False)
    assert len(a) == 3
    np.testing.assert_allclose(a[-1].positions, b[-1].positions, atol=1e-8)
    assert np.abs(a[-1].positions - c[-1].positions).max() > 1e-4
    back = read_structures(tmp_path / "ref.extxyz")
    for x, y in zip(a, back):
        assert y.get_potential_energy() == pytest.approx(x.get_potential_energy())
        assert -320 < y.get_potential_energy() < -300  # GFN2-xTB ethanol total energy, eV
        assert np.abs(y.get_forces()).max() > 0.05
    assert not np.allclose(a[0].positions, a[1].positions)


def test_xtb_reference_labels_equal_a_fresh_single_point():
    """Stored forces are the potential's own (no thermostat or constraint terms mixed in)."""
    pytest.importorskip("tblite")
    from mlcalc.data.xtb import xtb_calculator
    from mlcalc.md import ReferenceSettings, generate_reference

    frames = generate_reference(load_molecule("ethanol"), ReferenceSettings(frames=3, thermalise=10, interval=5, seed=0),
                                progress=False)
    fresh = xtb_calculator()
    for frame in frames:
        atoms = frame.copy()
        atoms.calc = fresh
        assert atoms.get_potential_energy() == pytest.approx(frame.get_potential_energy(), abs=1e-6)
        np.testing.assert_allclose(frame.get_forces(), atoms.get_forces(), atol=1e-3)
        assert np.abs(frame.get_forces().sum(axis=0)).max() < 1e-3  # no net force on an isolated molecule
