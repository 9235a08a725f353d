"""Tutorial 5: fine-tune a shipped model for a molecule it never saw (n-propanol), against training from scratch.

Run:  python docs/tutorials/scripts/05_finetune.py --out tutorial-05   (--small: the test suite's size)
The same from the command line: `mlcalc finetune ethanol-bpnn frames.extxyz --k 20 --out DIR` (`--scratch`: the
baseline).
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np

from mlcalc import MLCalc
from mlcalc.data import load_molecule, read_structures
from mlcalc.md import MDSettings, ReferenceSettings, generate_reference, run_md
from mlcalc.potentials.training.finetune import finetune, train_from_scratch

sys.path.insert(0, str(Path(__file__).parent))
from _common import parse_args, save_figure  # noqa: E402


def force_mae(model, frames) -> float:
    """Mean absolute error of the force components (meV/Å) of ``model`` on labelled ``frames``."""
    predicted = MLCalc.load(model).predict(frames)["forces"]
    return 1000 * float(np.mean(np.concatenate([np.abs(p - f.get_forces()).ravel()
                                                for p, f in zip(predicted, frames)])))


def main(out: Path, small: bool = False) -> dict:
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    # 1. GFN2-xTB frames of the new molecule at 500 K: k to train on, the rest to test on
    frames_file = out / "n-propanol.extxyz"
    if not frames_file.exists():
        settings = ReferenceSettings(frames=24 if small else 250, thermalise=100 if small else 2000,
                                     interval=10 if small else 40, temperature=500, seed=0)
        generate_reference(load_molecule("n-propanol"), settings, out=frames_file, progress=False)
    frames = read_structures(frames_file)
    k = 8 if small else 50
    train_frames, test_frames = frames[:k], frames[k:]

    # 2. The shipped ethanol model as it is, fine-tuned on k frames, and its architecture trained from scratch on
    #    the same frames with the same budget of optimiser steps
    steps = 30 if small else 1000
    tuned = finetune("ethanol-bpnn", train_frames, out / "finetuned", steps=steps)
    scratch = train_from_scratch("ethanol-bpnn", train_frames, out / "scratch", steps=steps)
    errors = {"as shipped": force_mae("ethanol-bpnn", test_frames), f"fine-tuned (k={k})": force_mae(tuned, test_frames),
              f"from scratch (k={k})": force_mae(scratch, test_frames)}
    for name, mae in errors.items():
        print(f"{name:22s} force MAE on {len(test_frames)} held-out n-propanol frames: {mae:7.1f} meV/Å")
    fig, ax = plt.subplots(figsize=(5, 3))
    ax.bar(list(errors), list(errors.values()), color=["grey", "tab:blue", "tab:orange"])
    ax.set(ylabel="force MAE (meV/Å)", title=f"n-propanol, {steps} optimiser steps on {k} frames")
    bars = save_figure(fig, out, "05_finetune.png")

    # 3. The fine-tuned model in MD on the new molecule (its manifest names the parent and the frames)
    atoms = load_molecule("n-propanol")
    atoms.calc = MLCalc.load(tuned)
    run = run_md(atoms, MDSettings(steps=100 if small else 20000, timestep=0.5, temperature=300, interval=5),
                 out / "md", overwrite=True)
    print(f"MD with the fine-tuned model: {run.status}, {run.steps_done} steps, "
          f"energy conserved: {run.energy_conservation()['conserved']}")
    return {"errors": errors, "model": tuned, "run": run, "figures": [bars]}


if __name__ == "__main__":
    args = parse_args(__doc__, "tutorial-05")
    main(args.out, small=args.small)
