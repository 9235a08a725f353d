"""The cost of making a model transfer: a source model fine-tuned on k target frames against training from scratch.

Run: python bench/finetune_curve.py [--model ethanol-bpnn] [--target n-propanol] [--ks 10,50,200]
     [--steps N] [--out runs/finetune-curve]
Training frames: the first k of a 500 K GFN2-xTB Langevin run of the target (seed 0); scored on
``--held-out`` frames of another run (seed 1). Prints one row per model (force and energy MAE on
the held-out frames, wall time of the training); the last line is the ratio of the from-scratch
to the fine-tuned force MAE at the largest k. Finished models in ``--out`` are reused.
"""

from __future__ import annotations

import argparse
import json
import logging
import time
from pathlib import Path

import numpy as np


def errors(model, frames) -> tuple[float, float]:
    """Force MAE (meV/Å) and energy MAE (meV per molecule) of ``model`` on labelled ``frames``."""
    from mlcalc import MLCalc

    calc = MLCalc.load(model)
    dF, dE = [], []
    for a in frames:
        atoms = a.copy()
        dF.append(np.abs(calc.get_forces(atoms) - a.get_forces()).mean())
        dE.append(abs(calc.get_potential_energy(atoms) - a.get_potential_energy()))
    return 1000 * float(np.mean(dF)), 1000 * float(np.mean(dE))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ethanol-bpnn")
    parser.add_argument("--target", default="n-propanol")
    parser.add_argument("--ks", default="10,50,200")
    parser.add_argument("--steps", type=int, default=None, help="optimiser steps (default: mlcalc's, per k)")
    parser.add_argument("--held-out", type=int, default=100)
    parser.add_argument("--out", type=Path, default=Path("runs/finetune-curve"))
    args = parser.parse_args()
    logging.getLogger("lightning").setLevel(logging.ERROR)

    from mlcalc.md import nested_subsets, target_training_frames
    from mlcalc.potentials.training.finetune import default_steps, finetune, train_from_scratch

    ks = [int(k) for k in args.ks.split(",")]
    start = time.perf_counter()
    frames = target_training_frames(args.target, max(ks), out=args.out / "frames", seed=0)
    held_out = target_training_frames(args.target, args.held_out, out=args.out / "frames", seed=1)
    print(f"reference frames: {max(ks)} + {args.held_out} held out, {time.perf_counter() - start:.0f} s", flush=True)
    fE = errors(args.model, held_out)
    rows = [{"model": args.model, "k": 0, "force_mae_meV_A": fE[0], "energy_mae_meV": fE[1], "wall_s": 0.0}]
    print(f"{'model':<10} {'k':>4} {'F MAE meV/Å':>12} {'E MAE meV':>10} {'wall s':>7}")
    print(f"{'parent':<10} {0:>4} {fE[0]:12.1f} {fE[1]:10.1f} {0:7.0f}", flush=True)
    for k, subset in nested_subsets(frames, ks).items():
        for label, train in (("finetune", finetune), ("scratch", train_from_scratch)):
            start = time.perf_counter()
            steps = args.steps or default_steps(len(subset))
            path = train(args.model, subset, args.out / "models", steps=steps, source=f"{args.target} 500 K seed 0")
            wall = time.perf_counter() - start
            f, e = errors(path, held_out)
            rows.append({"model": label, "k": k, "force_mae_meV_A": f, "energy_mae_meV": e, "wall_s": wall,
                         "steps": steps})
            print(f"{label:<10} {k:>4} {f:12.1f} {e:10.1f} {wall:7.0f}", flush=True)
    (args.out / "results.json").write_text(json.dumps(rows, indent=2))
    last = [r for r in rows if r["k"] == max(ks)]
    ratio = last[1]["force_mae_meV_A"] / last[0]["force_mae_meV_A"]
    print(f"scratch / fine-tuned force MAE at k={max(ks)}: {ratio:.2f}")


if __name__ == "__main__":
    main()
