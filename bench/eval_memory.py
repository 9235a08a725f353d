"""Peak memory of one energy + forces evaluation against the model's own estimate (the check before building).

Run: python bench/eval_memory.py [--models ethanol-et,ethanol-tensornet,ethanol-bpnn] [--boxes 5.5:1.0,5.5:1.4]

Each measurement runs in a fresh process: the model is loaded and warmed up on ethanol, then one
``get_forces`` (an energy model) or one ``get_property`` of its first target (a property model, no gradient),
float32, one thread, of a periodic box of jittered grid points (H, C, O in turn)
with side L Å and spacing s Å (``--boxes L:s,...``) is timed, and the process's peak resident memory
(``ru_maxrss``) above its resident memory before the call is compared with
``model.evaluation_bytes`` (:mod:`mlcalc.evaluation`'s memory check). A model is a shipped name,
a ``.mlc`` file, ``tiny:KIND`` (``mlcalc.testing.tiny_potential``'s settings, cutoff 5 Å; hyperparameters changed
by ``tiny:KIND:key=value+key=value``) or ``property:KIND`` (a property model of that kind with its default
hyperparameters, cutoff 5 Å, one target; changed the same way). Prints one row per
model and box: atoms, edges and atoms as the model evaluates them, measured and estimated MB, their ratio.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys


def _box(side: float, spacing: float, seed: int = 0):
    import numpy as np
    from ase import Atoms

    n = int(side // spacing)
    grid = np.stack(np.meshgrid(*[np.arange(n)] * 3, indexing="ij"), -1).reshape(-1, 3) * (side / n)
    jitter = np.random.default_rng(seed).uniform(-0.1, 0.1, grid.shape) * spacing
    numbers = np.array([1, 6, 8])[np.arange(len(grid)) % 3]
    return Atoms(numbers, positions=grid + jitter, cell=np.eye(3) * side, pbc=True)


def _model(name: str):
    from mlcalc import MLCalc

    prefix, _, rest = name.partition(":")
    if prefix in ("tiny", "property"):  # PREFIX:KIND or PREFIX:KIND:key=value+key=value (YAML values)
        import yaml

        kind, _, changes = rest.partition(":")
        hyperparameters = {k: yaml.safe_load(v) for k, v in (c.split("=", 1) for c in changes.split("+") if c)}
        if prefix == "tiny":
            from mlcalc.testing import tiny_potential

            return MLCalc(tiny_potential(kind, elements=(1, 6, 8), cutoff=5.0, **hyperparameters))
        from mlcalc.model import create_model

        return MLCalc(create_model(kind, elements=[1, 6, 7, 8, 9], targets=["homo"], units=["eV"], extensive=[False],
                                   cutoff=5.0, **hyperparameters))
    return MLCalc.load(name)


def _evaluate(calc, atoms) -> None:
    """One evaluation: forces of an energy model, the first target of a property model."""
    if calc.model.family == "property":
        calc.get_property(calc.model.targets[0], atoms)
    else:
        calc.get_forces(atoms)


def measure(model: str, side: float, spacing: float) -> dict:
    """One measurement in this process (call it in a fresh one)."""
    import resource

    import psutil
    import torch

    from mlcalc import keys as K
    from mlcalc.data.molecules import load_molecule

    torch.set_num_threads(1)
    calc = _model(model)
    warm = load_molecule("ethanol")
    if calc.model.periodic:  # a model of periodic systems warms up on ethanol in a 12 Å box
        warm.set_cell([12.0] * 3)
        warm.center()
        warm.pbc = True
    _evaluate(calc, warm)
    atoms = _box(side, spacing)
    inputs = calc._inputs([atoms])
    estimate = calc.model.evaluation_bytes(inputs)
    graph = calc.model.evaluated_graph(inputs)
    before_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    rss = psutil.Process().memory_info().rss
    _evaluate(calc, atoms)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    return {"model": model, "box": f"{side:g}:{spacing:g}", "atoms": len(atoms), "edges": int(inputs[K.EDGE_INDEX].shape[1]),
            "graph": list(graph), "measured_MB": (peak - rss) / 1e6, "estimated_MB": estimate / 1e6,
            "peak_before_MB": before_peak / 1e6, "rss_MB": rss / 1e6}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--models", default="ethanol-et,ethanol-tensornet,ethanol-bpnn")
    p.add_argument("--boxes", default="5.5:1.0,5.5:1.4")
    p.add_argument("--one", nargs=3, help=argparse.SUPPRESS)  # MODEL SIDE SPACING: measure in this process
    args = p.parse_args()
    if args.one:
        print(json.dumps(measure(args.one[0], float(args.one[1]), float(args.one[2]))))
        return
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    print(f"{'model':22s} {'box':9s} {'atoms':>6s} {'edges':>9s} {'evaluated (atoms, edges)':>26s} "
          f"{'measured MB':>12s} {'estimated MB':>13s} {'ratio':>6s}")
    for model in args.models.split(","):
        for box in args.boxes.split(","):
            side, spacing = box.split(":")
            done = subprocess.run([sys.executable, __file__, "--one", model, side, spacing], env=env,
                                  capture_output=True, text=True)
            if done.returncode:
                print(f"{model:22s} {box:9s} failed: {done.stderr.strip().splitlines()[-1:]}")
                continue
            r = json.loads(done.stdout.strip().splitlines()[-1])
            print(f"{r['model']:22s} {r['box']:9s} {r['atoms']:6d} {r['edges']:9d} {str(tuple(r['graph'])):>26s} "
                  f"{r['measured_MB']:12.1f} {r['estimated_MB']:13.1f} {r['estimated_MB'] / r['measured_MB']:6.2f}")


if __name__ == "__main__":
    main()
