"""Speed of MLCalc on ethanol, as ratios against GFN2-xTB (tblite) measured in the same run.

Run: make bench   (or: python bench/bench_calculator.py [--repeats N])
Prints ms per energy+forces call and the ratio to the xTB anchor; nothing is asserted.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def per_call(fn, repeats: int) -> float:
    fn()  # warm-up (kernel compilation, caches)
    start = time.perf_counter()
    for _ in range(repeats):
        fn()
    return (time.perf_counter() - start) / repeats * 1000


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=50)
    args = parser.parse_args()

    from mlcalc import MLCalc
    from mlcalc.data.molecules import load_molecule
    from mlcalc.data.xtb import xtb_calculator

    atoms = load_molecule("ethanol")
    rng = np.random.default_rng(0)

    def call(calc):
        def run():
            atoms.positions += rng.normal(scale=1e-3, size=atoms.positions.shape)  # defeat caching
            calc.calculate(atoms, ["energy", "forces"])
        return run

    anchor = per_call(call(xtb_calculator()), args.repeats)
    rows = [("GFN2-xTB (tblite), anchor", anchor)]
    for dtype in (torch.float32, torch.float64):
        rows.append((f"MLCalc ethanol-et {str(dtype)[6:]}", per_call(call(MLCalc.load("ethanol-et", dtype=dtype)),
                                                                     args.repeats)))
    calc = MLCalc.load("ethanol-et")
    frames = [atoms.copy() for _ in range(64)]
    for f in frames:
        f.rattle(0.01, seed=1)
    for batch_size in (1, 16, 64):
        ms = per_call(lambda b=batch_size: calc.predict(frames, batch_size=b), max(1, args.repeats // 10)) / len(frames)
        rows.append((f"MLCalc.predict, batch {batch_size}, per structure", ms))
    print(f"torch threads: {torch.get_num_threads()}")
    print(f"{'what':45s} {'ms/call':>9s} {'x anchor':>9s}")
    for name, ms in rows:
        print(f"{name:45s} {ms:9.2f} {ms / anchor:9.2f}")


if __name__ == "__main__":
    main()
