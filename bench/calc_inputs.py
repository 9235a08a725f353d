"""MLCalc's per-call input work on an MD-like sequence: checks, neighbor pairs, tensors (no model).

Run: python bench/calc_inputs.py [--calls 3000] [--dtype float32]

Ethanol moved by small random steps (0.01 Å rms per call, as MD at 0.5 fs), one MLCalc
(an untrained ET 32×2; the model is not run): median µs of ``MLCalc._inputs`` (input
checks, close-contact check, neighbor pairs from the cache, tensors), and of the vesin
close-contact search alone for comparison. Prints the input time per call last.
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--calls", type=int, default=3000)
    p.add_argument("--dtype", choices=["float32", "float64"], default="float32")
    args = p.parse_args()
    from mlcalc import MLCalc
    from mlcalc.data.molecules import load_molecule
    from mlcalc.graph import neighbor_pairs
    from mlcalc.testing import tiny_potential

    calc = MLCalc(tiny_potential(hidden_channels=32, num_layers=2), dtype=getattr(torch, args.dtype))
    atoms = load_molecule("ethanol")
    rng = np.random.default_rng(0)
    start = atoms.positions.copy()
    inputs, search = [], []
    for k in range(args.calls):
        atoms.positions = start + rng.normal(scale=0.01, size=start.shape) * np.sqrt(k % 50)
        t0 = time.perf_counter()
        calc._inputs([atoms])
        t1 = time.perf_counter()
        neighbor_pairs(atoms.positions, atoms.cell.array, atoms.pbc, calc.min_distance)
        t2 = time.perf_counter()
        inputs.append(t1 - t0)
        search.append(t2 - t1)
    print(f"vesin close-contact search alone      {1e6 * statistics.median(search):7.1f} µs")
    print(f"neighbor searches by the cache: {calc.neighbors.builds} in {args.calls} calls")
    print(f"MLCalc._inputs per call (median)       {1e6 * statistics.median(inputs):7.1f} µs")


if __name__ == "__main__":
    main()
