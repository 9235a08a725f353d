"""`mlcalc explain transfer`: the frames of a transfer study mapped by the energy model's representation,
and the fraction of each molecule's frames outside the source's region."""

import csv
import json

import numpy as np
import pytest
from ase.build import molecule
from ase.io.trajectory import Trajectory
from click.testing import CliRunner

from mlcalc.analysis.explain.novelty import nearest_distances, out_of_distribution
from mlcalc.analysis.explain.transfer_map import transfer_map
from mlcalc.cli import main
from mlcalc.data.molecules import load_molecule
from mlcalc.modelfile import save_model
from mlcalc.testing import tiny_potential


def _rows(path):
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _write_run(path, atoms, frames, seed):
    """``frames`` copies of ``atoms``, each rattled independently (0.05 Å): a stand-in for MD frames."""
    path.mkdir(parents=True)
    with Trajectory(path / "trajectory.traj", "w") as traj:
        for k in range(frames):
            frame = atoms.copy()
            frame.rattle(0.05, seed=seed * 1000 + k)
            traj.write(frame)


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    """A study folder as `mlcalc transfer` leaves it: ethanol (source) and water (a very different target)."""
    out = tmp_path_factory.mktemp("study")
    model = save_model(out / "tiny.mlc", tiny_potential("torchmdnet-et", elements=(1, 6, 8)))
    molecules = {"ethanol": load_molecule("ethanol"), "water": molecule("H2O")}
    for k, (name, atoms) in enumerate(molecules.items()):
        _write_run(out / "md" / name / "reference", atoms, 40, seed=2 * k)
        _write_run(out / "md" / name / "model", atoms, 40, seed=2 * k + 1)
    results = {"source": "ethanol", "model": {"path": str(model)},
               "molecules": {"ethanol": {"role": "source"}, "water": {"role": "target"}}}
    (out / "results.json").write_text(json.dumps(results))
    return out


def test_nearest_distances_skip_the_same_run_within_the_window():
    x = np.arange(6, dtype=float)[:, None]  # one run, frames 0..5 on a line
    keys = np.column_stack([np.zeros(6, int), np.arange(6)])
    np.testing.assert_allclose(nearest_distances(x, x, keys, keys, window=0), 1.0)
    np.testing.assert_allclose(nearest_distances(x, x, keys, keys, window=2), [3, 3, 3, 3, 3, 3])
    other = np.column_stack([np.ones(6, int), np.arange(6)])  # another run: nothing skipped
    np.testing.assert_allclose(nearest_distances(x, x + 0.5, keys, other, window=2), 0.5)
    elements = np.column_stack([keys, [1, 6, 1, 6, 1, 6]])  # third column: neighbours of one element only
    np.testing.assert_allclose(nearest_distances(x, x, elements, elements, window=0), 2.0)


def test_out_of_distribution_is_small_for_the_same_distribution_and_one_far_away():
    rng = np.random.default_rng(0)
    source = rng.normal(size=(400, 4))
    keys = np.column_stack([np.zeros(400, int), np.arange(400)])
    groups = {"same": (rng.normal(size=(200, 4)), np.column_stack([np.ones(200, int), np.arange(200)])),
              "far": (rng.normal(size=(200, 4)) + 6, np.column_stack([np.full(200, 2), np.arange(200)]))}
    same, far = out_of_distribution(source, keys, groups, window=0)
    assert same["ood_95"] < 0.15 and same["ood_99"] < 0.05
    assert far["ood_99"] == 1.0 and far["mean_distance"] > 3 * same["mean_distance"]


def test_explain_transfer_maps_frames_and_finds_the_target_outside(tmp_path, study):
    out = tmp_path / "map"
    result = CliRunner().invoke(main, ["explain", "transfer", str(study), "--runs", "both", "--method", "pca",
                                       "--window", "0", "--out", str(out), "--no-progress"])
    assert result.exit_code == 0, result.output
    rows = _rows(out / "pca.csv")
    assert len(rows) == 160 and list(rows[0]) == ["molecule", "role", "run", "frame", "x", "y"]
    assert [r["molecule"] for r in rows[:80]] == ["ethanol"] * 80  # the source first
    ood = {(r["molecule"], r["run"]): r for r in _rows(out / "ood.csv")}
    assert float(ood["ethanol", "model"]["ood_99"]) < 0.15  # the source's own frames from another run: inside
    assert float(ood["water", "reference"]["ood_99"]) == 1.0 and float(ood["water", "model"]["ood_95"]) == 1.0
    assert (out / "pca.png").stat().st_size > 1000


def test_per_atom_map(tmp_path, study):
    result = transfer_map(study, tmp_path / "a", runs=("reference",), per_atom=True, method="pca", every=4,
                          echo=lambda s: None, progress=False)
    rows = _rows(tmp_path / "a" / "pca.csv")
    assert len(rows) == 10 * 9 + 10 * 3 and result["features"][0] == 120
    assert list(rows[0]) == ["molecule", "role", "run", "frame", "atom", "element", "x", "y"]
    assert [r["element"] for r in rows[:9]] == load_molecule("ethanol").get_chemical_symbols()
    water = [r for r in result["table"] if r["molecule"] == "water"][0]
    assert water["points"] == 30 and 0 <= water["ood_99"] <= 1
    atoms = _rows(tmp_path / "a" / "ood_atoms.csv")
    assert [(r["molecule"], r["atom"], r["element"]) for r in atoms[-3:]] == [("water", "0", "O"), ("water", "1", "H"),
                                                                              ("water", "2", "H")]
    assert len(atoms) == 12 and all(r["points"] == "10" for r in atoms)


@pytest.mark.slow  # UMAP's first call compiles (numba): about 40 s
def test_seeded_umap_of_the_frames_reproduces(tmp_path, study):
    kwargs = dict(runs=("reference", "model"), method="umap", seed=3, every=2, echo=lambda s: None, progress=False)
    transfer_map(study, tmp_path / "a", **kwargs)
    transfer_map(study, tmp_path / "b", **kwargs)
    first = (tmp_path / "a" / "umap.csv").read_text()
    assert first == (tmp_path / "b" / "umap.csv").read_text() and len(first.splitlines()) == 81


def test_explain_transfer_reports_bad_input_in_one_line(tmp_path, study):
    runner = CliRunner()
    result = runner.invoke(main, ["explain", "transfer", str(tmp_path)])
    assert result.exit_code != 0 and "has no results.json" in result.output
    result = runner.invoke(main, ["explain", "transfer", str(study), "--runs", "md"])
    assert result.exit_code != 0 and "'md' is not one of" in result.output
