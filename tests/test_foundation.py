"""Foundation potentials (SevenNet-0 from the sevenn wheel, CHGNet 0.3.0 from the chgnet wheel): converted once to a
safe .mlc, equal to the package's own calculator, loaded without unpickling, run by ASE and TorchSim alike, fine-tuned
by mlcalc's loop, in ensembles and sums.

Needs the ``foundation`` extra (CI installs it through ``dev``); without it these tests skip, except the one
that checks the message a missing extra gives."""

import functools
import sys

import numpy as np
import pytest
import torch
from ase.build import bulk, molecule
from ase.calculators.singlepoint import SinglePointCalculator
from click.testing import CliRunner

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.modelfile import load_model, read_manifest, write_model_file
from mlcalc.testing import forbid_unpickling

NEEDS_SEVENN = "sevenn is not installed: the foundation tests need the extra (pip install 'mlcalc[foundation]')"
NEEDS_CHGNET = "chgnet is not installed: the foundation tests need the extra (pip install 'mlcalc[foundation]')"


@pytest.fixture(scope="session")
def sevennet0(tmp_path_factory):
    """SevenNet-0 (11Jul2024, the smallest shipped checkpoint) converted once per session."""
    pytest.importorskip("sevenn", reason=NEEDS_SEVENN)
    from mlcalc.potentials.foundation.importer import import_model

    return import_model("sevenn:SevenNet-0", tmp_path_factory.mktemp("foundation") / "sevennet-0.mlc")


@pytest.fixture(scope="session")
def chgnet030(tmp_path_factory):
    """CHGNet 0.3.0 (the current shipped checkpoint) converted once per session."""
    pytest.importorskip("chgnet", reason=NEEDS_CHGNET)
    from mlcalc.potentials.foundation.importer import import_model

    return import_model("chgnet:0.3.0", tmp_path_factory.mktemp("foundation") / "chgnet-0.3.0.mlc")


def _molecule():
    atoms = load_molecule("ethanol")
    atoms.rattle(0.05, seed=1)
    return atoms


def _crystal():
    """Silicon, 8 atoms in a sheared cubic cell of 5.43 Å (smaller than twice the 5 Å cutoff: several images)."""
    atoms = bulk("Si", "diamond", a=5.43, cubic=True)
    atoms.set_cell(atoms.cell.array + [[0, 0, 0], [0.2, 0, 0], [0, 0.1, 0]], scale_atoms=True)
    atoms.rattle(0.05, seed=2)
    return atoms


def _sevenn_calculator_float64(monkeypatch):
    """sevenn's own ASE calculator on its own SevenNet-0 network and neighbour list, in float64.

    sevenn hard-codes float32 graph tensors and a float32 one-hot; both are widened (exactly) here.
    """
    import sevenn.util
    from sevenn.calculator import SevenNetCalculator
    from sevenn.nn.node_embedding import OnehotEmbedding

    monkeypatch.setattr(sevenn.util, "dtype_correct", functools.partial(sevenn.util.dtype_correct,
                                                                        float_dtype=torch.float64))
    calc = SevenNetCalculator("7net-0", device="cpu")  # sevenn's loader (it unpickles its shipped checkpoint)
    calc.model.double()

    def widen(module, inputs, data):
        for key in {module.key_output, module.key_additional_output} - {None}:
            data[key] = data[key].double()

    for module in calc.model.modules():
        if isinstance(module, OnehotEmbedding):
            module.register_forward_hook(widen)
    return calc


def _molecule_in_a_box():
    """Rattled ethanol with 8 Å of vacuum in a periodic box (chgnet's calculator needs a cell; no image in reach)."""
    atoms = _molecule()
    atoms.center(vacuum=8.0)
    atoms.pbc = True
    return atoms


