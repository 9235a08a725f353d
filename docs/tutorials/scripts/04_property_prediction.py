"""Tutorial 4: property prediction: the shipped QM9 HOMO model on QM9 molecules, and a crystal model for a CIF folder.

Run:  python docs/tutorials/scripts/04_property_prediction.py --out tutorial-04   (--small: the test suite's size)
Needs the qm9 extra (qm9pack) for part A; QM9 is converted once into $MLCALC_CACHE (default ~/.cache/mlcalc).
"""

from __future__ import annotations

import csv
import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml
from ase.build import bulk

from mlcalc import MLCalc
from mlcalc.data.cif_folder import read_cif
from mlcalc.data.qm9 import load_qm9, qm9_split
from mlcalc.modelfile import read_manifest
from mlcalc.named_models import resolve_model_path
from mlcalc.potentials.training import train
from mlcalc.potentials.training.config import load_config

sys.path.insert(0, str(Path(__file__).parent))
from _common import parse_args, save_figure  # noqa: E402


def parity(ax, reference, predicted, unit: str, title: str) -> None:
    lo, hi = float(min(reference.min(), predicted.min())), float(max(reference.max(), predicted.max()))
    ax.scatter(reference, predicted, s=6, alpha=0.6)
    ax.plot([lo, hi], [lo, hi], color="grey", lw=0.8)
    ax.set(xlabel=f"reference ({unit})", ylabel=f"predicted ({unit})", title=title)


def qm9_homo(out: Path, small: bool) -> dict:
    """Part A: the shipped qm9-homo (PhysNet) on QM9 test molecules it never saw."""
    calc = MLCalc.load("qm9-homo")
    print(f"qm9-homo predicts {calc.targets} in {calc.units}")
    # the test split the model was scored on, from the split its manifest records
    data = read_manifest(resolve_model_path("qm9-homo"))["training"]["data"]
    qm9 = load_qm9()
    rows = qm9_split(len(qm9), data["subset"], data["train_fraction"], data["val_fraction"], data["test_fraction"],
                     data["split_seed"])["test"][: 64 if small else 5000]
    molecules = qm9.structures(rows)
    predicted = calc.predict(molecules, batch_size=64)["homo"]          # eV, one per molecule
    reference = qm9.targets(rows, ["homo"])[:, 0]
    mae = float(np.mean(np.abs(predicted - reference)))
    print(f"HOMO on {len(rows)} QM9 test molecules: MAE {mae:.3f} eV")
    one = molecules[0]
    one.calc = calc
    print(f"one molecule, as an ASE calculator: {one.get_chemical_formula()} HOMO "
          f"{calc.get_property('homo', one):.3f} eV (QM9: {reference[0]:.3f} eV)")
    fig, ax = plt.subplots(figsize=(4, 4))
    parity(ax, reference, predicted, "eV", f"qm9-homo on {len(rows)} test molecules: MAE {mae:.3f} eV")
    return {"mae": mae, "figure": save_figure(fig, out, "04_qm9_homo.png")}


def write_cif_folder(folder: Path, n: int, seed: int = 0) -> Path:
    """A CGCNN data folder (``id_prop.csv`` + ``<id>.cif``) standing in for yours: ``n`` seeded bulk crystals,
    scaled and rattled, labelled with their volume per atom (Å³)."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.cif import CifWriter

    prototypes = [("Cu", "fcc", 3.61), ("Al", "fcc", 4.05), ("Fe", "bcc", 2.87), ("W", "bcc", 3.16),
                  ("NaCl", "rocksalt", 5.64), ("MgO", "rocksalt", 4.21), ("Si", "diamond", 5.43),
                  ("C", "diamond", 3.57), ("ZnS", "zincblende", 5.41)]
    rng = np.random.default_rng(seed)
    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for k in range(n):
        name, kind, a = prototypes[rng.integers(len(prototypes))]
        atoms = bulk(name, kind, a=a * rng.uniform(0.9, 1.1))
        atoms.rattle(0.02, seed=int(rng.integers(1 << 30)))
        CifWriter(AseAtomsAdaptor.get_structure(atoms)).write_file(folder / f"crystal-{k:04d}.cif")
        lines.append(f"crystal-{k:04d},{atoms.get_volume() / len(atoms):.6f}")
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return folder


def cif_folder(out: Path, small: bool) -> dict:
    """Part B: a CGCNN trained on a CIF folder, then used on CIF files."""
    folder = write_cif_folder(out / "cifs", 48 if small else 600)
    config = {
        "name": "my-cgcnn", "seed": 0,
        "data": {"source": "cif_folder", "path": str(folder), "target": "volume", "unit": "Å^3"},
        "model": {"kind": "cgcnn", "cutoff": 6.0,
                  "hyperparameters": {"atom_fea_len": 16, "h_fea_len": 24, "n_conv": 2} if small else {}},
        "optim": {"epochs": 15 if small else 100, "batch_size": 8, "lr": 5e-3, "lr_schedule": "constant"},
        "out_dir": str(out / "cgcnn"), "progress": False,
    }
    (out / "cgcnn.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = train(load_config(out / "cgcnn.yaml"), overwrite=True)     # as `mlcalc train cgcnn.yaml --overwrite`
    print(f"CGCNN: test MAE {result.metrics['test']['volume_mae_Å3']:.3f} Å³ "
          f"(predicting the training mean: {result.metrics['baselines_test']['mean_predictor']['mae']:.3f} Å³)")
    # the test crystals, read from their CIF files and predicted (`mlcalc predict MODEL FOLDER` does the same
    # for a whole folder, as a CSV table)
    with open(out / "cgcnn" / "test_predictions.csv") as fh:
        ids = [row[0] for row in list(csv.reader(fh))[1:]]
    calc = MLCalc.load(result.model_path)
    crystals = [read_cif(folder / f"{name}.cif") for name in ids]
    predicted = calc.predict(crystals)["volume"]
    reference = np.array([c.get_volume() / len(c) for c in crystals])
    fig, ax = plt.subplots(figsize=(4, 4))
    parity(ax, reference, predicted, "Å³", f"CGCNN, {len(ids)} test crystals")
    return {"result": result, "predicted": predicted, "reference": reference,
            "figure": save_figure(fig, out, "04_cgcnn.png")}


def main(out: Path, small: bool = False) -> dict:
    out = Path(out)
    homo = qm9_homo(out, small)
    crystals = cif_folder(out, small)
    return {"homo": homo, "crystals": crystals, "figures": [homo["figure"], crystals["figure"]]}


if __name__ == "__main__":
    args = parse_args(__doc__, "tutorial-04")
    main(args.out, small=args.small)
