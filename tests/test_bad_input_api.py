"""Bad input through the Python API: each a one-line error of the right type that names the value and the options."""

import re

import numpy as np
import pytest
import torch
from ase import Atoms

from mlcalc import MLCalc
from mlcalc.data import load_molecule
from mlcalc.graph_size import GraphTooLargeError
from mlcalc.testing import tiny_potential

CUDA = torch.cuda.is_available()


def _one_line(err: pytest.ExceptionInfo) -> str:
    message = str(err.value)
    assert "\n" not in message and len(message) < 600, message
    assert "Traceback" not in message
    return message


# -- building a calculator ------------------------------------------------------------------------------

CONSTRUCTION = [
    ("dtype-int64", lambda: MLCalc.load("ethanol-et", dtype=torch.int64), TypeError, r"torch\.int64.*|float32.*float64"),
    ("dtype-int8-string", lambda: MLCalc.load("ethanol-et", dtype="int8"), TypeError, r"'int8'"),
    ("dtype-float16", lambda: MLCalc.load("ethanol-et", dtype=torch.float16), TypeError, r"float16"),
    ("dtype-number", lambda: MLCalc.load("ethanol-et", dtype=64), TypeError, r"got 64"),
    ("device-cuda", lambda: MLCalc.load("ethanol-et", device="cuda"), ValueError, r"'cuda'.*available here: cpu"),
    ("device-cuda-index", lambda: MLCalc.load("ethanol-et", device="cuda:1"), ValueError, r"'cuda:1'.*cpu"),
    ("device-unknown", lambda: MLCalc.load("ethanol-et", device="gpu"), ValueError, r"'gpu' is not a torch device"),
    ("load-none", lambda: MLCalc.load(None), TypeError, r"got None.*|ethanol-et"),
    ("load-number", lambda: MLCalc.load(3.5), TypeError, r"shipped model name \(.*ethanol-et.*\), got 3\.5"),
    ("constructor-none", lambda: MLCalc(None), TypeError, r"shipped model name \(.*ethanol-et.*\) or a model object; got None"),
    ("unknown-name", lambda: MLCalc.load("ethanol-xyz"), FileNotFoundError, r"'ethanol-xyz'.*ethanol-et"),
    ("min-distance-negative", lambda: MLCalc.load("ethanol-et", min_distance=-1), ValueError, r">= 0 Å.*got -1"),
    ("min-distance-nan", lambda: MLCalc.load("ethanol-et", min_distance=float("nan")), ValueError, r"got nan"),
    ("min-distance-string", lambda: MLCalc.load("ethanol-et", min_distance="0.5"), ValueError, r"got '0\.5'"),
    ("min-distance-set", lambda: MLCalc.load("ethanol-et").set(min_distance=-0.1), ValueError, r"got -0\.1"),
]


@pytest.mark.parametrize("make, error, pattern", [c[1:] for c in CONSTRUCTION], ids=[c[0] for c in CONSTRUCTION])
def test_a_bad_calculator_argument_is_one_clear_line(make, error, pattern, request):
    if CUDA and "cuda" in request.node.callspec.id:
        pytest.skip("this machine has a CUDA GPU")
    with pytest.raises(error) as err:
        make()
    assert re.search(pattern, _one_line(err)), str(err.value)


def test_dtype_as_a_string_and_the_model_by_name_work():
    calc = MLCalc("ethanol-et", dtype="float64")
    assert calc.dtype == torch.float64 and calc.todict()["model"] == "ethanol-et"
    atoms = load_molecule("ethanol")
    atoms.calc = calc
    assert np.isfinite(atoms.get_potential_energy())


# -- structures -----------------------------------------------------------------------------------------

def _tampered(key: str, n: int) -> Atoms:
    atoms = load_molecule("ethanol")
    atoms.arrays[key] = atoms.arrays[key][:n] if n < len(atoms) else np.concatenate([atoms.arrays[key]] * 2)
    return atoms


def _positions_2d() -> Atoms:
    atoms = load_molecule("ethanol")
    atoms.arrays["positions"] = atoms.positions[:, :2].copy()
    return atoms


def _cell(cell, symbol="C") -> Atoms:
    return Atoms(symbol, positions=[[0.1, 0.2, 0.3]], cell=cell, pbc=True)


