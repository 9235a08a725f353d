"""Ethanol's gauche and anti conformers: models against GFN2-xTB, and how a transfer study's runs visit them.

For GFN2-xTB and each model: the anti - gauche energy (meV) after BFGS from the study's start conformers,
the C-C-O angle of each (degrees), and a relaxed scan of the H-O-C-C torsion from anti (180°) to gauche (60°)
with the torsion held by ASE's ``FixInternals`` (meV against anti). With ``--study``, each ethanol run of
that transfer study: the fraction of frames anti (|H-O-C-C| > 120°), the first frame that changes
conformer and the mean C-C-O of each. The last line is the model's anti -> gauche barrier over GFN2-xTB's.

Run:  python bench/ethanol_conformers.py --study runs/transfer-ethanol-replicas [--models ethanol-bpnn ethanol-et]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from ase import Atoms
from ase.constraints import FixInternals
from ase.io import read
from ase.optimize import BFGS

from mlcalc import MLCalc
from mlcalc.data.xtb import xtb_calculator
from mlcalc.md import bonded_pairs

SCAN_DEG = (180, 165, 150, 135, 120, 105, 90, 75, 60)


def torsion_atoms(atoms: Atoms) -> tuple[int, int, int, int]:
    """Indices (H, O, C1, C2) of ethanol's H-O-C-C torsion, from the MD monitors' bonds."""
    pairs = bonded_pairs(atoms)
    z = atoms.numbers

    def bonded(i: int, element: int) -> int:
        return next(int(j) for a, b in pairs for j in ((b,) if a == i else (a,) if b == i else ()) if z[j] == element)

    o = int(np.flatnonzero(z == 8)[0])
    c1 = bonded(o, 6)
    return bonded(o, 1), o, c1, bonded(c1, 6)


def relaxed(atoms: Atoms, calc, fmax: float = 0.005) -> Atoms:
    atoms = atoms.copy()
    atoms.calc = calc
    BFGS(atoms, logfile=None).run(fmax=fmax, steps=500)
    return atoms


def torsion_scan(anti: Atoms, calc, idx: tuple[int, int, int, int]) -> np.ndarray:
    """Energies (meV, against the first point) of the relaxed scan over SCAN_DEG."""
    atoms, energies = anti.copy(), []
    atoms.calc = calc
    for phi in SCAN_DEG:
        atoms.set_constraint()
        atoms.set_dihedral(*idx, phi, indices=[idx[0]])
        atoms.set_constraint(FixInternals(dihedrals_deg=[[phi, list(idx)]]))
        BFGS(atoms, logfile=None).run(fmax=0.01, steps=300)
        energies.append(atoms.get_potential_energy())
    return 1000 * (np.array(energies) - energies[0])


def run_conformers(trajectory: Path) -> str:
    frames = read(trajectory, ":")
    h, o, c1, c2 = torsion_atoms(frames[0])
    phi = np.array([f.get_dihedral(h, o, c1, c2) for f in frames])
    anti = np.abs((phi + 180) % 360 - 180) > 120
    cco = np.array([f.get_angle(c2, c1, o) for f in frames])
    switch = np.flatnonzero(anti != anti[0])
    mean = lambda sel: f"{cco[sel].mean():.1f}" if sel.any() else "-"  # noqa: E731
    return (f"{len(frames)} frames, starts {'anti' if anti[0] else 'gauche'}, anti {anti.mean():.2f}, first change at "
            f"frame {switch[0] if len(switch) else 'never'}, C-C-O anti {mean(anti)} gauche {mean(~anti)}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--study", type=Path, required=True, help="a transfer study's out_dir with ethanol runs")
    parser.add_argument("--models", nargs="+", default=["ethanol-bpnn", "ethanol-et"])
    args = parser.parse_args()
    starts = args.study / "md" / "ethanol" / "starts"
    gauche, anti = read(starts / "r0.xyz"), read(starts / "r2.xyz")
    idx = torsion_atoms(anti)
    barriers = {}
    for name in ["gfn2-xtb", *args.models]:
        make = xtb_calculator if name == "gfn2-xtb" else (lambda n=name: MLCalc.load(n))
        g, a = relaxed(gauche, make()), relaxed(anti, make())
        scan = torsion_scan(a, make(), idx)
        barriers[name] = scan.max()
        print(f"{name}: anti - gauche {1000 * (a.get_potential_energy() - g.get_potential_energy()):.1f} meV; C-C-O "
              f"gauche {g.get_angle(idx[3], idx[2], idx[1]):.1f}, anti {a.get_angle(idx[3], idx[2], idx[1]):.1f} deg; "
              "scan " + " ".join(f"{p}:{e:.0f}" for p, e in zip(SCAN_DEG, scan)))
    for run in sorted((args.study / "md" / "ethanol").glob("*/trajectory.traj")):
        print(f"{run.parent.name}: {run_conformers(run)}")
    for name in args.models:
        print(f"{name} anti->gauche barrier / GFN2-xTB's: {barriers[name] / barriers['gfn2-xtb']:.3f}")


if __name__ == "__main__":
    main()
