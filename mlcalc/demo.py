"""``mlcalc demo``: the main path in miniature (data -> training -> model file -> NVE MD).

GFN2-xTB reference frames of ethanol at 500 K, a tiny TorchMD-NET ET trained on
them, then NVE MD of ethanol with the trained model through MLCalc.
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
                 "generate": {"molecule": "ethanol", "frames": 160, "temperature": 500, "seed": 0,
                              "interval": 10.0, "thermalise": 200.0},
                 "train": 120, "val": 20, "test": 20},
        "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                  "hyperparameters": {"hidden_channels": 32, "num_layers": 2, "num_rbf": 16, "num_heads": 4}},
        "optim": {"epochs": 40, "batch_size": 8, "lr": 2e-3, "lr_warmup_steps": 20, "lr_patience": 5},
        "out_dir": out / "model",
        "progress": False,
    })


def run_demo(out: Path, md_steps: int = 400, echo: Callable[[str], None] = print) -> dict:
    """Run the demo into ``out``; returns (and writes ``summary.json``) its headline numbers."""
    from mlcalc import MLCalc
    from mlcalc.data.molecules import load_molecule
    from mlcalc.md import run_nve
    from mlcalc.potentials.training import train

    out = Path(out)
    t0 = time.perf_counter()
    config = demo_config(out)
    echo("1/3 reference data (GFN2-xTB MD of ethanol at 500 K) and training a tiny TorchMD-NET ET ...")
    result = train(config)
    test = result.metrics["test"]
    echo(f"    test energy MAE {test['energy_mae_meV']:.1f} meV, force MAE {test['forces_mae_meV_per_A']:.1f} meV/Å")
    echo(f"2/3 NVE MD of ethanol with the trained model ({md_steps} steps of 0.5 fs from 300 K) ...")
    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc.load(result.model_path)
    nve = run_nve(atoms, md_steps, timestep=0.5, temperature=300, seed=0, log_interval=5,
                  trajectory=out / "nve-ethanol.traj")
    echo(f"    energy drift {nve.drift:+.3f} meV/atom/ps (kinetic energy std {nve.kinetic_std:.2f} meV/atom)")
    summary = {
        "model": str(result.model_path), "data": str(config.data.path), "trajectory": str(out / "nve-ethanol.traj"),
        "test": test, "nve_drift_meV_per_atom_per_ps": nve.drift, "kinetic_std_meV_per_atom": nve.kinetic_std,
        "wall_time_s": round(time.perf_counter() - t0, 1),
    }
    (out / "summary.json").write_text(json.dumps(summary, indent=2))
    echo(f"3/3 done in {summary['wall_time_s']:.0f} s. Outputs in {out}/:")
    for key in ("model", "data", "trajectory"):
        echo(f"    {key:10s} {summary[key]}")
    echo(f"    summary    {out / 'summary.json'}")
    return summary
