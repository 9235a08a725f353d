"""Tutorial 6: simulate a molecule no model was trained on, learning from GFN2-xTB as the MD goes (caffeine).

Run:  python docs/tutorials/scripts/06_learn_on_the_fly.py --out tutorial-06   (--small: the test suite's size)
The same from the command line: `mlcalc md organic-xtb smiles:Cn1c(=O)c2c(ncn2C)n(C)c1=O --learn gfn2-xtb --max-calls 20 --steps 4000
--ensemble nve --out DIR` (`--resume` continues a killed run).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from ase.io.trajectory import Trajectory

from mlcalc import MLCalc
from mlcalc.data import load_molecule
from mlcalc.data.xtb import xtb_calculator
from mlcalc.md import LearnSettings, MDSettings
from mlcalc.potentials.training.on_the_fly import run_learning_md

sys.path.insert(0, str(Path(__file__).parent))
from _common import parse_args, save_figure  # noqa: E402


CAFFEINE = "smiles:Cn1c(=O)c2c(ncn2C)n(C)c1=O"


def force_maes(models: dict[str, str | Path], frames: list) -> dict[str, float]:
    """Force MAE (meV/Å) of each model on ``frames`` against GFN2-xTB (labelled here)."""
    reference = []
    for atoms in frames:
        atoms = atoms.copy()
        atoms.calc = xtb_calculator()
        reference.append(atoms.get_forces())
    return {name: 1000 * float(np.mean(np.abs(np.concatenate(MLCalc.load(model).predict(frames)["forces"])
                                              - np.concatenate(reference))))
            for name, model in models.items()}


def read_log(path: Path) -> np.ndarray:
    """An energy log (energies.csv) or the learning log (learning.csv) as a structured array (text columns: NaN)."""
    return np.genfromtxt(path, delimiter=",", names=True)


def main(out: Path, small: bool = False) -> dict:
    out = Path(out)
    # 1. NVE MD of caffeine (14 heavy atoms: a purine, a ring system the general model never saw) at 300 K with a
    #    committee made from the general model, labelled by GFN2-xTB where the committee disagrees (and at a few
    #    audits where it agrees); RDKit embeds the SMILES in 3-D (seeded)
    atoms = load_molecule(CAFFEINE)
    md = MDSettings(ensemble="nve", steps=80 if small else 4000, timestep=0.5, temperature=300,
                    interval=2 if small else 10, seed=0)
    learn = LearnSettings(reference="gfn2-xtb", max_calls=5 if small else 20, members=2 if small else 4,
                          update_steps=20 if small else 50, max_update_steps=40 if small else 200,
                          calibration_interval=10 if small else 20,
                          min_gap=5 if small else 10, audit=40 if small else 1000)
    where = out / "learn"
    result = run_learning_md("organic-xtb", atoms, md, learn, where, resume=where.exists())
    s = result.summary
    run = result.runs[0]
    wall = s["wall_time_s"]
    print(f"{run.status}: {run.steps_done} steps, {s['reference_calls']} GFN2-xTB calls at steps {s['call_steps']}; "
          f"wall {wall['total']:.0f} s (model {wall['model']:.0f}, reference {wall['reference']:.0f}, "
          f"fine-tuning {wall['finetune']:.0f})")

    # 2. How good is the learned committee? Frames of the run it never labelled, scored against GFN2-xTB
    with Trajectory(Path(run.out_dir) / "trajectory.traj") as trajectory:
        picks = np.unique(np.linspace(1, len(trajectory) - 1, 4 if small else 20).round().astype(int))
        frames = [trajectory[int(k)] for k in picks]
    errors = force_maes({"organic-xtb": "organic-xtb", "learned": result.model}, frames)
    for name, mae in errors.items():
        print(f"{name:12s} force MAE on {len(frames)} frames of the run: {mae:6.1f} meV/Å")

    # 3. The committee's uncertainty along the run, the labels, and the threshold as it was refitted
    log, calls = read_log(Path(run.out_dir) / "energies.csv"), read_log(where / "learning.csv")
    fig, (left, right) = plt.subplots(1, 2, figsize=(9, 3.2), gridspec_kw={"width_ratios": [3, 1]})
    left.plot(log["time_ps"], 1000 * log["uncertainty_eV_per_A"], lw=0.7, color="grey", label="uncertainty")
    end = log["time_ps"][-1]
    left.step(np.append(calls["time_ps"], end), 1000 * np.append(calls["threshold_eV_per_A"],
                                                                 calls["threshold_eV_per_A"][-1]),
              where="post", color="tab:red", label="threshold")
    left.plot(calls["time_ps"], 1000 * calls["uncertainty_eV_per_A"], "o", ms=4, color="tab:blue",
              label="GFN2-xTB call: uncertainty")
    left.plot(calls["time_ps"], 1000 * calls["force_mae_eV_per_A"], "x", ms=5, color="black",
              label="... and force MAE before learning")
    left.set(xlabel="time (ps)", ylabel="force uncertainty, error (meV/Å)", title="caffeine, NVE 300 K")
    left.legend(fontsize=7)
    right.bar(list(errors), list(errors.values()), color=["grey", "tab:blue"])
    right.set(ylabel="force MAE (meV/Å)")
    figure = save_figure(fig, out, "06_learn_on_the_fly.png")
    return {"summary": s, "errors": errors, "run": run, "model": result.model, "figures": [figure]}


if __name__ == "__main__":
    args = parse_args(__doc__, "tutorial-06")
    main(args.out, small=args.small)
