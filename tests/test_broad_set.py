"""The broad GFN2-xTB data set: held-out molecules never enter it, Ray gives the in-process frames, a killed
generation resumes exactly, and a general model trained on a few compositions prices a third one."""

import json
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest

pytest.importorskip("tblite")
pytest.importorskip("rdkit")

from mlcalc.data.frame_folder import FrameFolder, read_frame_folder  # noqa: E402
from mlcalc.potentials.training.broad_set import broad_set_settings, generate_broad_set  # noqa: E402
from mlcalc.potentials.training.broad_set.molecules import (  # noqa: E402
    held_out_smiles, sample_molecules, select_molecules)

#: a few cheap frames per molecule: 2 temperatures x 2 frames after 20 steps, 10 steps apart
TINY = {"frames_per_temperature": 2, "temperatures": [300, 600], "thermalise": 20, "interval": 10}


def _rows_of(qm9, smiles_wanted: set[str]) -> dict[int, str]:
    """QM9 rows whose canonical SMILES is in ``smiles_wanted``, searched among the molecules with a wanted
    formula (element counts from the QM9 arrays; RDKit only for those)."""
    from ase.formula import Formula
    from rdkit import Chem
    from rdkit.Chem import rdMolDescriptors

    from mlcalc.data.held_out import canonical_smiles
    from mlcalc.data.qm9_smiles import load_qm9_smiles

    counts = np.stack([np.add.reduceat((qm9.numbers == z).astype(np.int64), qm9.offsets[:-1]) for z in (1, 6, 7, 8)],
                      axis=1)
    wanted = set()
    for s in smiles_wanted:
        c = Formula(rdMolDescriptors.CalcMolFormula(Chem.AddHs(Chem.MolFromSmiles(s)))).count()
        wanted.add(tuple(c.get(e, 0) for e in ("H", "C", "N", "O")))
    qm9_smiles = load_qm9_smiles()
    found = {}
    for row in np.flatnonzero([tuple(c) in wanted for c in counts]):
        smiles = canonical_smiles(str(qm9_smiles[row]))
        if smiles in smiles_wanted:
            found[int(row)] = smiles
    return found


def test_held_out_molecules_are_never_selected(qm9_env, qm9):
    held = held_out_smiles()
    assert held["ethanol"] == "CCO" and held["iso-propanol"] == "CC(C)O" and held["n-propanol"] == "CCCO"
    rows = _rows_of(qm9, set(held.values()))
    found_names = {name for name, s in held.items() if s in rows.values()}
    # QM9 holds every held-out molecule except naphthalene (10 heavy atoms)
    assert {"ethanol", "n-propanol", "iso-propanol", "methyl-ethyl-ether", "uracil", "pyrimidine"} <= found_names
    others = [0, 100, 2000]  # methane and two more, not held out
    skipped: dict[int, str] = {}
    jobs = select_molecules(list(rows) + others, n=len(rows) + len(others), seed=0, skipped=skipped)
    assert len(jobs) == len(others)
    assert not {job.smiles for job in jobs} & set(held.values())
    assert sum(reason.startswith("held out") for reason in skipped.values()) == len(rows)


def test_exclude_adds_smiles_and_the_sample_grows_as_a_prefix(qm9_env):
    first = select_molecules(range(40), n=5, seed=0)
    more = select_molecules(range(40), n=8, seed=0)
    assert [j.key for j in more[:5]] == [j.key for j in first]
    skipped: dict[int, str] = {}
    without = select_molecules(range(40), n=5, seed=0, exclude=(first[0].smiles,), skipped=skipped)
    assert first[0].key not in {j.key for j in without}
    assert "held out" in skipped[first[0].qm9_id]


