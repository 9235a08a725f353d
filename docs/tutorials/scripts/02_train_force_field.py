"""Tutorial 2: train a force field on your own extxyz file, then check it: parity of forces, NVE.

Run:  python docs/tutorials/scripts/02_train_force_field.py --out tutorial-02   (--small: the test suite's size)
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
import yaml

from mlcalc import MLCalc
from mlcalc.data import load_molecule, read_structures
from mlcalc.md import MDSettings, ReferenceSettings, generate_reference, run_md
from mlcalc.potentials.training import train
from mlcalc.potentials.training.config import load_config

sys.path.insert(0, str(Path(__file__).parent))
from _common import parse_args, save_figure  # noqa: E402


def main(out: Path, small: bool = False) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # 1. Labelled frames as extxyz (energy in eV, forces in eV/Å). Bring your own file; here we make one with
    #    GFN2-xTB Langevin MD at 500 K (what `mlcalc data reference` does), so that the script runs anywhere.
    frames_file = out / "frames.extxyz"
    if not frames_file.exists():
        settings = ReferenceSettings(frames=60 if small else 1300, thermalise=100 if small else 2000,
                                     interval=10 if small else 40, temperature=500, seed=0)
        generate_reference(load_molecule("ethanol"), settings, out=frames_file, progress=False)
    frames = read_structures(frames_file)
    print(f"{len(frames)} labelled frames in {frames_file}")

    # 2. A training config: the same YAML `mlcalc train CONFIG` reads (docs: Configuration > Training)
    n_train, n_val = (48, 6) if small else (1000, 100)
    config = {
        "name": "my-force-field", "seed": 0,
        "data": {"path": str(frames_file), "train": n_train, "val": n_val},      # test: all the rest
        "model": {"kind": "torchmdnet-et", "cutoff": 5.0,
                  "hyperparameters": {"hidden_channels": 32 if small else 64, "num_layers": 1 if small else 2,
                                      "num_rbf": 16 if small else 32, "num_heads": 2 if small else 8,
                                      "vector_cutoff": True}},
        "optim": {"epochs": 30 if small else 300, "batch_size": 8, "lr": 5e-3 if small else 1e-3,
                  "energy_weight": 0.2, "force_weight": 0.8, "max_minutes": 20},
        "out_dir": str(out / "training"), "progress": False,
    }
    config_file = out / "train.yaml"
    config_file.write_text(yaml.safe_dump(config, sort_keys=False))
    result = train(load_config(config_file), overwrite=True)   # as `mlcalc train train.yaml --overwrite`
    test = result.metrics["test"]
    print(f"model {result.model_path}: test force MAE {test['forces_mae_meV_per_A']:.1f} meV/Å, "
          f"energy MAE {test['energy_mae_meV']:.1f} meV ({test['frames']} frames)")

    # 3. Parity of the force components on the test frames, which the model never saw
    calc = MLCalc.load(result.model_path)
    test_frames = [frames[k] for k in result.split["test"]]
    predicted = calc.predict(test_frames)
    reference = np.concatenate([f.get_forces().ravel() for f in test_frames])
    model = np.concatenate([f.ravel() for f in predicted["forces"]])
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.scatter(reference, model, s=3, alpha=0.5)
    lim = float(np.abs(reference).max()) * 1.05
    ax.plot([-lim, lim], [-lim, lim], color="grey", lw=0.8)
    ax.set(xlabel="GFN2-xTB force (eV/Å)", ylabel="model force (eV/Å)", xlim=(-lim, lim), ylim=(-lim, lim),
           title=f"test force MAE {test['forces_mae_meV_per_A']:.0f} meV/Å")
    parity_figure = save_figure(fig, out, "02_parity.png")

    # 4. NVE with the new model: does it conserve energy? (drift and span against the kinetic-energy spread)
    atoms = frames[0].copy()
    atoms.calc = calc
    run = run_md(atoms, MDSettings(steps=300 if small else 20000, timestep=0.5, temperature=300, ensemble="nve",
                                   interval=5, seed=0), out / "nve", overwrite=True)
    nve = run.energy_conservation()
    print(f"NVE: {run.status}, drift {nve['drift_eV_per_ps'] * 1000:+.3f} meV/ps, span {nve['span_eV'] * 1000:.2f} "
          f"meV against a kinetic-energy std of {nve['kinetic_std_eV'] * 1000:.1f} meV: conserved {nve['conserved']}")
    fig, ax = plt.subplots(figsize=(6, 3))
    for column, label in (("total_eV", "total"), ("potential_eV", "potential"), ("kinetic_eV", "kinetic")):
        ax.plot(run.log["time_ps"], run.log[column] - run.log[column][0], label=label)
    ax.set(xlabel="time (ps)", ylabel="energy change (eV)", title="NVE with the trained model")
    ax.legend()
    nve_figure = save_figure(fig, out, "02_nve.png")
    return {"result": result, "conservation": nve, "run": run, "figures": [parity_figure, nve_figure]}


if __name__ == "__main__":
    args = parse_args(__doc__, "tutorial-02")
    main(args.out, small=args.small)
