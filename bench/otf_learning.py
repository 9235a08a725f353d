"""On-the-fly learning MD against the goals of the issue "on-the-fly learning MD" (docs/RESULTS.md).

For each (model, target) pair: NVE MD at 300 K from the target's shipped geometry, the committee made
from the model learning from GFN2-xTB as it goes (``run_learning_md``; a killed run resumes where it
was), then the learned run scored: did it blow up (a bond past twice its length, a force past 50 eV/Å),
how many reference calls and when (share in the first tenth of the run), the force MAE of the parent
and of the learned committee against GFN2-xTB on ``--eval-frames`` frames drawn evenly from the learned
run (a run of replicas: spread evenly over them), the wall time split, and the cost of plain GFN2-xTB MD of the same length (measured time per call ×
steps). With ``--xtb-md`` the same NVE run (seed, start) with GFN2-xTB itself is run once per target
(kept in OUT/xtb-TARGET) and the learned run is scored against it: the first bond 0.5 Å off its mean
length in the xTB run (``mlcalc.analysis.stability``), the temperature over the second half of each
run, and h(r) MAE. h(r) against the reference's replica noise: the transfer-study option (``learn:``
in a transfer config) runs it with the study's reference runs.

The issue's benchmarks (10 ps each; hours on the 2-core machine, not run here):

    python bench/otf_learning.py --ps 10 --out runs/otf-bench \\
        --pairs ethanol-bpnn:n-propanol,ethanol-bpnn:iso-propanol,ethanol-bpnn:methyl-ethyl-ether,\\
runs/uracil-et/uracil-et.mlc:pyrimidine,runs/uracil-et/uracil-et.mlc:naphthalene

The general model's runs in docs/RESULTS.md (third session; 1 ps, a budget of 20 calls, scored against
GFN2-xTB's own run):

    OMP_NUM_THREADS=1 nice -n 5 python bench/otf_learning.py --ps 1 --eval-frames 20 --xtb-md --max-calls 20 \
        --pairs /work/data/snapshots/organic-xtb-e11.mlc:iso-propanol,\
/work/data/snapshots/organic-xtb-e11.mlc:naphthalene --out runs/otf-general

The learning runs of a transfer study with ``learn:`` (10 ps from the reference's start), scored the same way:

    python bench/otf_learning.py --out runs/otf-study-scores --score \
        organic-xtb:n-propanol:runs/transfer-ethanol-sources/sources/organic-xtb/finetune/n-propanol/on-the-fly

The first demonstration in docs/RESULTS.md (1 ps, one pair, 20 scored frames; add --update-energy conserve
for the settings it had):

    OMP_NUM_THREADS=1 nice -n 5 python bench/otf_learning.py --ps 1 --eval-frames 20 \\
        --pairs ethanol-bpnn:iso-propanol --out runs/otf-demo
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

DEFAULT_PAIRS = ("ethanol-bpnn:n-propanol,ethanol-bpnn:iso-propanol,ethanol-bpnn:methyl-ethyl-ether,"
                 "runs/uracil-et/uracil-et.mlc:pyrimidine,runs/uracil-et/uracil-et.mlc:naphthalene")


def run_pair(model: str, target: str, args, folder: Path | None = None) -> dict:
    """Run (or reuse) the learning run of ``model`` on ``target`` and score it; ``folder``: score the finished
    learning run there instead (a transfer study's ``finetune/<target>/on-the-fly``), made with its own settings."""
    import torch
    from ase.io.trajectory import Trajectory

    from mlcalc.calculator import MLCalc
    from mlcalc.data.molecules import load_molecule
    from mlcalc.data.xtb import xtb_calculator
    from mlcalc.md import LearnSettings, MDSettings
    from mlcalc.potentials.training.on_the_fly import run_learning_md

    torch.set_num_threads(1)
    out = Path(args.out) / f"{Path(model).stem}-{target}" if folder is None else Path(folder)
    if folder is None:
        steps = round(args.ps * 1000 / args.timestep)
        md = MDSettings(steps=steps, timestep=args.timestep, temperature=300, ensemble="nve", interval=10, seed=0)
        learn = LearnSettings(reference="gfn2-xtb", max_calls=args.max_calls, members=args.members,
                              update_energy=args.update_energy)
        done = (out / "learning.json").exists()
        result = run_learning_md(model, load_molecule(target), md, learn, out, resume=out.exists(),
                                 overwrite=False, progress=args.progress) if not done or args.rerun else None
        summary = result.summary if result else json.loads((out / "learning.json").read_text())
    else:
        if not (out / "learning.json").exists():
            raise SystemExit(f"{out} holds no finished learning run (learning.json)")
        summary = json.loads((out / "learning.json").read_text())
        md = MDSettings(**json.loads((out / "learning" / "state.json").read_text())["md"])
        steps = md.steps
    runs = summary["runs"]  # replicas: the scored frames spread evenly over their runs
    run = runs[0]
    frames = []
    for i, each in enumerate(runs):
        n = args.eval_frames // len(runs) + (i < args.eval_frames % len(runs))
        with Trajectory(Path(each["folder"]) / "trajectory.traj") as traj:
            picks = np.unique(np.linspace(0, len(traj) - 1, n).round().astype(int))
            frames += [traj[int(k)] for k in picks]
    reference, parent, learned = [], [], []
    parent_calc, learned_calc = MLCalc.load(model), MLCalc.load(out / "learned.mlc")
    for atoms in frames:
        for calc, store in ((xtb_calculator(), reference), (parent_calc, parent), (learned_calc, learned)):
            copy = atoms.copy()
            copy.calc = calc
            store.append(copy.get_forces())
    mae = {name: float(np.mean([np.abs(f - r).mean() for f, r in zip(forces, reference)])) * 1000
           for name, forces in (("parent", parent), ("learned", learned))}
    calls = np.array(summary["call_steps"])
    quarters = [int(np.sum((calls > steps * q / 4) & (calls <= steps * (q + 1) / 4))) for q in range(4)]
    quarters[0] += int(np.sum(calls == 0))
    scores = _against_xtb(Path(run["folder"]), target, md, args) if args.xtb_md and folder is None else {}
    steps_done = min(each["steps_done"] for each in runs)
    return {**scores, "calls_per_quarter": quarters, "replicas": len(runs),
            "temperature_second_half_K": float(np.mean([_second_half_t(Path(each["folder"])) for each in runs])),
            "update_energy": summary.get("update_energy"), "budget_spent_at_step": summary["budget_spent_at_step"],
            "unlabelled_steps_above_threshold": summary["unlabelled_steps_above_threshold"], "model": model,
            "target": target, "status": ", ".join(each["status"] for each in runs), "message": run["message"],
            "steps_done": steps_done, "ps": steps_done * md.timestep / 1000,
            "reference_calls": summary["reference_calls"], "audits": summary.get("audits"),
            "audit_force_mae_meV_per_A": 1000 * (summary.get("audit_force_mae_eV_per_A") or float("nan")),
            "calls_in_first_tenth": int(np.sum(calls <= steps / 10)), "last_call_step": int(calls.max()),
            "force_mae_parent_meV_per_A": mae["parent"], "force_mae_learned_meV_per_A": mae["learned"],
            "scored_frames": len(frames), "wall_time_s": summary["wall_time_s"],
            "plain_reference_md_estimate_s": summary["plain_reference_md_estimate_s"],
            "drift_meV_per_atom_per_ps": max((each["drift_meV_per_atom_per_ps"] for each in runs), key=abs),
            "threshold": summary["threshold"]}


def _second_half_t(folder: Path) -> float:
    from mlcalc.md import read_energy_log

    t = read_energy_log(folder / "energies.csv")["temperature_K"]
    return float(np.mean(t[len(t) // 2:]))


def _against_xtb(folder: Path, target: str, md, args) -> dict:
    """The plain GFN2-xTB NVE run of the same settings (made once, in OUT/xtb-TARGET), and the learned run scored
    against it: first bond 0.5 Å off the xTB mean, second-half temperatures, h(r) MAE."""
    import time

    from mlcalc.analysis.stability.bonds import run_stability
    from mlcalc.analysis.stability.structure import h_mae, run_distance_histogram
    from mlcalc.data.molecules import load_molecule
    from mlcalc.data.xtb import xtb_calculator
    from mlcalc.md import run_md

    xtb_dir = Path(args.out) / f"xtb-{target}"
    timing = xtb_dir / "wall_s.txt"
    if not timing.exists():
        atoms = load_molecule(target)
        atoms.calc = xtb_calculator()
        t = time.perf_counter()
        run_md(atoms, md, xtb_dir, resume=xtb_dir.exists())
        timing.write_text(f"{time.perf_counter() - t:.2f}\n")
    stability = run_stability(folder, xtb_dir)
    (r, h_run), (_, h_xtb) = run_distance_histogram(folder), run_distance_histogram(xtb_dir)
    return {"bond_broke": stability["broke"], "stable_ps": stability["stable_ps"],
            "xtb_temperature_second_half_K": _second_half_t(xtb_dir), "xtb_md_wall_s": float(timing.read_text()),
            "h_mae_vs_xtb": h_mae(h_run, h_xtb, float(r[1] - r[0]))}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pairs", default=DEFAULT_PAIRS, help="MODEL:TARGET,... (model file or shipped name)")
    parser.add_argument("--ps", type=float, default=10.0, help="length of each run (ps)")
    parser.add_argument("--timestep", type=float, default=0.5, help="fs")
    parser.add_argument("--max-calls", type=int, default=100)
    parser.add_argument("--members", type=int, default=4)
    parser.add_argument("--eval-frames", type=int, default=100, help="frames of the learned run scored against xTB")
    parser.add_argument("--out", default="runs/otf-bench")
    parser.add_argument("--update-energy", default="anchor", choices=("anchor", "conserve", "jump"))
    parser.add_argument("--xtb-md", action="store_true", help="run GFN2-xTB NVE of the same settings and score against it")
    parser.add_argument("--rerun", action="store_true", help="rerun finished pairs (resume them) before scoring")
    parser.add_argument("--progress", action="store_true")
    parser.add_argument("--score", nargs="+", metavar="MODEL:TARGET:FOLDER",
                        help="score finished learning runs instead (a transfer study's finetune/TARGET/on-the-fly "
                             "folders; MODEL: the parent), with their own MD settings")
    args = parser.parse_args()
    if args.score:
        rows = [run_pair(*spec.split(":", 2)[:2], args, Path(spec.split(":", 2)[2])) for spec in args.score]
    else:
        rows = [run_pair(*pair.rsplit(":", 1), args) for pair in args.pairs.split(",") if pair]
    Path(args.out).mkdir(parents=True, exist_ok=True)
    (Path(args.out) / "bench.json").write_text(json.dumps(rows, indent=1))
    print("| model | target | run | calls (first tenth; per quarter) | audits (their MAE) | force MAE parent -> "
          "learned | T 2nd half (xTB run) | bond broke | wall: model / xTB / fit | plain xTB MD |")
    print("|---|---|---|---|---|---|---|---|---|---|")
    for r in rows:
        w = r["wall_time_s"]
        print(f"| {r['model']} | {r['target']} | {r['status']}, {r['ps']:g} ps | {r['reference_calls']} "
              f"({r['calls_in_first_tenth']}; {'/'.join(map(str, r['calls_per_quarter']))}) | "
              f"{r['audits']} ({r['audit_force_mae_meV_per_A']:.0f} meV/Å) | "
              f"{r['force_mae_parent_meV_per_A']:.0f} -> "
              f"{r['force_mae_learned_meV_per_A']:.0f} meV/Å ({r['scored_frames']} frames) | "
              f"{r['temperature_second_half_K']:.0f} K ({r.get('xtb_temperature_second_half_K', float('nan')):.0f} K) | "
              f"{r.get('bond_broke', '?')} | "
              f"{w['model']:.0f} / {w['reference']:.0f} / {w['finetune']:.0f} s of {w['total']:.0f} s | "
              f"{r['plain_reference_md_estimate_s']:.0f} s |")


if __name__ == "__main__":
    main()
