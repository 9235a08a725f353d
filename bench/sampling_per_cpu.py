"""Which broad-set sampling gives the better model per CPU-second of GFN2-xTB: MD ladder or normal modes?

Run: OMP_NUM_THREADS=1 python bench/sampling_per_cpu.py --md data/broad-md --nms data/broad-nms \
        --targets data/targets/*-300K.extxyz --work runs/sampling-per-cpu [--train-cpu-minutes 20]

Both frame folders come from the same seeded QM9 sample (`mlcalc data broad` with configs/broad_md.yaml
and configs/broad_nms.yaml). The generation budget is the CPU time the MD folder's molecules took
(``--budget-cpu-s`` to set it); from each folder the molecules are taken in the sample's order until
their recorded CPU time reaches it, so both sets cost the same. The same model (``--model``,
default ET 64x2, cutoff 5 Å) is trained on each with the same CPU budget, both at once with one
thread each, then its force MAE is measured on the targets' GFN2-xTB frames (molecules neither set
holds). Resumable: a finished model is reused, an interrupted one resumed. The last line is the
ratio of the normal-mode model's mean force MAE to the MD model's (above 1: MD sampling wins).
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml

MODEL = {"kind": "torchmdnet-et", "cutoff": 5.0,
         "hyperparameters": {"hidden_channels": 64, "num_layers": 2, "num_rbf": 32, "num_heads": 8,
                             "vector_cutoff": True}}


def sample_order(folder: Path) -> list[str]:
    """The keys of the seeded QM9 sample that made ``folder``, in the order they were handed out."""
    from mlcalc.potentials.training.broad_set.molecules import sample_molecules
    from mlcalc.potentials.training.broad_set.settings import BroadSetSettings

    settings = BroadSetSettings(**json.loads((folder / "settings.json").read_text())["settings"])
    return [job.key for job in sample_molecules(settings.molecules, settings.seed, settings.max_heavy_atoms,
                                                settings.exclude)]


def records(folder: Path) -> dict[str, dict]:
    """The finished molecules of a frame folder: key -> its index record."""
    lines = (json.loads(line) for line in (folder / "index.jsonl").read_text().splitlines() if line.strip())
    return {r["key"]: r for r in lines if r.get("status") == "done"}


def within_budget(order: list[str], done: dict[str, dict], budget_s: float) -> list[str]:
    """The first keys of ``order`` that are done, until their CPU time reaches ``budget_s``."""
    chosen, spent = [], 0.0
    for key in order:
        if key in done:
            if spent >= budget_s:
                break
            chosen.append(key)
            spent += done[key]["cpu_s"]
    return chosen


def subset_folder(source: Path, keys: list[str], out: Path) -> Path:
    """A frame folder at ``out`` holding ``keys`` of ``source`` (shards linked, not copied)."""
    done = records(source)
    (out / "shards").mkdir(parents=True, exist_ok=True)
    (out / "settings.json").write_text((source / "settings.json").read_text())
    (out / "index.jsonl").write_text("".join(json.dumps(done[k]) + "\n" for k in keys))
    for key in keys:
        link = out / "shards" / f"{key}.npz"
        if not link.exists():
            link.symlink_to((source / "shards" / f"{key}.npz").resolve())
    return out


def write_config(folder: Path, data: Path, name: str, n_molecules: int, cpu_minutes: float) -> Path:
    """Training config: 90/10 train/validation split by molecule, the same model and budget for both sets."""
    val = max(2, n_molecules // 10)
    config = {"name": name, "seed": 0,
              "data": {"path": str(data.resolve()), "split": "molecules", "train": n_molecules - val, "val": val,
                       "test": 0, "atomref": "isolated_atoms"},
              "model": MODEL,
              "optim": {"epochs": 1000, "batch_size": 16, "lr": 1e-3, "energy_weight": 0.05, "force_weight": 0.95,
                        "lr_patience": 3, "lr_factor": 0.5, "max_cpu_minutes": cpu_minutes},
              "out_dir": str((folder / name).resolve()), "progress": False}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def train_both(configs: dict[str, Path], folder: Path) -> None:
    """Train every config not yet exported, all at once, one thread each (resuming interrupted runs)."""
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    procs = {}
    for name, config in configs.items():
        if (folder / name / f"{name}.mlc").exists():
            continue
        resume = ["--resume"] if (folder / name).exists() else []
        log = open(folder / f"{name}.log", "a")
        procs[name] = subprocess.Popen([sys.executable, "-m", "mlcalc.cli", "train", str(config), *resume],
                                       stdout=log, stderr=subprocess.STDOUT, env=env)
    for name, proc in procs.items():
        if proc.wait() != 0:
            raise SystemExit(f"training {name} failed: see {folder / name}.log")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--md", type=Path, required=True, help="frame folder sampled by MD (broad_md.yaml)")
    parser.add_argument("--nms", type=Path, required=True, help="frame folder sampled by normal modes")
    parser.add_argument("--targets", type=Path, nargs="+", required=True, help="labelled frames to test on")
    parser.add_argument("--work", type=Path, default=Path("runs/sampling-per-cpu"))
    parser.add_argument("--budget-cpu-s", type=float, default=None,
                        help="generation CPU-seconds per set (default: all the MD folder's molecules)")
    parser.add_argument("--train-cpu-minutes", type=float, default=20.0)
    args = parser.parse_args()
    wall = time.perf_counter()
    from mlcalc import MLCalc
    from mlcalc.analysis.model_errors import model_errors
    from mlcalc.data.structure_files import read_structures

    md_done = records(args.md)
    budget = args.budget_cpu_s or sum(r["cpu_s"] for r in md_done.values())
    args.work.mkdir(parents=True, exist_ok=True)
    sets, configs = {}, {}
    for label, source in (("md", args.md), ("nms", args.nms)):
        done = records(source)
        keys = within_budget(sample_order(source), done, budget)
        frames = sum(done[k]["frames"] for k in keys)
        sets[label] = {"molecules": len(keys), "frames": frames, "cpu_s": sum(done[k]["cpu_s"] for k in keys)}
        data = subset_folder(source, keys, args.work / f"data-{label}")
        configs[f"{label}-model"] = write_config(args.work, data, f"{label}-model", len(keys), args.train_cpu_minutes)
        print(f"{label}: {len(keys)} molecules, {frames} frames, {sets[label]['cpu_s']:.0f} CPU-s of GFN2-xTB",
              flush=True)
    train_both(configs, args.work)

    table = {}
    print(f"{'target':28s} {'MD model':>10s} {'NMS model':>10s}   force MAE (meV/Å)")
    for target in args.targets:
        frames = read_structures(target)
        row = {label: model_errors(MLCalc.load(args.work / f"{label}-model" / f"{label}-model.mlc"), frames)
               ["forces_mae_meV_per_A"] for label in ("md", "nms")}
        table[target.name] = row
        print(f"{target.name:28s} {row['md']:10.1f} {row['nms']:10.1f}", flush=True)
    mean = {label: sum(r[label] for r in table.values()) / len(table) for label in ("md", "nms")}
    (args.work / "results.json").write_text(json.dumps({"sets": sets, "force_mae": table, "mean": mean}, indent=2))
    print(f"mean force MAE: MD {mean['md']:.1f}, normal modes {mean['nms']:.1f} meV/Å; wall {time.perf_counter() - wall:.0f} s")
    print(f"normal-mode / MD force MAE at equal generation CPU: {mean['nms'] / mean['md']:.2f}")


if __name__ == "__main__":
    main()