def _chgnet_calculator_float64(monkeypatch):
    """chgnet's own ASE calculator on its own CHGNet 0.3.0 network and graph converter, in float64.

    chgnet hard-codes float32 graph tensors and float32 composition fractions; both are made float64 here.
    """
    import chgnet.graph.converter
    import chgnet.graph.crystalgraph
    import chgnet.model.model
    from chgnet.model.composition_model import AtomRef
    from chgnet.model.dynamics import CHGNetCalculator

    for module in (chgnet.graph.converter, chgnet.graph.crystalgraph, chgnet.model.model):
        monkeypatch.setattr(module, "TORCH_DTYPE", torch.float64)

    def fractions(self, graphs):
        counts = [torch.bincount(g.atomic_number - 1, minlength=self.max_num_elements).double() for g in graphs]
        return torch.stack([c / (c.sum() if self.is_intensive else 1) for c in counts])

    monkeypatch.setattr(AtomRef, "_assemble_graphs", fractions)
    model = chgnet.model.model.CHGNet.load(model_name="0.3.0", use_device="cpu", verbose=False)  # it unpickles
    return CHGNetCalculator(model.double(), use_device="cpu")


@pytest.mark.parametrize("converted,structure", [
    ("sevennet0", _molecule), ("sevennet0", _crystal), ("chgnet030", _molecule_in_a_box), ("chgnet030", _crystal)],
    ids=["sevennet-ethanol", "sevennet-silicon", "chgnet-ethanol-in-a-box", "chgnet-silicon"])
def test_converted_model_equals_the_package_calculator_in_float64(converted, structure, request, monkeypatch):
    """mlcalc's graph (vesin edges; for CHGNet paired into bonds, angles built from them) gives the package's numbers."""
    path = request.getfixturevalue(converted)
    atoms = structure()
    ours = atoms.copy()
    ours.calc = MLCalc(path, dtype=torch.float64)
    theirs = atoms.copy()
    theirs.calc = (_sevenn_calculator_float64 if converted == "sevennet0" else _chgnet_calculator_float64)(monkeypatch)
    assert abs(ours.get_potential_energy() - theirs.get_potential_energy()) < 1e-6
    forces = ours.get_forces()
    assert np.abs(forces).max() > 0.1  # not a trivial comparison
    np.testing.assert_allclose(forces, theirs.get_forces(), rtol=0, atol=1e-5)
    if atoms.pbc.all():
        np.testing.assert_allclose(ours.get_stress(), theirs.get_stress(), rtol=0, atol=1e-6)


def test_the_chgnet_manifest_records_the_source(chgnet030):
    import chgnet

    manifest = read_manifest(chgnet030)
    record = manifest["foundation"]
    assert record["package"] == "chgnet" and record["version"] == chgnet.__version__
    assert record["checkpoint_file"] == "chgnet_0.3.0_e29f68s314m37.pth.tar" and len(record["checkpoint_sha256"]) == 64
    assert record["licence"] != "unknown" and "PBE" in record["level_of_theory"]
    assert manifest["kind"] == "chgnet" and manifest["cutoff"] == record["cutoff"] == 6.0
    assert manifest["elements"] == list(range(1, 95))
    assert manifest["hyperparameters"]["config"]["composition_model"] is None  # its per-element energies: atomref
    assert manifest["normalisation"]["atomref_eV"]["1"] == pytest.approx(-3.4431, abs=1e-3)


def test_the_manifest_records_the_source(sevennet0):
    import sevenn

    manifest = read_manifest(sevennet0)
    record = manifest["foundation"]
    assert record["package"] == "sevenn" and record["version"] == sevenn.__version__
    assert record["checkpoint_file"] == "checkpoint_sevennet_0.pth" and len(record["checkpoint_sha256"]) == 64
    assert record["licence"] == "MIT License" and "PBE" in record["level_of_theory"]
    assert manifest["kind"] == "sevennet" and manifest["cutoff"] == record["cutoff"] == 5.0
    assert {1, 6, 7, 8, 14} <= set(manifest["elements"]) and len(manifest["elements"]) == 89


