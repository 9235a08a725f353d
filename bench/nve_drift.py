"""NVE energy drift of models on molecules (float64, 0.5 fs, 300 K start).

Run: python bench/nve_drift.py [--steps N] [--models NAME_OR_FILE ...] [--molecules NAME_OR_FILE ...]
(default: every shipped model on ethanol). Prints drift (meV/atom/ps), the total-energy
span and the kinetic-energy std (meV/atom): drift × duration should stay far below the std.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--steps", type=int, default=20000)
    parser.add_argument("--models", nargs="+", default=None, help="model files or shipped names (default: all shipped)")
    parser.add_argument("--molecules", nargs="+", default=["ethanol"], help="shipped molecules or structure files")
    args = parser.parse_args()

    from mlcalc import MLCalc
    from mlcalc.data.molecules import load_molecule
    import tempfile

    from mlcalc.md import MDSettings, run_md
    from mlcalc.named_models import available_models

    print(f"{'model':24s} {'molecule':18s} {'ps':>5s} {'drift meV/atom/ps':>18s} {'span meV/atom':>14s} "
          f"{'Ekin std meV/atom':>18s} {'ms/step':>8s}  status")
    runs = [(name, molecule) for name in (args.models or available_models()) for molecule in args.molecules]
    for name, molecule in runs:
        atoms = load_molecule(molecule)
        atoms.calc = MLCalc.load(name, dtype=torch.float64)
        start = time.perf_counter()
        with tempfile.TemporaryDirectory() as out:
            run = run_md(atoms, MDSettings(steps=args.steps, timestep=0.5, temperature=300, seed=0, interval=10), out)
        ms = (time.perf_counter() - start) / max(run.steps_done, 1) * 1000
        span = float(np.ptp(run.log["total_eV"])) * 1000 / len(atoms)
        print(f"{name[-24:]:24s} {molecule[-18:]:18s} {run.log['time_ps'][-1]:5.1f} {run.drift:18.4f} {span:14.3f} "
              f"{run.kinetic_std:18.2f} {ms:8.2f}  {run.status}" + (f" ({run.message})" if run.message else ""))


if __name__ == "__main__":
    main()
