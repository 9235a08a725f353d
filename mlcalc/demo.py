"""``mlcalc demo``: the main path in miniature (data -> training -> model file -> NVE MD).

GFN2-xTB reference frames of ethanol at 500 K, a small TorchMD-NET ET trained on
them, the shipped ``ethanol-et`` checked on the same (independent) test frames, then
NVE MD of ethanol with both models through MLCalc.
"""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Callable

__all__ = ["demo_config", "run_demo"]


def demo_config(out: Path):
    """The embedded default: small enough for a 2-core machine in a few minutes."""
    from mlcalc.config import TrainConfig

    return TrainConfig.model_validate({
        "name": "demo-ethanol-et",
        "seed": 0,
        "data": {"path": out / "data" / "ethanol-xtb-500K.extxyz", "name": "ethanol GFN2-xTB 500 K (demo)",
                 "generate": {"molecule": "ethanol", "frames": 260, "temperature": 500, "seed": 123,
                              "interval": 10.0, "thermalise": 200.0},
                 "train": 200, "val": 20, "test": 40},
        "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                  "hyperparameters": {"hidden_channels": 48, "num_layers": 2, "num_rbf": 16, "num_heads": 4}},
        "optim": {"epochs": 60, "batch_size": 8, "lr": 2e-3, "lr_warmup_steps": 50, "lr_patience": 5},
        "out_dir": out / "model",
        "progress": False,
    })


def run_demo(out: Path, md_steps: int = 400, echo: Callable[[str], None] = print) -> dict:
    """Run the demo into ``out``; returns (and writes ``summary.json``) its headline numbers."""
    from mlcalc import MLCalc
    from mlcalc.data.files import read_structures
    from mlcalc.data.molecules import load_molecule
    from mlcalc.md import MDSettings, run_md
    from torch_geometric.loader import DataLoader

    from mlcalc.potentials.training import test_metrics, train
    from mlcalc.potentials.training.data import GraphDataset

    out = Path(out)
    t0 = time.perf_counter()
    config = demo_config(out)
    echo("1/4 reference data (GFN2-xTB MD of ethanol at 500 K) and training a small TorchMD-NET ET ...")
    result = train(config)
    test = result.metrics["test"]
    echo(f"    fresh model: test energy MAE {test['energy_mae_meV']:.1f} meV, "
         f"force MAE {test['forces_mae_meV_per_A']:.1f} meV/Å")

    echo("2/4 the shipped ethanol-et on the same test frames (an independent GFN2-xTB run) ...")
    frames = read_structures(config.data.path)
    shipped = MLCalc.load("ethanol-et")
    test_set = GraphDataset([frames[i] for i in result.split["test"]], cutoff=shipped.model.cutoff)
    shipped_test = test_metrics(shipped.model, DataLoader(test_set, batch_size=32))
    echo(f"    shipped model: energy MAE {shipped_test['energy_mae_meV']:.1f} meV, "
         f"force MAE {shipped_test['forces_mae_meV_per_A']:.1f} meV/Å")

    echo(f"3/4 NVE MD of ethanol with both models ({md_steps} steps of 0.5 fs from 300 K) ...")
    nve = {}
    for name, calc in (("fresh", MLCalc.load(result.model_path)), ("shipped", shipped)):
        atoms = load_molecule("ethanol")
        atoms.calc = calc
        run = run_md(atoms, MDSettings(steps=md_steps, timestep=0.5, temperature=300, seed=0, interval=5),
                     out / f"nve-ethanol-{name}")
        nve[name] = {"drift_meV_per_atom_per_ps": run.drift, "kinetic_std_meV_per_atom": run.kinetic_std}
        echo(f"    {name:8s} energy drift {run.drift:+.3f} meV/atom/ps "
             f"(kinetic energy std {run.kinetic_std:.2f} meV/atom)")
    summary = {
        "model": str(result.model_path), "data": str(config.data.path),
        "trajectories": [str(out / f"nve-ethanol-{name}" / "trajectory.traj") for name in nve],
        "fresh_model_test": test, "shipped_model_test": shipped_test, "nve": nve,
        "wall_time_s": round(time.perf_counter() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    echo(f"4/4 done in {summary['wall_time_s']:.0f} s. Outputs in {out}/:")
    echo(f"    model        {summary['model']}")
    echo(f"    data         {summary['data']}")
    for path in summary["trajectories"]:
        echo(f"    trajectory   {path}")
    echo(f"    summary      {out / 'summary.json'}")
    return summary
