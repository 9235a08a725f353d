"""How far do the members that on-the-fly learning makes from one model start from it? Member spread against error.

Run: OMP_NUM_THREADS=1 python bench/committee_spread.py --model organic-xtb --targets data/targets \
        --molecules iso-propanol naphthalene --spreads 0.005 0.01 0.02 0.05

As ``mlcalc md --learn`` starts from one model (``potentials/training/on_the_fly``): the molecule's shipped
geometry is labelled with GFN2-xTB, the model re-referenced on that frame, and ``--members`` copies made with
every weight times 1 + N(0, spread²), each fitted for ``--init-steps`` optimiser steps on that frame
(LearnSettings' defaults otherwise). The committee is then scored on ``<molecule>-300K.extxyz`` of ``--targets``
(GFN2-xTB frames the run has not seen): its mean's force MAE and its force uncertainty (the mean over atoms of the
norm of the per-atom standard deviation, as the run's threshold sees it), beside the parent's force MAE. Prints one
row per molecule and spread; the last line: the smallest spread's committee MAE over the parent's (1: the
committee starts where its parent is). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import copy
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--model", default="organic-xtb", help="shipped model name or .mlc file")
    parser.add_argument("--targets", type=Path, required=True, help="folder of <molecule>-300K.extxyz")
    parser.add_argument("--molecules", nargs="+", default=["iso-propanol", "naphthalene"])
    parser.add_argument("--spreads", type=float, nargs="+", default=[0.005, 0.01, 0.02, 0.05])
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--init-steps", type=int, default=None, help="default: LearnSettings' init_steps")
    parser.add_argument("--frames", type=int, default=50, help="target frames scored (evenly spaced)")
    args = parser.parse_args()
    wall = time.perf_counter()

    from mlcalc import MLCalc
    from mlcalc.data.molecules import load_molecule
    from mlcalc.data.structure_files import read_structures
    from mlcalc.data.xtb import xtb_calculator
    from mlcalc.md.settings import LearnSettings
    from mlcalc.modelfile import load_model
    from mlcalc.named_models import resolve_model_path
    from mlcalc.potentials.training.on_the_fly.committee import start_committee

    steps = args.init_steps or LearnSettings.model_fields["init_steps"].default
    print(f"{args.model}: {args.members} members, {steps} optimiser steps each on the labelled start frame; "
          f"{args.frames} GFN2-xTB 300 K frames per molecule")
    print(f"{'molecule':20s} {'spread':>7s} {'parent MAE':>11s} {'committee MAE':>14s} {'uncertainty':>12s}  (meV/Å)")
    ratio = None
    for molecule in args.molecules:
        frames = read_structures(args.targets / f"{molecule}-300K.extxyz")
        frames = [frames[i] for i in np.linspace(0, len(frames) - 1, min(args.frames, len(frames))).astype(int)]
        reference = np.concatenate([f.get_forces() for f in frames])
        start = load_molecule(molecule)
        start.calc = xtb_calculator()
        start.get_forces()
        parent, manifest = load_model(resolve_model_path(args.model))
        parent_mae = _force_mae(MLCalc(parent).predict(frames)["forces"], reference)
        for spread in sorted(args.spreads):  # the committee exactly as a learning run makes it from the parent
            learn = LearnSettings(reference="gfn2-xtb", members=args.members, spread=spread, init_steps=steps)
            committee, _ = start_committee([copy.deepcopy(parent)], manifest, start, learn)
            out = MLCalc(committee.ensemble).predict(frames)
            mae, uncertainty = _force_mae(out["forces"], reference), 1000 * float(np.mean(out["uncertainty"]))
            print(f"{molecule:20s} {spread:7.3f} {parent_mae:11.1f} {mae:14.1f} {uncertainty:12.1f}", flush=True)
            if spread == min(args.spreads):
                ratio = max(ratio or 0.0, mae / parent_mae)
    print(f"wall {time.perf_counter() - wall:.0f} s")
    print(f"committee / parent force MAE at spread {min(args.spreads):g} (worst molecule): {ratio:.2f}")


def _force_mae(predicted, reference: np.ndarray) -> float:
    """Force MAE in meV/Å of ``predicted`` ([n_atoms, 3] eV/Å, concatenated or a list per structure)."""
    predicted = np.concatenate(predicted) if isinstance(predicted, list) else np.asarray(predicted)
    return 1000 * float(np.abs(predicted - reference).mean())


if __name__ == "__main__":
    main()