@pytest.mark.parametrize("converted", ["sevennet0", "chgnet030"])
def test_the_converted_file_loads_without_unpickling(converted, request, monkeypatch):
    path = request.getfixturevalue(converted)
    forbid_unpickling(monkeypatch)  # torch.load and pickle raise from here on
    atoms = _molecule()
    atoms.calc = MLCalc(path, dtype=torch.float32)
    assert np.isfinite(atoms.get_potential_energy()) and np.isfinite(atoms.get_forces()).all()


def _block(monkeypatch, package, module):
    for name in [m for m in sys.modules if m == package or m.startswith(f"{package}.")] + [package, module]:
        monkeypatch.setitem(sys.modules, name, None)  # import <package>... raises ImportError


@pytest.mark.parametrize("kind,package,module,source", [
    ("sevennet", "sevenn", "sevenn.model_build", "sevenn:SevenNet-0"),
    ("chgnet", "chgnet", "chgnet.model.model", "chgnet:0.3.0")])
def test_a_missing_extra_is_one_line_naming_it(tmp_path, monkeypatch, kind, package, module, source):
    """Without its package a foundation kind's file and `mlcalc import` say which extra to install (runs with or
    without it)."""
    from mlcalc.cli import main
    from mlcalc.potentials.foundation.extra import MissingExtraError

    path = write_model_file(tmp_path / f"{kind}.mlc", {
        "format_version": 1, "kind": kind, "hyperparameters": {"elements": [1, 8], "cutoff": 5.0, "config": {}},
        "cutoff": 5.0, "elements": [1, 8], "properties": {"energy": {"unit": "eV"}}}, {"atomref": torch.zeros(101)})
    _block(monkeypatch, package, module)
    with pytest.raises(MissingExtraError) as err:
        load_model(path)
    message = str(err.value)
    assert "\n" not in message and "mlcalc[foundation]" in message and package in message
    result = CliRunner().invoke(main, ["import", source, "--out", str(tmp_path / "s.mlc")])
    assert result.exit_code != 0
    assert "mlcalc[foundation]" in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("converted", ["sevennet0", "chgnet030"])
def test_ase_and_torchsim_trajectories_agree_over_50_nve_steps(converted, request, tmp_path):
    """mlcalc's own TorchSim model (not torch-sim's wrappers) against MLCalc in ASE, float64, same start."""
    pytest.importorskip("torch_sim")
    from ase.io.trajectory import Trajectory

    from mlcalc.md import MDSettings, run_batched_md, run_md

    path = request.getfixturevalue(converted)
    settings = MDSettings(steps=50, timestep=0.5, temperature=300, interval=10, seed=3)
    atoms = molecule("CH3OH")  # small, so that 2 x 50 float64 steps stay quick
    atoms.calc = MLCalc(path, dtype=torch.float64)
    single = run_md(atoms, settings, tmp_path / "ase")
    [batched] = run_batched_md([molecule("CH3OH")], path, [settings], [tmp_path / "torchsim"])
    assert single.status == batched.status == "completed"
    with Trajectory(single.trajectory) as a, Trajectory(batched.trajectory) as b:
        a, b = list(a), list(b)
    assert len(a) == len(b) == 6
    assert np.abs(a[-1].positions - a[0].positions).max() > 0.01  # the atoms moved
    assert max(np.abs(x.positions - y.positions).max() for x, y in zip(a, b)) < 1e-6
    np.testing.assert_allclose(single.log["total_eV"], batched.log["total_eV"], atol=1e-6)


def _xtb_frames(n):
    pytest.importorskip("tblite")
    from mlcalc.data.xtb import xtb_calculator

    frames = []
    for k in range(n):
        atoms = molecule("CH3OH")  # small: 20 fine-tuning steps stay quick
        atoms.rattle(0.08, seed=10 + k)
        atoms.calc = xtb_calculator()
        energy, forces = atoms.get_potential_energy(), atoms.get_forces()
        atoms.calc = SinglePointCalculator(atoms, energy=energy, forces=forces)
        frames.append(atoms)
    return frames