def _nan_position() -> Atoms:
    atoms = load_molecule("ethanol")
    atoms.positions[4, 1] = np.nan
    return atoms


STRUCTURES = [
    ("numbers-shorter", lambda: _tampered("numbers", 7), ValueError, r"disagree in length \(numbers 7, positions 9\)"),
    ("numbers-longer", lambda: _tampered("numbers", 18), ValueError, r"numbers 18, positions 9"),
    ("positions-shorter", lambda: _tampered("positions", 5), ValueError, r"numbers 9, positions 5"),
    ("positions-2d", _positions_2d, ValueError, r"shape \(n_atoms, 3\), got \(9, 2\)"),
    ("nan-position", _nan_position, ValueError, r"atoms \[4\] are NaN"),
    ("unknown-element", lambda: Atoms("SiH4", positions=np.eye(5, 3) * 1.5), ValueError, r"Si not known.*H, C, O"),
    ("empty", lambda: Atoms(), ValueError, r"empty \(0 atoms\)"),
    ("too-close", lambda: Atoms("H2", positions=[[0, 0, 0], [0, 0, 0.1]]), ValueError, r"0\.100 Å apart.*0\.5 Å"),
    ("not-atoms", lambda: [("C", 0, 0, 0)], TypeError, r"ase\.Atoms object, got list"),
    ("zero-volume", lambda: _cell([[2, 0, 0], [0, 2, 0], [2, 2, 0]]), ValueError, r"zero volume"),
    ("skewed-tiny-cell", lambda: _cell([[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0.001]]), GraphTooLargeError,
     r"volume 0\.001 Å\^3.*about \d\.\d+e\+11 periodic images"),
    ("supercell-too-large", lambda: _cell(np.eye(3) * 0.15), GraphTooLargeError,
     r"tiled into a 27x27x27 supercell \(1\.97e\+04 atoms\).*neighbor pairs \(\d.* GB"),
]


@pytest.fixture(scope="module")
def tiny_et():
    return MLCalc(tiny_potential("torchmdnet-et", elements=(1, 6, 8)), dtype="float64", min_distance=0.5)


@pytest.mark.parametrize("make, error, pattern", [c[1:] for c in STRUCTURES], ids=[c[0] for c in STRUCTURES])
def test_a_bad_structure_is_one_clear_line(tiny_et, make, error, pattern):
    atoms = make()
    if isinstance(atoms, Atoms) and atoms.pbc.any():
        tiny_et.set(min_distance=0)  # let the size checks, not the close-contact check, see the cell
    try:
        with pytest.raises(error) as err:
            tiny_et.get_potential_energy(atoms)
    finally:
        tiny_et.set(min_distance=0.5)
    assert re.search(pattern, _one_line(err)), str(err.value)


def test_a_huge_cell_is_refused_in_a_batch_before_anything_is_built(tiny_et):
    good = load_molecule("ethanol")
    tiny_et.set(min_distance=0)
    try:
        with pytest.raises(GraphTooLargeError, match="periodic images"):
            tiny_et.predict([good, _cell([[1, 0, 0], [0, 1, 0], [0.5, 0.5, 0.001]])])
    finally:
        tiny_et.set(min_distance=0.5)


# -- structures too large to evaluate, predictions no real structure has --------------------------------

def _small_triclinic_cell() -> Atoms:
    """One H in a 0.384 Å^3 triclinic cell: ethanol-et tiles it into 630 atoms and 851,760 edges (the issue's cell)."""
    return Atoms("H", positions=[[0, 0, 0]], cell=[[0.8, 0, 0], [0.7, 0.6, 0], [0, 0, 0.8]], pbc=True)


