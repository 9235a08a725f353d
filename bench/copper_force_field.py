"""The copper force field in use: stress against EMT, a FrechetCellFilter relaxation and a short NPT run.

Run: python bench/copper_force_field.py runs/cu-emt-et/cu-emt-et.mlc [--data runs/data/cu-emt.extxyz]
- stress: model against EMT on the data file's test frames (the split of configs/cu_emt_et.yaml);
- relaxation: a 3x3x3 fcc cell (108 atoms) started at a = 3.70 Å, cell and positions relaxed with
  ASE's FrechetCellFilter + FIRE (fmax 1e-3 eV/Å) by the model and by EMT; final lattice constants;
- NPT: ASE's NPTBerendsen at 300 K and 1 bar, 2 fs, ``--npt-steps`` steps from the model's relaxed
  cell, mean lattice constant of the second half (EMT the same run for reference).
The ratio (model/EMT relaxed lattice constant) is printed last; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def relax(atoms, calc, fmax=1e-3):
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE

    atoms = atoms.copy()
    atoms.calc = calc
    opt = FIRE(FrechetCellFilter(atoms), logfile=None)
    opt.run(fmax=fmax, steps=2000)
    return atoms, opt.get_number_of_steps()


def npt(atoms, calc, steps, seed=0):
    from ase import units
    from ase.md.nptberendsen import NPTBerendsen
    from ase.md.velocitydistribution import MaxwellBoltzmannDistribution

    atoms = atoms.copy()
    atoms.calc = calc
    MaxwellBoltzmannDistribution(atoms, temperature_K=300, rng=np.random.default_rng(seed))
    dyn = NPTBerendsen(atoms, timestep=2 * units.fs, temperature_K=300, pressure_au=1.0 * units.bar,
                       taut=100 * units.fs, taup=500 * units.fs, compressibility_au=7e-7 / units.bar)
    lattice, temperature = [], []
    for _ in range(steps):
        dyn.run(1)
        lattice.append((atoms.get_volume() / len(atoms) * 4) ** (1 / 3))
        temperature.append(atoms.get_temperature())
    half = steps // 2
    return float(np.mean(lattice[half:])), float(np.std(lattice[half:])), float(np.mean(temperature[half:]))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model")
    parser.add_argument("--data", default="runs/data/cu-emt.extxyz")
    parser.add_argument("--config", default="configs/cu_emt_et.yaml")
    parser.add_argument("--npt-steps", type=int, default=1000)
    args = parser.parse_args()

    import torch
    from ase.build import bulk
    from ase.calculators.emt import EMT

    from mlcalc import MLCalc
    from mlcalc.potentials.training.config import load_config
    from mlcalc.data.emt_copper import emt_lattice_constant
    from mlcalc.data.structure_files import read_structures
    from mlcalc.data.splits import split_indices

    cfg = load_config(args.config)
    frames = read_structures(args.data)
    d = cfg.data
    test = split_indices(len(frames), d.train, d.val, d.test, d.split_seed)["test"]
    calc = MLCalc.load(args.model, dtype=torch.float64)
    ref, pred = [], []
    for k in test:
        atoms = frames[k]
        if atoms.pbc.all():
            ref.append(atoms.get_stress())
            copy = atoms.copy()
            copy.calc = calc
            pred.append(copy.get_stress())
    ref, pred = np.array(ref), np.array(pred)
    gpa = 160.21766
    print(f"stress on {len(ref)} bulk test frames: MAE {np.abs(pred - ref).mean() * gpa:.3f} GPa "
          f"(reference spread {ref.std() * gpa:.3f} GPa; R^2 "
          f"{1 - ((pred - ref) ** 2).sum() / ((ref - ref.mean()) ** 2).sum():.4f})")

    start_cell = bulk("Cu", "fcc", a=3.70, cubic=True) * (3, 3, 3)
    a_emt = emt_lattice_constant()
    results = {}
    for name, c in (("model", calc), ("EMT", EMT())):
        t0 = time.perf_counter()
        relaxed, steps = relax(start_cell, c)
        a = (relaxed.get_volume() / len(relaxed) * 4) ** (1 / 3)
        results[name] = (relaxed, a)
        print(f"{name}: FrechetCellFilter relaxation from 3.700 Å: a = {a:.4f} Å in {steps} FIRE steps "
              f"({time.perf_counter() - t0:.1f} s)")
    print(f"EMT lattice constant from E(a): {a_emt:.4f} Å")
    for name, c in (("model", calc), ("EMT", EMT())):
        t0 = time.perf_counter()
        mean, spread, temp = npt(results[name][0], c, args.npt_steps)
        print(f"{name}: NPTBerendsen 300 K, 1 bar, {args.npt_steps} x 2 fs: <a> = {mean:.4f} +- {spread:.4f} Å, "
              f"<T> = {temp:.0f} K ({time.perf_counter() - t0:.1f} s)")
    print(f"relaxed lattice constant model / EMT: {results['model'][1] / results['EMT'][1]:.5f}")


if __name__ == "__main__":
    main()