def test_include_adds_every_matching_molecule_after_the_sample(qm9_env, qm9):
    """``include`` patterns bring in every QM9 molecule with that substructure, after the random sample and
    without the held-out ones (pyrimidine matches its own ring); a resume may add patterns."""
    from rdkit import Chem

    from mlcalc.potentials.training.broad_set import BroadSetSettings

    ring = "c1cncnc1"
    skipped: dict[int, str] = {}
    jobs = sample_molecules(3, seed=0, include=(ring,), skipped=skipped)
    sample = sample_molecules(3, seed=0)
    assert [j.key for j in jobs[:3]] == [j.key for j in sample] and all(j.include is None for j in jobs[:3])
    extra = jobs[3:]
    query = Chem.MolFromSmarts(ring)
    assert len(extra) > 10 and all(j.include == ring for j in extra)
    assert all(Chem.MolFromSmiles(j.smiles).HasSubstructMatch(query) for j in extra)
    assert len({j.key for j in jobs}) == len(jobs)
    assert "held out (pyrimidine)" in skipped.values()
    # the extra molecules follow the seed's order of QM9
    place = {int(qm9.ids[row]): k for k, row in enumerate(np.random.default_rng(0).permutation(len(qm9.ids)))}
    assert [place[j.qm9_id] for j in extra] == sorted(place[j.qm9_id] for j in extra)
    assert BroadSetSettings(include=(ring,)).differences(BroadSetSettings()) == []
    with pytest.raises(ValueError, match="SMARTS pattern 'c1cc\\(' .*benzene"):
        broad_set_settings({"include": ["c1cc("]})


@pytest.fixture(scope="module")
def six_in_process(tmp_path_factory, qm9_cache):
    """The TINY broad set of 6 molecules made in process: what the Ray run and the killed-and-resumed run must give.
    A sample grows as a prefix and each molecule has its own seed: its first 3 molecules are the 3-molecule set."""
    out = tmp_path_factory.mktemp("six-in-process")
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("MLCALC_CACHE", str(qm9_cache))
        generate_broad_set(broad_set_settings({"molecules": 6, **TINY}), out, engine="local", progress=False,
                           echo=lambda s: None)
    return FrameFolder(out)


def _assert_same_shards(folder: FrameFolder, reference: FrameFolder, keys) -> None:
    for key in keys:
        a, b = reference.shard(key), folder.shard(key)
        assert a.keys() == b.keys(), key
        for name in a:
            np.testing.assert_array_equal(a[name], b[name], err_msg=f"{key} {name}")


def test_ray_with_two_workers_gives_the_in_process_frames(qm9_env, tmp_path, six_in_process):
    pytest.importorskip("ray")
    settings = broad_set_settings({"molecules": 3, **TINY})
    summary = generate_broad_set(settings, tmp_path / "ray", engine="ray", workers=2, progress=False,
                                 echo=lambda s: None)
    assert summary.done == 3 and summary.frames == 3 * 4
    ray = FrameFolder(tmp_path / "ray")
    first_three = [job.key for job in sample_molecules(3, settings.seed, settings.max_heavy_atoms, settings.exclude)]
    assert sorted(ray.keys) == sorted(first_three) and set(first_three) <= set(six_in_process.keys)
    _assert_same_shards(ray, six_in_process, ray.keys)


