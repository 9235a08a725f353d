"""Tutorial 5: fine-tune the general model for a molecule it never saw (n-propanol), with held-out frames.

Run:  python docs/tutorials/scripts/05_finetune.py --out tutorial-05   (--small: the test suite's size)
The same from the command line: `mlcalc data reference --molecule n-propanol --frames 70 --interval 140
--temperature 500 --out frames.extxyz` (frames 70 fs apart), then `mlcalc finetune organic-xtb frames.extxyz
--val 20 --out DIR` (`--scratch`: the baseline).
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
from mlcalc.modelfile import read_manifest
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
    # 1. GFN2-xTB frames of the new molecule: a 500 K run to learn from, its frames far apart (70 fs) so that they
    #    cover the conformers it visits (the first k to train on, the last `val` held out: they choose the checkpoint
    #    and estimate its error), and an independent 300 K run, the MD a user wants, as the test set
    k, val = (8, 4) if small else (50, 20)
    runs = {}
    for temperature, seed, n, interval in ((500, 0, k + val, 20 if small else 140), (300, 1, 12 if small else 100, 40)):
        path = out / f"n-propanol-{temperature}K.extxyz"
        if not path.exists():
            settings = ReferenceSettings(frames=n, thermalise=100 if small else 2000, interval=interval,
                                         temperature=temperature, seed=seed)
            generate_reference(load_molecule("n-propanol"), settings, out=path, progress=False)
        runs[temperature] = read_structures(path)
    train_frames, val_frames, test_frames = runs[500][:k], runs[500][k:], runs[300]

    # 2. The general model fine-tuned on the k frames (the val frames held out); the same architecture trained from
    #    scratch on them with the same budget; and the single-molecule ethanol model fine-tuned the same way
    steps = 30 if small else None  # None: the default budget, 100 optimiser steps per frame (here 5,000)
    tuned = finetune("organic-xtb", train_frames + val_frames, out / "finetuned", steps=steps, val=val)
    scratch = train_from_scratch("organic-xtb", train_frames + val_frames, out / "scratch", steps=steps, val=val)
    ethanol = finetune("ethanol-bpnn", train_frames + val_frames, out / "ethanol", steps=steps, val=val)
    errors = {"organic-xtb as shipped": force_mae("organic-xtb", test_frames),
              f"fine-tuned (k={k})": force_mae(tuned, test_frames),
              f"from scratch (k={k})": force_mae(scratch, test_frames),
              f"ethanol-bpnn fine-tuned (k={k})": force_mae(ethanol, test_frames)}
    for name, mae in errors.items():
        print(f"{name:32s} force MAE on {len(test_frames)} frames of a 300 K run: {mae:7.1f} meV/Å")
    estimate = read_manifest(tuned)["metrics"]["val"]["forces_mae_meV_per_A"]
    print(f"the fine-tuned file's own estimate, on its {val} held-out frames: {estimate:7.1f} meV/Å")
    fig, ax = plt.subplots(figsize=(7.5, 3.2))
    bars = ax.barh(list(errors)[::-1], list(errors.values())[::-1], color=["tab:red", "tab:orange", "tab:blue", "grey"])
    ax.bar_label(bars, fmt="%.0f", padding=3, fontsize=8)
    ax.axvline(estimate, color="0.35", ls="--", lw=1, label=f"fine-tuned: estimate\non {val} held-out frames")
    ax.set(xscale="log", xlim=(10, 3 * max(errors.values())),
           xlabel="force MAE on frames of a 300 K run (meV/Å, log scale)",
           title=f"n-propanol, {k} training frames, {read_manifest(tuned)['metrics']['steps']} optimiser steps")
    ax.xaxis.set_minor_formatter(plt.NullFormatter())
    ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8, frameon=False)
    figure = save_figure(fig, out, "05_finetune.png")

    # 3. The fine-tuned model in MD on the new molecule (its manifest names the parent and the frames)
    atoms = load_molecule("n-propanol")
    atoms.calc = MLCalc.load(tuned)
    run = run_md(atoms, MDSettings(steps=100 if small else 20000, timestep=0.5, temperature=300, interval=5),
                 out / "md", overwrite=True)
    print(f"MD with the fine-tuned model: {run.status}, {run.steps_done} steps, "
          f"energy conserved: {run.energy_conservation()['conserved']}")
    return {"errors": errors, "estimate": estimate, "model": tuned, "run": run, "figures": [figure]}


if __name__ == "__main__":
    args = parse_args(__doc__, "tutorial-05")
    main(args.out, small=args.small)