def test_a_cell_needing_more_memory_than_the_limit_is_refused_before_building(monkeypatch):
    """Before: 36 s, then torchmd-net failed to allocate 1.3 GB (its [edges, 3, 128] vector messages) in a 58 GB
    evaluation; the pair count (852k) passed. Now the model's per-edge estimate refuses it at once."""
    import mlcalc.evaluation

    monkeypatch.setenv("MLCALC_MAX_MEMORY_GB", "16")
    model_runs = []  # the refusal comes before the model runs: nothing is built or allocated
    monkeypatch.setattr(mlcalc.evaluation, "energy_forces_stress", lambda *a, **k: model_runs.append(a))
    atoms = _small_triclinic_cell()
    atoms.calc = MLCalc.load("ethanol-et")
    with pytest.raises(GraphTooLargeError) as err:
        atoms.get_potential_energy()
    assert model_runs == []
    line = _one_line(err)
    assert ("evaluating the structure (H, 1 atom, periodic cell of 0.384 Å^3) with ethanol-et (torchmdnet-et) on its "
            "graph of 630 atoms and 851,760 edges would need about ") in line
    assert 40 < float(re.search(r"would need about ([\d.]+) GB", line).group(1)) < 80  # measured: 62.5 kB per edge
    assert "more than the limit of 16 GB (MLCALC_MAX_MEMORY_GB=16); set MLCALC_MAX_MEMORY_GB to change" in line
    monkeypatch.setenv("MLCALC_MAX_MEMORY_GB", "lots")
    with pytest.raises(ValueError, match="MLCALC_MAX_MEMORY_GB='lots': give the memory in GB"):
        atoms.calc.get_potential_energy(load_molecule("ethanol"))


def test_a_property_far_outside_the_training_targets_is_refused_with_the_structure_named():
    """Before: qm9-homo gave a HOMO of -16,011 eV for the one-H triclinic cell, silently; a molecule still passes."""
    from mlcalc.evaluation import ImplausiblePredictionError

    calc = MLCalc.load("qm9-homo")
    assert -12 < calc.get_property("homo", load_molecule("ethanol")) < -4
    with pytest.raises(ImplausiblePredictionError) as err:
        calc.get_property("homo", _small_triclinic_cell())
    line = _one_line(err)
    assert re.search(r"qm9-homo \(physnet\) predicts homo = -1\d{4} eV for the structure \(H, 1 atom, periodic cell "
                     r"of 0.384 Å\^3\), [\d.e+]+ standard deviations from its training targets \(-6.534 ± 0.595 eV\)",
                     line), line
    with pytest.raises(ImplausiblePredictionError, match="structure 1 "):  # a batch names the one
        calc.predict([load_molecule("ethanol"), _small_triclinic_cell()])


ENERGY_KINDS = ["torchmdnet-et", "torchmdnet-tensornet", "bpnn", "krr-energy", "gp-energy", "sum", "ensemble",
                "sevennet", "chgnet"]


@pytest.mark.parametrize("kind", ENERGY_KINDS)
def test_every_energy_kind_checks_its_memory_before_evaluating(kind, monkeypatch):
    if kind in ("sevennet", "chgnet"):
        pytest.importorskip("sevenn" if kind == "sevennet" else "chgnet")
    calc = MLCalc(tiny_potential(kind, elements=(1, 6, 8)))
    ethanol = load_molecule("ethanol")
    needed = calc.model.evaluation_bytes(calc._inputs([ethanol]))
    assert 1e3 < needed < 1e8, needed  # a molecule: well under 100 MB
    monkeypatch.setenv("MLCALC_MAX_MEMORY_GB", f"{needed / 2e9:.6g}")
    with pytest.raises(GraphTooLargeError) as err:
        calc.get_potential_energy(ethanol)
    assert f"evaluating the structure (C2H6O, 9 atoms) with the {kind} model" in _one_line(err)


PROPERTY_KINDS = ["schnet", "physnet", "mpnn", "mpnn-transformer", "gnn", "cgcnn", "linear", "krr", "gp"]


@pytest.mark.parametrize("kind", PROPERTY_KINDS)
def test_every_property_kind_checks_its_memory_before_predicting(kind, monkeypatch):
    """Before: property models were evaluated whatever the limit; now each kind's no-gradient estimate is checked
    first, and a molecule needs far less than an energy model's evaluation of it."""
    from mlcalc.testing.property_models import tiny_property_model

    calc = MLCalc(tiny_property_model(kind))
    ethanol = load_molecule("ethanol")
    needed = calc.model.evaluation_bytes(calc._inputs([ethanol]))
    assert 1e3 < needed < 1e7, needed  # no gradients: a molecule under 10 MB
    model_runs = []
    monkeypatch.setattr(calc.model, "forward", lambda *a, **k: model_runs.append(a))
    monkeypatch.setenv("MLCALC_MAX_MEMORY_GB", f"{needed / 2e9:.6g}")
    with pytest.raises(GraphTooLargeError) as err:
        calc.get_property(calc.model.targets[0], ethanol)
    assert model_runs == []  # refused before the model ran
    assert f"evaluating the structure (C2H6O, 9 atoms) with the {kind} model" in _one_line(err)