def _errors(path, frames):
    """Mean absolute energy (eV) and force (eV/Å) errors of ``path`` on ``frames``."""
    calc = MLCalc(path, dtype=torch.float64)
    e = np.mean([abs(calc.get_potential_energy(a.copy()) - a.get_potential_energy()) for a in frames])
    f = np.mean([np.abs(calc.get_forces(a.copy()) - a.get_forces()).mean() for a in frames])
    return e, f


def test_rereferencing_puts_free_atoms_at_the_reference_method_keeping_forces(sevennet0, tmp_path):
    pytest.importorskip("tblite")
    from ase import Atoms

    from mlcalc.data.isolated_atoms import isolated_atom_energies
    from mlcalc.potentials.training.rereference import rereferenced_foundation_file

    path = rereferenced_foundation_file(sevennet0, "gfn2-xtb", [1, 6, 8], tmp_path / "gfn2.mlc")
    calc, parent = MLCalc(path, dtype=torch.float64), MLCalc(sevennet0, dtype=torch.float64)
    isolated = isolated_atom_energies("gfn2-xtb", [1, 6, 8])
    for z in (1, 6, 8):
        assert abs(calc.get_potential_energy(Atoms(numbers=[z], positions=[[0, 0, 0]])) - isolated[z]) < 1e-5  # float32 atomref
    np.testing.assert_allclose(calc.get_forces(_molecule()), parent.get_forces(_molecule()), atol=1e-10)
    assert rereferenced_foundation_file(sevennet0, "gfn2-xtb", [1, 6, 8], tmp_path / "gfn2.mlc") == path  # reused


@pytest.fixture(scope="module")
def methanol_xtb_frames():
    """5 rattled methanols with GFN2-xTB energies and forces (labelled once for the module)."""
    return _xtb_frames(5)


@pytest.mark.parametrize("converted,kind", [("sevennet0", "sevennet"), ("chgnet030", "chgnet")])
def test_finetuning_20_steps_on_5_frames_lowers_the_loss_on_them(converted, kind, request, methanol_xtb_frames,
                                                                 tmp_path):
    from mlcalc.potentials.training.finetune import finetune

    parent, frames = request.getfixturevalue(converted), methanol_xtb_frames
    before = _errors(parent, frames)
    path = finetune(parent, frames, tmp_path / "ft", steps=20, batch_size=5, lr=1e-3)
    after = _errors(path, frames)
    assert after[1] < 0.9 * before[1], f"force MAE {before[1]:.3f} -> {after[1]:.3f} eV/Å"
    assert after[0] < before[0], f"energy MAE {before[0]:.3f} -> {after[0]:.3f} eV"
    manifest = read_manifest(path)
    assert manifest["kind"] == kind and manifest["finetune"]["settings"]["reference"] == "gfn2-xtb"
    from mlcalc.data.structure_files import file_sha256

    assert manifest["finetune"]["parent"]["kind"] == kind
    assert manifest["finetune"]["parent"]["sha256"] == file_sha256(parent)


def _composite_with_sevennet(kind, periodic=False):
    """Two tiny SevenNets (seeds 0, 1) as an ensemble, or a tiny SevenNet plus a tiny ET Δ-model (shorter cutoff) as
    a sum."""
    pytest.importorskip("sevenn", reason=NEEDS_SEVENN)
    from mlcalc.model import create_model
    from mlcalc.testing import tiny_potential, with_random_biases

    if kind == "ensemble":
        members = [tiny_potential("sevennet", seed=k, periodic=periodic) for k in (0, 1)]
    else:
        members = [tiny_potential("sevennet", cutoff=4.0, periodic=periodic),
                   with_random_biases(tiny_potential("torchmdnet-et", cutoff=3.0, seed=2, periodic=periodic))]
    return create_model(kind, members=members)


