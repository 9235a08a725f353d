"""mlcalc energy models as TorchSim models: the same energies, forces and stress as MLCalc."""

import numpy as np
import pytest
import torch

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.testing import tiny_potential

ts = pytest.importorskip("torch_sim")

from mlcalc.md.torchsim_model import TorchSimModel  # noqa: E402


@pytest.mark.parametrize("kind", ["torchmdnet-et", "torchmdnet-tensornet", "sum"])
def test_batch_of_molecules_matches_mlcalc(kind):
    model = tiny_potential(kind, elements=(1, 6, 7, 8))
    calc = MLCalc(model, dtype=torch.float64)
    molecules = [load_molecule(name) for name in ("ethanol", "uracil", "pyrimidine", "methyl-ethyl-ether")]
    for k, atoms in enumerate(molecules):
        atoms.rattle(0.05, seed=k)
    ts_model = TorchSimModel(model, dtype=torch.float64)
    out = ts_model(ts.io.atoms_to_state(molecules, ts_model.device, torch.float64))
    forces = np.split(out["forces"].numpy(), np.cumsum([len(a) for a in molecules])[:-1])
    for k, atoms in enumerate(molecules):
        atoms.calc = calc
        assert out["energy"][k].item() == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(forces[k], atoms.get_forces(), rtol=0, atol=1e-10)


def test_periodic_stress_matches_mlcalc(small_cell):
    from ase.build import bulk

    model = tiny_potential("torchmdnet-et", elements=(6, 14, 26), periodic=True)  # Fe: TorchSim's own check
    calc = MLCalc(model, dtype=torch.float64)
    cells = [small_cell, bulk("Si", "diamond", a=5.43, cubic=True)]
    cells[1].rattle(0.05, seed=2)
    ts_model = TorchSimModel(model, dtype=torch.float64, compute_stress=True)
    out = ts_model(ts.io.atoms_to_state(cells, ts_model.device, torch.float64))
    from ase.stress import full_3x3_to_voigt_6_stress

    for k, atoms in enumerate(cells):
        atoms.calc = calc
        assert out["energy"][k].item() == pytest.approx(atoms.get_potential_energy(), abs=1e-10)
        np.testing.assert_allclose(full_3x3_to_voigt_6_stress(out["stress"][k].numpy()), atoms.get_stress(),
                                   rtol=0, atol=1e-10)
    ts.models.interface.validate_model_outputs(ts_model, torch.device("cpu"), torch.float64)


def test_refuses_unknown_elements_and_property_models():
    from mlcalc.testing import tiny_property_model

    ts_model = TorchSimModel(tiny_potential("torchmdnet-et", elements=(1, 6)), dtype=torch.float64)
    state = ts.io.atoms_to_state([load_molecule("ethanol")], ts_model.device, torch.float64)
    with pytest.raises(ValueError, match=r"element\(s\) O not known to this model; it was trained on: H, C"):
        ts_model(state)  # MLCalc's message: both run mlcalc.evaluation's checks
    with pytest.raises(ValueError, match="TorchSim needs an energy model"):
        TorchSimModel(tiny_property_model())


@pytest.mark.parametrize("cutoff", [4.0, 0.4])  # checked from the model's pairs, or by a search of its own
def test_torchsim_md_refuses_the_close_contact_mlcalc_refuses(tmp_path, cutoff):
    """Two atoms 0.3 Å apart: MLCalc refuses them, and so do the TorchSim model and batched MD."""
    from mlcalc.md import MDSettings, run_batched_md

    model, min_distance = tiny_potential("torchmdnet-et", elements=(1, 6, 8), cutoff=cutoff), 0.5
    close = load_molecule("ethanol")
    close.positions[1] = close.positions[0] + [0.3, 0.0, 0.0]
    fine = load_molecule("ethanol")
    message = r"atoms 0 \(C\) and 1 \(C\) are 0\.300 Å apart, closer than the sane minimum"
    close.calc = MLCalc(model, min_distance=min_distance)
    with pytest.raises(ValueError, match=message):
        close.get_potential_energy()
    ts_model = TorchSimModel(model, min_distance=min_distance)
    with pytest.raises(ValueError, match=message.replace(" are", " of structure 1 are")):
        ts_model(ts.io.atoms_to_state([fine, close], ts_model.device, torch.float64))
    with pytest.raises(ValueError, match=message):
        run_batched_md([close], model, [MDSettings(steps=5)], [tmp_path / "run"])
    assert np.isfinite(TorchSimModel(model, min_distance=0.0)(
        ts.io.atoms_to_state([close], ts_model.device, torch.float64))["energy"]).all()  # 0: no check


