"""Force error of source models on every transfer target: zero-shot, and fine-tuned on K target frames.

Run: OMP_NUM_THREADS=1 python bench/target_errors.py --models organic-xtb ethanol-bpnn \
        --targets data/targets --k 10 --work runs/target-errors

``--targets`` holds, per molecule, ``<molecule>-300K.extxyz`` (GFN2-xTB frames the errors are
measured on; `mlcalc data reference --temperature 300 --seed 0`) and ``<molecule>-500K.extxyz``
(the frames a fine-tune may use: the first K; another seed and temperature, so no test frame is
trained on). Fine-tuning is mlcalc's own (``mlcalc finetune``: by default 100 optimiser steps a frame
at batch 16, at least 1,000, at most 5,000; lr 5e-4; re-referenced to GFN2-xTB); a finished
fine-tune in ``--work`` is reused. Prints force MAE (meV/Å) per target and model; results.json
keeps energies too. The last line is the worst zero-shot and fine-tuned force MAE of the first
model (the general model's goals: 60 and 20).
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", nargs="+", required=True, help="shipped model names or .mlc files")
    parser.add_argument("--targets", type=Path, required=True, help="folder of <molecule>-300K/-500K.extxyz")
    parser.add_argument("--k", type=int, default=10, help="fine-tuning frames (0: zero-shot only)")
    parser.add_argument("--steps", type=int, default=None, help="fine-tuning optimiser steps (default: mlcalc's)")
    parser.add_argument("--stride", type=int, default=1,
                        help="fine-tune on every STRIDE-th frame of the fine-tuning set (K of them; default: the first K)")
    parser.add_argument("--finetune-set", default="500K",
                        help="the fine-tuning frames: <molecule>-SET.extxyz in --targets (default: 500K)")
    parser.add_argument("--lr", type=float, default=None, help="fine-tuning learning rate (default: mlcalc's)")
    parser.add_argument("--work", type=Path, default=Path("runs/target-errors"),
                        help="fine-tuned models (reused by a rerun: another --steps or --lr needs another --work)")
    args = parser.parse_args()
    wall = time.perf_counter()
    from mlcalc import MLCalc
    from mlcalc.analysis.model_errors import model_errors
    from mlcalc.data.structure_files import read_structures
    from mlcalc.potentials.training import finetune as ft

    targets = sorted(p.name[: -len("-300K.extxyz")] for p in args.targets.glob("*-300K.extxyz"))
    if not targets:
        raise SystemExit(f"no <molecule>-300K.extxyz in {args.targets}")
    results: dict = {}
    for model in args.models:
        name = Path(model).stem
        for target in targets:
            test = read_structures(args.targets / f"{target}-300K.extxyz")
            calc = MLCalc.load(model)
            missing = sorted({int(z) for z in test[0].numbers} - {int(z) for z in calc.model.elements})
            if missing:  # a single-molecule source knows only its molecule's elements
                print(f"{name:20s} {target:20s} n/a: the model has no element {missing}", flush=True)
                continue
            row = {"zero_shot": model_errors(calc, test)}
            if args.k:
                out = args.work / f"{name}-{target}-ft{args.k}"
                tuned = out / f"{name}-ft{args.k}.mlc"
                start = time.perf_counter()
                if not tuned.exists():
                    frames = read_structures(args.targets / f"{target}-{args.finetune_set}.extxyz")[:: args.stride][: args.k]
                    if len(frames) < args.k:
                        raise SystemExit(f"{target}: fewer than {args.k} frames at stride {args.stride}")
                    tuned = ft.finetune(model, frames, out, lr=args.lr or ft.DEFAULT_LR, steps=args.steps,
                                        reference="gfn2-xtb", progress=False, name=f"{name}-ft{args.k}")
                row["finetuned"] = {**model_errors(MLCalc.load(tuned), test),
                                    "finetune_wall_s": round(time.perf_counter() - start, 1)}
            results.setdefault(name, {})[target] = row
            tuned_mae = f"{row['finetuned']['forces_mae_meV_per_A']:8.1f}" if args.k else ""
            print(f"{name:20s} {target:20s} zero-shot {row['zero_shot']['forces_mae_meV_per_A']:8.1f}  "
                  f"fine-tuned ({args.k}) {tuned_mae}", flush=True)
    args.work.mkdir(parents=True, exist_ok=True)
    (args.work / "results.json").write_text(json.dumps(results, indent=2))
    first = results[Path(args.models[0]).stem]
    worst_zero = max(r["zero_shot"]["forces_mae_meV_per_A"] for r in first.values())
    worst_tuned = max(r["finetuned"]["forces_mae_meV_per_A"] for r in first.values()) if args.k else float("nan")
    print(f"wall {time.perf_counter() - wall:.0f} s")
    print(f"{Path(args.models[0]).stem}: worst force MAE over {len(first)} targets: zero-shot {worst_zero:.1f}, "
          f"fine-tuned on {args.k} frames {worst_tuned:.1f} meV/Å")


if __name__ == "__main__":
    main()