def test_a_model_with_absurd_weights_is_refused_naming_the_structure_and_the_model(tmp_path):
    """One layer's weights set to 1e30 and the checksum recomputed: finite, but E = -1.76e30 eV was returned."""
    from mlcalc.evaluation import ImplausiblePredictionError
    from mlcalc.modelfile import read_model_file, save_model, write_model_file

    manifest, weights = read_model_file(save_model(tmp_path / "tiny.mlc", tiny_potential("torchmdnet-et")))
    weights["output.output_network.layers.2.weight"] = torch.full_like(
        weights["output.output_network.layers.2.weight"], 1e30)
    del manifest["weights_sha256"]
    broken = write_model_file(tmp_path / "broken.mlc", manifest, weights)
    calc = MLCalc.load(broken)
    ethanol = load_molecule("ethanol")
    ethanol.calc = calc
    with pytest.raises(ImplausiblePredictionError) as err:
        ethanol.get_potential_energy()
    line = _one_line(err)
    assert re.search(rf"{re.escape(str(broken))} \(torchmdnet-et\) predicts an energy of -?\d\.\d+e\+\d\d eV", line)
    assert "for the structure (C2H6O, 9 atoms): no real structure has more than 1e+06 eV per atom or 1e+05 eV/Å" in line
    assert calc.results == {}
    with pytest.raises(ImplausiblePredictionError, match=r"forces up to \d\.\d+e\+\d\d eV/Å for structure 0 \(C2H6O, 9 atoms\)"):
        calc.predict([ethanol, load_molecule("n-propanol")])
    assert np.isfinite(MLCalc.load(tmp_path / "tiny.mlc").get_potential_energy(ethanol))  # the model it came from


def test_batch_size_zero_is_refused(tiny_et):
    with pytest.raises(ValueError) as err:
        tiny_et.predict([load_molecule("ethanol")], batch_size=0)
    assert "batch_size must be at least 1, got 0" in _one_line(err)


def test_md_with_a_property_model_names_the_energy_models(tmp_path):
    from mlcalc.md import MDSettings, run_md

    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc.load("qm9-zpve")
    with pytest.raises(ValueError) as err:
        run_md(atoms, MDSettings(steps=2), tmp_path / "md")
    assert re.search(r"qm9-zpve is a property model \(it predicts zpve\); energy models: .*ethanol-et", _one_line(err))
    assert not (tmp_path / "md").exists()  # refused before the run folder was made


def test_md_and_training_refuse_resume_with_overwrite(tmp_path):
    from mlcalc.md import MDSettings, replica_folders, run_batched_md, run_md
    from mlcalc.potentials.training import train
    from mlcalc.potentials.training.config import TrainConfig

    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc(tiny_potential("torchmdnet-et", elements=(1, 6, 8)))
    with pytest.raises(ValueError) as err:
        run_md(atoms, MDSettings(steps=2), tmp_path / "md", resume=True, overwrite=True)
    assert "MD run" in _one_line(err) and "not both" in str(err.value)
    with pytest.raises(ValueError) as err:
        run_batched_md([atoms] * 2, atoms.calc.model, [MDSettings(steps=2)] * 2, replica_folders(tmp_path / "md", 2),
                       resume=True, overwrite=True)
    assert "MD runs" in _one_line(err) and "not both" in str(err.value)
    config = TrainConfig.model_validate({"name": "x", "data": {"path": "f.extxyz", "train": 2, "val": 1}, "out_dir": str(tmp_path / "t"),
                                         "model": {"kind": "torchmdnet-et"}})
    with pytest.raises(ValueError, match="training run already there .* not both"):
        train(config, resume=True, overwrite=True)
    assert not (tmp_path / "md").exists() and not (tmp_path / "t").exists()
