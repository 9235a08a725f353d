"""Several models' errors on labelled frames, side by side: a transfer study's error table without its MD.

Run: python bench/frame_errors.py --models ethanol-bpnn sevennet-0.mlc chgnet-0.3.0.mlc \\
         --frames ethanol=ethanol-xtb-300K.extxyz n-propanol=n-propanol-xtb-300K.extxyz ... [--per-set 50]
         [--json out.json]

Every model (a shipped name or .mlc file, foundation models converted by ``mlcalc import`` included) is scored
on every frame file (extxyz with energies and forces, e.g. from ``mlcalc data reference``) with
:func:`mlcalc.analysis.model_errors.model_errors`: force MAE (meV/Å) and the energy MAE after removing the
model's constant offset (meV/atom; a foundation model's PBE-like energy zero is such an offset). A model that
lacks an element of a frame set gets "–" (the element is named below the table). Prints one Markdown table
per quantity, then the seconds per model call; nothing is asserted.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="shipped model names or .mlc files")
    parser.add_argument("--frames", nargs="+", required=True, metavar="NAME=FILE", help="labelled frame files")
    parser.add_argument("--per-set", type=int, default=None, metavar="N",
                        help="score N evenly spaced frames of each file (default: all)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--json", default=None, help="also write every number as JSON")
    args = parser.parse_args()
    wall = time.perf_counter()

    from ase.data import chemical_symbols

    from mlcalc import MLCalc
    from mlcalc.analysis.model_errors import model_errors
    from mlcalc.data.structure_files import read_structures

    frames = {}
    for item in args.frames:
        name, sep, path = item.partition("=")
        if not sep:
            raise SystemExit(f"give frames as NAME=FILE, got {item!r}")
        group = read_structures(path)
        if args.per_set and args.per_set < len(group):
            group = [group[int(i)] for i in np.linspace(0, len(group) - 1, args.per_set).round()]
        frames[name] = group
    labels = {m: Path(m).stem if m.endswith(".mlc") else m for m in args.models}
    results: dict[str, dict[str, dict]] = {}
    notes, seconds = [], {}
    for model in args.models:
        calc = MLCalc.load(model, dtype=args.dtype)
        known = set(calc.model.elements)
        results[labels[model]] = {}
        start, calls = time.perf_counter(), 0
        for name, group in frames.items():
            missing = sorted({int(z) for a in group for z in a.numbers} - known)
            if missing:
                notes.append(f"{labels[model]} has no {', '.join(chemical_symbols[z] for z in missing)} ({name})")
                continue
            results[labels[model]][name] = model_errors(calc, group)
            calls += len(group)
        seconds[labels[model]] = (time.perf_counter() - start) / max(calls, 1)

    names = list(frames)
    for key, title, form in (("forces_mae_meV_per_A", "force MAE (meV/Å)", "{:.0f}"),
                             ("energy_mae_offset_removed_meV_per_atom", "energy MAE, offset removed (meV/atom)",
                              "{:.1f}")):
        print(f"\n{title}, {args.dtype}\n")
        print("| model | " + " | ".join(f"{n} ({len(frames[n])})" for n in names) + " |")
        print("|---|" + "---|" * len(names))
        for label, row in results.items():
            print(f"| {label} | " + " | ".join(form.format(row[n][key]) if n in row else "–" for n in names) + " |")
    for note in notes:
        print(f"– {note}")
    print("\nseconds per frame (prediction in batches, all frame sets): "
          + ", ".join(f"{label} {s:.3f}" for label, s in seconds.items()))
    print(f"(wall time {time.perf_counter() - wall:.0f} s)")
    if args.json:
        Path(args.json).write_text(json.dumps({"frames": {n: len(f) for n, f in frames.items()}, "errors": results,
                                               "seconds_per_frame": seconds, "dtype": args.dtype}, indent=1))


if __name__ == "__main__":
    main()
