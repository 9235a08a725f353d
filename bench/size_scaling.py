"""Cost of an MD step against system size: an mlcalc model against GFN2-xTB on clusters of ethanol molecules.

Run: OMP_NUM_THREADS=1 python bench/size_scaling.py [--model organic-xtb | --random torchmdnet-et:128x4] [--molecules 1 4 16 24 64]
One thread is what the goal is stated for (set OMP_NUM_THREADS=1). A cluster of n ethanol
molecules (9n atoms) sits on a cubic grid 4.5 Å apart, each molecule turned at random
(seed 0). Each size times an energy+forces call of the model through MLCalc (positions
nudged between calls so nothing is cached; median of ``--repeats``) and of GFN2-xTB
(tblite; fewer repeats where one call takes seconds; ``--xtb-limit`` atoms skips larger
ones). An MD step costs one such call plus the integrator's arithmetic. Prints ms per call
and GFN2-xTB / model per size; the last line is the smallest of those ratios at 200 atoms
and beyond (the goal: at least 10). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np


def ethanol_cluster(n: int, spacing: float = 4.5, seed: int = 0):
    """``n`` ethanol molecules on a cubic grid ``spacing`` Å apart, each rotated at random."""
    from ase import Atoms
    from scipy.spatial.transform import Rotation

    from mlcalc.data.molecules import load_molecule

    ethanol = load_molecule("ethanol")
    ethanol.positions -= ethanol.get_center_of_mass()
    side = int(np.ceil(n ** (1 / 3)))
    rng = np.random.default_rng(seed)
    cluster = Atoms()
    for k in range(n):
        grid = np.array([k % side, (k // side) % side, k // side**2]) * spacing
        molecule = ethanol.copy()
        molecule.positions = molecule.positions @ Rotation.random(random_state=rng).as_matrix().T + grid
        cluster += molecule
    return cluster


def median_ms(call, atoms, repeats: int) -> float:
    """Median wall time (ms) of ``call(atoms)`` with the positions nudged by 1e-4 Å before each call."""
    rng = np.random.default_rng(1)
    call(atoms)
    times = []
    for _ in range(repeats):
        atoms.positions += rng.normal(scale=1e-4, size=atoms.positions.shape)
        start = time.perf_counter()
        call(atoms)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", default="ethanol-et", help="shipped model name or .mlc file")
    parser.add_argument("--random", metavar="KIND:HIDDENxLAYERS", default=None,
                        help="time an untrained model of that kind and size on H, C, N, O, F instead (speed does not "
                             "depend on weights), e.g. torchmdnet-et:64x3 or torchmdnet-tensornet:64x2")
    parser.add_argument("--cutoff", type=float, default=5.0, help="cutoff (Å) of the --random model")
    parser.add_argument("--molecules", type=int, nargs="+", default=[1, 4, 16, 24, 64])
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--xtb-limit", type=int, default=600, help="skip GFN2-xTB above this many atoms")
    args = parser.parse_args()
    wall = time.perf_counter()

    import torch

    from mlcalc import MLCalc
    from mlcalc.data.xtb import xtb_calculator

    if args.random:
        from mlcalc.model import create_model

        kind, _, size = args.random.partition(":")
        hidden, layers = (int(v) for v in size.split("x"))
        torch.manual_seed(0)
        extra = {"num_heads": 8 if hidden % 8 == 0 else 2, "vector_cutoff": True} if kind == "torchmdnet-et" else {}
        model = create_model(kind, elements=[1, 6, 7, 8, 9], cutoff=args.cutoff, hidden_channels=hidden,
                             num_layers=layers, **extra)
        calc, name = MLCalc(model), f"untrained {kind} {hidden}x{layers} (cutoff {args.cutoff:g} Å)"
    else:
        calc, name = MLCalc.load(args.model), args.model
    xtb = xtb_calculator()
    print(f"{name} (float32) against GFN2-xTB, torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    print(f"{'atoms':>6} {'model ms':>10} {'GFN2-xTB ms':>12} {'xTB/model':>10}")
    ratios = {}
    for n in args.molecules:
        atoms = ethanol_cluster(n)
        model_ms = median_ms(lambda a: calc.get_forces(a), atoms, args.repeats)
        xtb_ms = None
        if len(atoms) <= args.xtb_limit:
            probe = atoms.copy()
            start = time.perf_counter()
            xtb.get_forces(probe)
            first = time.perf_counter() - start
            repeats = max(1, min(args.repeats, int(10 / max(first, 1e-3))))
            xtb_ms = median_ms(lambda a: xtb.get_forces(a), probe, repeats)
            ratios[len(atoms)] = xtb_ms / model_ms
        shown = f"{xtb_ms:12.1f} {xtb_ms / model_ms:10.1f}" if xtb_ms else f"{'skipped':>12} {'':>10}"
        print(f"{len(atoms):6d} {model_ms:10.2f} {shown}", flush=True)
    large = {k: v for k, v in ratios.items() if k >= 200}
    print(f"wall time {time.perf_counter() - wall:.0f} s")
    if large:
        print(f"GFN2-xTB / {name} at >= 200 atoms: at least {min(large.values()):.1f}x (goal: 10x)")
    else:
        print("no size of 200 atoms or more was timed against GFN2-xTB")


if __name__ == "__main__":
    main()