def test_torchsim_nve_runs_an_mlcalc_model():
    """TorchSim's own NVE integrator conserves the energy of an mlcalc model over a batch of two molecules."""
    ts_model = TorchSimModel(tiny_potential("torchmdnet-et", elements=(1, 6, 7, 8)), dtype=torch.float64)
    state = ts.io.atoms_to_state([load_molecule("ethanol"), load_molecule("uracil")], ts_model.device, torch.float64)
    from ase import units

    init, update = ts.integrators.nve(ts_model, dt=torch.tensor(0.25 * units.fs, dtype=torch.float64),
                                      kT=torch.tensor(300 * units.kB, dtype=torch.float64), seed=1)
    state = init(state)
    total = []
    for _ in range(40):
        state = update(state)
        kinetic = torch.zeros(2, dtype=torch.float64).index_add(
            0, state.system_idx, 0.5 * (state.momenta ** 2).sum(1) / state.masses)
        total.append((state.energy + kinetic).numpy())
    total = np.array(total)
    assert np.abs(total - total[0]).max() < 1e-3


def test_float32_batch_far_from_the_origin_equals_the_origin(small_cell):
    """As MLCalc: each system is centred (and wrapped) in float64 before the float32 cast."""
    model = tiny_potential(elements=(1, 6, 8))
    ts_model = TorchSimModel(model, dtype=torch.float32)
    near = [load_molecule("ethanol"), load_molecule("methyl-ethyl-ether")]
    far = [a.copy() for a in near]
    far[0].translate([1e6, -2e6, 5e5])
    far[1].translate([-3e6, 1e6, 1e6])
    out_near = ts_model(ts.io.atoms_to_state(near, ts_model.device, torch.float64))
    out_far = ts_model(ts.io.atoms_to_state(far, ts_model.device, torch.float64))
    np.testing.assert_allclose(out_far["forces"].numpy(), out_near["forces"].numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(out_far["energy"].numpy(), out_near["energy"].numpy(), rtol=1e-6)
    calc = MLCalc(model, dtype=torch.float32)
    far[0].calc = calc
    np.testing.assert_allclose(out_far["forces"].numpy()[:len(far[0])], far[0].get_forces(), rtol=0, atol=1e-5)
    crystal, moved = small_cell.copy(), small_cell.copy()
    moved.translate([2e6, 1e6, -1e6])
    ts_model = TorchSimModel(tiny_potential(elements=(1, 6, 8), periodic=True), dtype=torch.float32,
                             compute_stress=True)
    a = ts_model(ts.io.atoms_to_state([crystal], ts_model.device, torch.float64))
    b = ts_model(ts.io.atoms_to_state([moved], ts_model.device, torch.float64))
    np.testing.assert_allclose(b["forces"].numpy(), a["forces"].numpy(), rtol=0, atol=1e-5)
    np.testing.assert_allclose(b["stress"].numpy(), a["stress"].numpy(), rtol=0, atol=1e-6)


def test_torchsim_batches_get_the_memory_and_plausibility_checks_of_mlcalc(monkeypatch):
    """The one evaluation: a batch over the memory limit is refused before the model runs, and a model with absurd
    weights is refused naming the first structure it answers absurdly for."""
    from mlcalc.evaluation import ImplausiblePredictionError
    from mlcalc.graph_size import GraphTooLargeError

    model = tiny_potential("torchmdnet-et", elements=(1, 6, 8))
    ts_model = TorchSimModel(model, dtype=torch.float64)
    state = ts.io.atoms_to_state([load_molecule("ethanol"), load_molecule("n-propanol")], ts_model.device,
                                 torch.float64)
    monkeypatch.setenv("MLCALC_MAX_MEMORY_GB", "1e-6")
    with pytest.raises(GraphTooLargeError, match=r"evaluating 2 structures \(21 atoms\) with the torchmdnet-et model "
                                                 r".* more than the limit of 1000 bytes \(MLCALC_MAX_MEMORY_GB=1e-6\)"):
        ts_model(state)
    monkeypatch.delenv("MLCALC_MAX_MEMORY_GB")
    with torch.no_grad():
        model.output.output_network.layers[2].weight.fill_(1e30)
    with pytest.raises(ImplausiblePredictionError, match=r"for structure 0 \(C2H6O, 9 atoms\): no real structure"):
        TorchSimModel(model, dtype=torch.float64)(state)