@pytest.mark.parametrize("kind", ["ensemble", "sum"])
def test_composites_with_sevennet_members_load_and_give_forces_as_minus_the_gradient(kind, tmp_path):
    from mlcalc.modelfile import save_model
    from mlcalc.testing import finite_difference_forces

    path = save_model(tmp_path / f"{kind}.mlc", _composite_with_sevennet(kind))
    atoms = molecule("CH3OH")
    atoms.rattle(0.05, seed=1)
    atoms.calc = MLCalc(path, dtype=torch.float64)
    energy, forces = atoms.get_potential_energy(), atoms.get_forces()
    assert np.abs(forces).max() > 0.01
    np.testing.assert_allclose(forces, finite_difference_forces(atoms), rtol=0, atol=1e-6)
    members = [MLCalc(m.eval(), dtype=torch.float64).get_potential_energy(atoms.copy())
               for m in load_model(path)[0].members]
    assert energy == pytest.approx(np.mean(members) if kind == "ensemble" else np.sum(members), abs=1e-9)
    if kind == "ensemble":
        assert atoms.calc.results["energy_var"] > 0 and atoms.calc.results["uncertainty"] > 0


def test_a_sum_of_sevennet_and_a_delta_model_gives_the_stress_of_a_crystal(tmp_path):
    from mlcalc.modelfile import save_model
    from mlcalc.testing import finite_difference_stress

    path = save_model(tmp_path / "sum.mlc", _composite_with_sevennet("sum", periodic=True))
    atoms = bulk("C", "diamond", a=3.57)  # a cell smaller than both cutoffs: many images
    atoms.rattle(0.05, seed=1)
    atoms.calc = MLCalc(path, dtype=torch.float64)
    stress = atoms.get_stress()
    assert np.abs(stress).max() > 1e-3
    np.testing.assert_allclose(stress, finite_difference_stress(atoms), rtol=0, atol=1e-7)


def test_chgnet_bonds_pair_each_edge_with_its_reverse_and_angles_pair_the_short_edges_of_one_atom():
    """On a cell smaller than the cutoff (an atom bonded to its own images), without chgnet installed."""
    from mlcalc.graph import neighbor_pairs
    from mlcalc.potentials.foundation.chgnet_graph import angle_pairs, undirected_bonds

    atoms = bulk("C", "diamond", a=3.57)
    atoms.rattle(0.05, seed=1)
    edge_index, shifts = neighbor_pairs(atoms.positions, atoms.cell.array, atoms.pbc, 4.0)
    neighbour, centre = torch.as_tensor(edge_index)
    shifts = torch.as_tensor(shifts).long()
    d2u, u2d = undirected_bonds(centre, neighbour, shifts)
    assert (centre == neighbour).any() and 2 * len(u2d) == len(centre)
    assert torch.equal(torch.bincount(d2u), torch.full((len(u2d),), 2))
    for e in range(len(centre)):
        r = u2d[d2u[e]]
        assert r == e or (centre[r] == neighbour[e] and neighbour[r] == centre[e] and torch.equal(shifts[r], -shifts[e]))
    with pytest.raises(ValueError, match="full neighbour list"):
        undirected_bonds(centre[1:], neighbour[1:], shifts[1:])
    lengths = torch.as_tensor(np.linalg.norm(atoms.positions[edge_index[0]] + shifts.numpy() @ atoms.cell.array
                                             - atoms.positions[edge_index[1]], axis=1))
    first, second = angle_pairs(centre, lengths, 3.0)
    short = torch.bincount(centre[lengths < 3.0], minlength=len(atoms))
    assert len(first) == int((short * (short - 1)).sum()) > 0
    assert torch.equal(centre[first], centre[second]) and not (first == second).any()
    assert (lengths[first] < 3.0).all() and (lengths[second] < 3.0).all()