def test_sigterm_under_ray_ends_the_run_cleanly(qm9_env, tmp_path):
    """A SIGTERM while Ray labels ends the process through Python (exit 143, no C++ stack dump that reads as a
    crash) and says how to go on (that a killed run keeps every finished molecule: the test below)."""
    pytest.importorskip("ray")
    out = tmp_path / "terminated"
    command = [sys.executable, "-m", "mlcalc.cli", *_broad_args(out, 40)]
    command[command.index("local")] = "ray"
    run = subprocess.Popen(command + ["--workers", "1"], env={**os.environ, "OMP_NUM_THREADS": "1"},
                           stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    log = out / "generate.log"  # its first line comes once Ray has started and molecules are handed out
    while time.monotonic() < deadline and run.poll() is None and not (log.is_file() and log.read_text()):
        time.sleep(0.05)
    time.sleep(1.0)  # into Ray's wait for the first molecule: an exception raised there became Ray's exit code 1
    assert run.poll() is None, f"the run ended before the signal: {run.stderr.read().decode()[-500:]}"
    run.send_signal(signal.SIGTERM)
    stdout, stderr = (text.decode() for text in run.communicate(timeout=120))
    assert run.returncode == 128 + signal.SIGTERM, stderr[-500:]
    assert "SIGTERM received" not in stderr and "Traceback" not in stderr
    assert "--resume" in stdout and "interrupted" in log.read_text()


def _broad_args(out, molecules: int) -> list[str]:
    return ["data", "broad", "--out", str(out), "--engine", "local", "--molecules", str(molecules), "--no-progress",
            *[f"--set={k}={json.dumps(v)}" for k, v in TINY.items()]]


def _generate_cli(out, molecules: int) -> list[str]:
    return [sys.executable, "-m", "mlcalc.cli", *_broad_args(out, molecules)]


def test_a_killed_generation_resumes_without_duplicate_or_missing_molecules(qm9_env, tmp_path, six_in_process):
    from click.testing import CliRunner

    from mlcalc.cli import main

    out, n = tmp_path / "killed", 6
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    run = subprocess.Popen(_generate_cli(out, n), env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and run.poll() is None:
        if (out / "shards").is_dir() and len(list((out / "shards").glob("*.npz"))) >= 2:
            break
        time.sleep(0.05)
    assert run.poll() is None, f"the run ended before it could be killed: {run.stderr.read().decode()[-500:]}"
    run.send_signal(signal.SIGKILL)
    run.wait()
    interrupted = len(FrameFolder(out).keys)
    assert 2 <= interrupted < n
    refused = CliRunner().invoke(main, _broad_args(out, n))  # in process: the same refusal without a new interpreter
    assert refused.exit_code == 2 and "--resume" in refused.stderr
    subprocess.run(_generate_cli(out, n) + ["--resume"], env=env, check=True, capture_output=True)
    resumed = FrameFolder(out)
    lines = [json.loads(line) for line in (out / "index.jsonl").read_text().splitlines()]
    done = [line["key"] for line in lines if line["status"] == "done"]
    assert len(done) == len(set(done)) == n, "a molecule is missing or was written twice"
    assert sorted(resumed.keys) == sorted(six_in_process.keys)
    _assert_same_shards(resumed, six_in_process, six_in_process.keys)
    assert "already holds" in refused.stderr


def test_a_resume_with_other_settings_is_refused(qm9_env, tmp_path):
    generate_broad_set(broad_set_settings({"molecules": 1, **TINY}), tmp_path, engine="local", progress=False,
                       echo=lambda s: None)
    with pytest.raises(ValueError, match="other settings .*interval"):
        generate_broad_set(broad_set_settings({"molecules": 2, **TINY, "interval": 5}), tmp_path, engine="local",
                           resume=True, progress=False, echo=lambda s: None)
    record = json.loads((tmp_path / "settings.json").read_text())
    record["settings"]["molecules"] = 3  # as if a larger sample had been asked for (and partly labelled)
    (tmp_path / "settings.json").write_text(json.dumps(record))
    with pytest.raises(ValueError, match="molecules=3; a resume may grow the sample, not shrink it"):
        generate_broad_set(broad_set_settings({"molecules": 2, **TINY}), tmp_path, engine="local", resume=True,
                           progress=False, echo=lambda s: None)
    with pytest.raises(ValueError, match="give one"):
        generate_broad_set(broad_set_settings({"molecules": 1, **TINY}), tmp_path, resume=True, overwrite=True)


def test_smiles_molecules_join_the_set_held_out_ones_and_repeats_skipped(qm9_env, tmp_path):
    """Molecules beyond QM9 given as SMILES (a file or the settings): embedded in 3-D with the bonds the SMILES
    says, the same geometry for the same seed, a key from the molecule's identity; naphthalene (held out, written
    in Kekulé form), ethanol and a repeat are passed over, each with its reason."""
    from mlcalc.data.held_out import smiles_of_atoms
    from mlcalc.potentials.training.broad_set.molecules import smiles_jobs

    file = tmp_path / "mine.smi"
    file.write_text("# aromatics\nc1ccc2ncccc2c1 quinoline\nC1=CC=C2C=CC=CC2=C1 naphthalene\n\nCc1ccc2ccccc2c1\n")
    settings = broad_set_settings({"molecules": 0, "smiles": [str(file), "CCO", "c1ccc2ncccc2c1 again"]})
    assert settings.smiles == ("c1ccc2ncccc2c1 quinoline", "C1=CC=C2C=CC=CC2=C1 naphthalene", "Cc1ccc2ccccc2c1",
                               "CCO", "c1ccc2ncccc2c1 again")
    skipped: dict = {}
    jobs = smiles_jobs(settings.smiles, seed=0, skipped=skipped)
    assert [(j.smiles, j.name, j.qm9_id) for j in jobs] == [("c1ccc2ncccc2c1", "quinoline", None),
                                                            ("Cc1ccc2ccccc2c1", None, None)]
    assert skipped == {"C1=CC=C2C=CC=CC2=C1": "held out (naphthalene)", "CCO": "held out (ethanol)",
                       "c1ccc2ncccc2c1": "already in the set"}
    from ase import Atoms

    for job in jobs:
        atoms = Atoms(job.numbers, job.positions)
        assert smiles_of_atoms(atoms) == job.smiles  # hydrogens added, bonds as the SMILES says
        assert job.key.startswith("smi-") and len(job.key) == 16
    again = smiles_jobs(settings.smiles[2:3], seed=0)
    np.testing.assert_array_equal(again[0].positions, jobs[1].positions)
    assert again[0].key == jobs[1].key and again[0].seed == jobs[1].seed
    assert not np.allclose(smiles_jobs(settings.smiles[2:3], seed=1)[0].positions, jobs[1].positions)
    with pytest.raises(ValueError, match="mine.smi, line 2: RDKit cannot parse the SMILES 'c1cc\\('"):
        file.write_text("c1ccccc1\nc1cc( broken\n"), broad_set_settings({"smiles": [str(file)]})
    with pytest.raises(ValueError, match="'\\[CH3\\]' is a radical"):
        broad_set_settings({"smiles": ["[CH3]"]})
    with pytest.raises(ValueError, match="nothing to label"):
        broad_set_settings({"molecules": 0})


def test_smiles_molecules_are_labelled_and_a_resume_adds_but_never_drops_smiles(qm9_env, tmp_path):
    """A set of SMILES molecules only (molecules: 0) is labelled like QM9's and names them in its index;
    a resume with one more SMILES labels just that one; one that leaves a SMILES out is refused."""
    first = broad_set_settings({"molecules": 0, "smiles": ["CC#N acetonitrile"], **TINY})
    lines: list[str] = []
    generate_broad_set(first, tmp_path, engine="local", progress=False, echo=lines.append)
    assert "1 from SMILES" in lines[0]
    more = broad_set_settings({"molecules": 0, "smiles": ["CC#N acetonitrile", "C=CC=O"], **TINY})
    summary = generate_broad_set(more, tmp_path, engine="local", resume=True, progress=False, echo=lines.append)
    assert summary.new_molecules == 1 and summary.done + summary.failed == 2
    index = [json.loads(line) for line in (tmp_path / "index.jsonl").read_text().splitlines()]
    assert [(r["smiles"], r.get("name"), r["qm9_id"]) for r in index] == [("CC#N", "acetonitrile", None),
                                                                          ("C=CC=O", None, None)]
    frames = read_frame_folder(tmp_path)
    assert sorted({len(a) for a in frames}) == [6, 8] and all(np.isfinite(a.get_forces()).all() for a in frames)
    assert "and 2 SMILES" in json.loads((tmp_path / "settings.json").read_text())["source"]
    with pytest.raises(ValueError, match="a resume may add SMILES, not leave any out .*'C=CC=O'"):
        generate_broad_set(broad_set_settings({"molecules": 0, "smiles": ["CC#N"], **TINY}), tmp_path,
                           engine="local", resume=True, progress=False, echo=lines.append)


def test_normal_mode_sampling_keeps_bonds_and_spreads_with_temperature(qm9_env, tmp_path):
    settings = broad_set_settings({"molecules": 2, "sampling": "normal-modes", "frames_per_temperature": 6,
                                   "temperatures": [100, 800]})
    generate_broad_set(settings, tmp_path, engine="local", progress=False, echo=lambda s: None)
    folder = FrameFolder(tmp_path)
    assert len(folder.keys) + len(folder.failures) == 2 and folder.keys
    for _, shard in folder.molecules():
        mean = shard["positions"].mean(axis=0)
        spread = {t: np.sqrt(((shard["positions"][shard["temperature"] == t] - mean) ** 2).sum(-1).mean())
                  for t in (100, 800)}
        assert spread[800] > 1.5 * spread[100]
        assert np.isfinite(shard["forces"]).all()


def test_md_sampling_keeps_the_temperatures_below_a_bond_change(qm9_env, qm9, monkeypatch):
    """Before: a bond that broke at the ladder's top temperature threw the molecule away, its lower-temperature
    frames with it. Now the ladder stops there and keeps what lies below; breaking at the first step fails."""
    import mlcalc.md
    from mlcalc.potentials.training.broad_set.sampling import label_molecule

    real = mlcalc.md.generate_reference
    calls = []

    def breaks_at(hot):
        def generate(state, reference, **kwargs):
            calls.append(reference.temperature)
            frames = real(state, reference, **kwargs)
            if reference.temperature >= hot:  # an atom 3 Å further out: a bond broken in every frame
                for frame in frames:
                    frame.positions[-1] += [3.0, 0.0, 0.0]
            return frames
        return generate

    job = select_molecules([100], n=1, seed=0)[0]
    settings = broad_set_settings({"molecules": 1, **TINY, "temperatures": [300, 600, 900]})
    monkeypatch.setattr(mlcalc.md, "generate_reference", breaks_at(600))
    result = label_molecule(job, settings)
    assert result.failure is None and calls == [300, 600]  # the ladder stopped where the bond broke
    assert result.arrays["temperature"].tolist() == [300.0, 300.0]
    assert result.record["bonds_changed_K"] == 600.0
    assert np.isfinite(result.arrays["forces"]).all()

    calls.clear()
    monkeypatch.setattr(mlcalc.md, "generate_reference", breaks_at(300))
    result = label_molecule(job, settings)
    assert result.arrays is None and result.failure == "its bonds change in md sampling at 300 K" and calls == [300]


# -- a tiny general model: two compositions in training, a third one priced by its atom references ---------

@pytest.fixture(scope="module")
def two_composition_set(tmp_path_factory, qm9_cache):
    """Frames of QM9 molecules of two C/H/O compositions (C2H4O and C3H6O), and of a third one (C2H4O2)."""
    from mlcalc.data.frame_folder import write_shard
    from mlcalc.data.qm9 import load_qm9
    from mlcalc.potentials.training.broad_set.sampling import label_molecule

    os.environ.setdefault("MLCALC_CACHE", str(qm9_cache))
    qm9 = load_qm9(cache=qm9_cache)
    formula = {row: qm9.atoms(row).get_chemical_formula() for row in range(200)}
    settings = broad_set_settings({"molecules": 1, **TINY, "frames_per_temperature": 6})
    folders = {}
    for name, wanted in (("train", ("C2H4O", "C3H6O")), ("third", ("C2H4O2",))):
        rows = [row for row, f in formula.items() if f in wanted]
        folder = tmp_path_factory.mktemp(name)
        (folder / "settings.json").write_text(json.dumps({"reference": "gfn2-xtb", "held_out": held_out_smiles()}))
        for job in select_molecules(rows, n=len(rows), seed=0):
            result = label_molecule(job, settings)
            if result.failure is None:
                write_shard(folder, result.key, result.arrays, result.record)
        folders[name] = folder
    return folders


def test_a_general_model_prices_an_unseen_composition(two_composition_set, tmp_path):
    import torch

    from mlcalc import MLCalc
    from mlcalc.potentials.training.config import TrainConfig
    from mlcalc.md import MDSettings, run_md
    from mlcalc.potentials.training import train
    from mlcalc.testing import finite_difference_forces, symmetry_errors

    train_frames = read_frame_folder(two_composition_set["train"])
    assert {a.get_chemical_formula() for a in train_frames} == {"C2H4O", "C3H6O"}
    n = len(train_frames)
    config = TrainConfig.model_validate({
        "name": "tiny-general", "seed": 0,
        "data": {"path": two_composition_set["train"], "train": n - 8, "val": 4, "test": 4},
        "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                  "hyperparameters": {"hidden_channels": 16, "num_layers": 1, "num_rbf": 8, "num_heads": 2}},
        "optim": {"epochs": 30, "batch_size": 8, "lr": 5e-3}, "out_dir": tmp_path / "run", "progress": False})
    model_path = train(config).model_path
    calc = MLCalc.load(model_path, dtype=torch.float64)
    recorded = calc.manifest["data"]["frame_folder"]
    assert recorded["held_out"]["ethanol"] == "CCO" and recorded["reference"] == "gfn2-xtb"
    assert recorded["split_molecules"]["train"] >= 2
    third = read_frame_folder(two_composition_set["third"])
    errors = np.array([calc.get_potential_energy(a) - a.get_potential_energy() for a in third])
    per_atom = np.abs(errors) / len(third[0])
    # C2H4O2 is about -393 eV: without atom references a model is hundreds of eV off; the isolated atoms
    # alone (the references' starting point) miss its atomisation energy, about 4.8 eV/atom
    from mlcalc.data.isolated_atoms import isolated_atom_energies

    atoms_sum = sum(isolated_atom_energies("gfn2-xtb", [int(z)])[int(z)] for z in third[0].numbers)
    baseline = abs(third[0].get_potential_energy() - atoms_sum) / len(third[0])
    assert baseline > 2
    assert per_atom.max() < min(0.5, baseline / 5), f"unseen composition off by {per_atom.max():.3f} eV/atom"

    atoms = third[0].copy()
    atoms.calc = calc
    for name, err in symmetry_errors(atoms, seed=1).items():
        assert err < 1e-8, f"{name} changed by {err}"
    np.testing.assert_allclose(atoms.get_forces(), finite_difference_forces(atoms, h=1e-4), atol=1e-5)

    start = train_frames[0].copy()
    start.calc = calc
    result = run_md(start, MDSettings(steps=400, timestep=0.25, temperature=300, interval=5), tmp_path / "nve",
                    progress=False)
    assert result.status == "completed"
    assert result.energy_conservation()["conserved"], result.energy_conservation()


def test_a_molecule_split_keeps_each_molecule_in_one_split(two_composition_set, tmp_path):
    from mlcalc.potentials.training.config import TrainConfig
    from mlcalc.potentials.training.train import _training_data

    folder = two_composition_set["train"]
    n = len(FrameFolder(folder).keys)
    config = TrainConfig.model_validate({
        "name": "split", "data": {"path": folder, "train": n - 2, "val": 1, "test": 1, "split": "molecules"},
        "model": {"kind": "torchmdnet-et", "cutoff": 4.0}, "optim": {"epochs": 1}, "out_dir": tmp_path})
    frames, split, lazy = _training_data(config, folder)
    owners = {stage: set(frames.molecule[idx].tolist()) for stage, idx in split.items()}
    assert lazy and [len(owners[s]) for s in ("train", "val", "test")] == [n - 2, 1, 1]
    assert not (owners["train"] & owners["val"]) and not (owners["train"] & owners["test"])
    assert sum(len(idx) for idx in split.values()) == len(frames)
    xyz = tmp_path / "frames.extxyz"
    import ase.io

    ase.io.write(xyz, read_frame_folder(folder, ":4"))
    with pytest.raises(ValueError, match="split: molecules needs a frame folder"):
        _training_data(config.model_copy(update={"data": config.data.model_copy(update={"path": xyz})}), xyz)


def test_a_missing_ray_and_bad_engine_options_are_one_line(monkeypatch):
    import builtins

    from mlcalc.potentials.training.broad_set.executors import make_executor

    real_import = builtins.__import__
    monkeypatch.setattr(builtins, "__import__", lambda name, *a, **k: (_ for _ in ()).throw(ImportError(name))
                        if name == "ray" else real_import(name, *a, **k))
    with pytest.raises(ImportError, match=r"pip install 'mlcalc\[cluster\]' \(or use --engine local\)"):
        make_executor("ray")
    with pytest.raises(ValueError, match="--workers 2 needs --engine ray"):
        make_executor("local", workers=2)
    with pytest.raises(ValueError, match="engines: ray, local"):
        make_executor("dask")


def test_a_warm_start_on_a_larger_set_never_tests_on_its_parents_molecules(two_composition_set, tmp_path):
    """A parent trained on a frame folder; the child trains on a copy with more molecules: without
    data.parent_data it is refused, with it every validation and test molecule is one the parent never saw."""
    import shutil

    from mlcalc.data.frame_folder import write_shard
    from mlcalc.modelfile import save_model
    from mlcalc.potentials.training.config import TrainConfig
    from mlcalc.potentials.training.train import _training_data
    from mlcalc.testing import tiny_potential

    parent_folder, extended = two_composition_set["train"], tmp_path / "extended"
    shutil.copytree(parent_folder, extended)
    third = FrameFolder(two_composition_set["third"])
    for key, arrays in third.molecules():
        write_shard(extended, key, arrays, {})
    parent_keys, keys = set(FrameFolder(parent_folder).keys), FrameFolder(extended).keys
    new = len(keys) - len(parent_keys)
    assert new >= 2
    parent = save_model(tmp_path / "parent.mlc", tiny_potential("torchmdnet-et", elements=(1, 6, 8)),
                        training={"data": {"path": str(parent_folder)}})
    data = {"path": extended, "train": len(keys) - 2, "val": 1, "test": 1, "split": "molecules"}
    config = TrainConfig.model_validate({"name": "child", "init_from": str(parent), "data": data,
                                         "optim": {"epochs": 1}, "out_dir": tmp_path / "run"})
    with pytest.raises(ValueError, match="set data.parent_data: .* so that none of them is a validation or test"):
        _training_data(config, extended)
    config = TrainConfig.model_validate({"name": "child", "init_from": str(parent),
                                         "data": {**data, "parent_data": parent_folder},
                                         "optim": {"epochs": 1}, "out_dir": tmp_path / "run"})
    frames, split, _ = _training_data(config, extended)
    owners = {stage: {keys[row] for row in set(frames.molecule[idx].tolist())} for stage, idx in split.items()}
    assert len(owners["val"]) == len(owners["test"]) == 1 and len(owners["train"]) == len(keys) - 2
    assert not (owners["val"] | owners["test"]) & parent_keys and parent_keys <= owners["train"]
    rest = TrainConfig.model_validate({"name": "child", "init_from": str(parent), "out_dir": tmp_path / "run",
                                       "data": {**{k: v for k, v in data.items() if k != "train"},
                                                "parent_data": parent_folder}})
    assert rest.data.train is None  # train: all the rest after val and test
    _, same, _ = _training_data(rest, extended)
    assert all(np.array_equal(same[stage], split[stage]) for stage in split)
    from mlcalc.data.splits import split_indices

    with pytest.raises(ValueError, match="val=3 test=3 leaves no training item of the 5"):
        split_indices(5, None, 3, 3, seed=0)
    with pytest.raises(ValueError, match="give train or test"):
        TrainConfig.model_validate({"name": "x", "data": {"path": extended, "val": 1}, "out_dir": tmp_path,
                                    "model": {"kind": "torchmdnet-et", "cutoff": 4.0}})
    with pytest.raises(ValueError, match="needs data.split: molecules and init_from"):
        TrainConfig.model_validate({"name": "x", "data": {**data, "parent_data": parent_folder},
                                    "model": {"kind": "torchmdnet-et", "cutoff": 4.0}, "out_dir": tmp_path})
