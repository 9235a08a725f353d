"""float32 far from the origin: ethanol-et energy and forces of a translated structure against the origin.

Run: python bench/far_from_origin.py [--model ethanol-et] [--offsets 0 1e4 1e6]
For each offset d the structure is translated by (d, d, d) Å (a molecule, and the same
molecule in a periodic 8 Å box) and evaluated in float32; printed: the energy and largest
force-component differences against the float32 and float64 results at the origin. A
translation changes nothing physically, so all differences should be those of float32
round-off (the float32-vs-float64 line at offset 0 is the scale). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from mlcalc import MLCalc
from mlcalc.data import load_molecule


def evaluate(calc: MLCalc, atoms, offset: float) -> tuple[float, np.ndarray]:
    moved = atoms.copy()
    moved.positions = moved.positions + offset
    moved.calc = calc
    return moved.get_potential_energy(), moved.get_forces()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ethanol-et")
    parser.add_argument("--offsets", type=float, nargs="+", default=[0.0, 1e2, 1e4, 1e6])
    args = parser.parse_args()
    start = time.perf_counter()
    f32, f64 = MLCalc.load(args.model, dtype="float32"), MLCalc.load(args.model, dtype="float64")
    molecule = load_molecule("ethanol")
    box = molecule.copy()
    box.cell, box.pbc = np.eye(3) * 8.0, True
    box.positions = box.positions + 4.0
    print(f"{'system':10s} {'offset/Å':>9s} {'|ΔE| vs f32 origin/eV':>22s} {'max|ΔF| vs f32/eV/Å':>20s} "
          f"{'|ΔE| vs f64/eV':>15s} {'max|ΔF| vs f64':>15s}")
    for name, atoms in (("molecule", molecule), ("periodic", box)):
        e32, fo32 = evaluate(f32, atoms, 0.0)
        e64, fo64 = evaluate(f64, atoms, 0.0)
        for offset in args.offsets:
            e, f = evaluate(f32, atoms, offset)
            print(f"{name:10s} {offset:9.0e} {abs(e - e32):22.2e} {np.abs(f - fo32).max():20.2e} "
                  f"{abs(e - e64):15.2e} {np.abs(f - fo64).max():15.2e}")
    print(f"wall time {time.perf_counter() - start:.1f} s (torch {torch.__version__}, "
          f"{torch.get_num_threads()} thread(s))")


if __name__ == "__main__":
    main()
