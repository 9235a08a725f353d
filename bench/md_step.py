"""Cost of an MD step on ethanol: MLCalc and batched TorchSim MD against the bare model and GFN2-xTB.

Run: python bench/md_step.py [--model ethanol-et ...] [--replicas 1 8 64 256] [--repeats 30] [--compile]
``--model`` takes energy model files and shipped names, converted foundation models included (``mlcalc
import sevenn:SevenNet-0 --out sevennet-0.mlc`` and ``chgnet:0.3.0``, then ``--model ethanol-bpnn
sevennet-0.mlc chgnet-0.3.0.mlc``): each is timed the same way in turn, on mlcalc's graph and mlcalc's
TorchSim model (replicas of ethanol in one batch), then a table puts them side by side.
One process, the threads torch has (use OMP_NUM_THREADS=1 for one thread); medians of
interleaved calls. Prints, in ms: the bare model's forward+backward on a prebuilt graph (as its
kind runs it for inference: TorchScript for ``bpnn``, whose eager time is printed too), an MLCalc energy+forces call, an ASE velocity Verlet step with MLCalc, GFN2-xTB (tblite);
then per replica count the bare batched forward+backward per molecule, a TorchSim step per
molecule (stepper alone) and through the run folders (``run_batched_md``: files, monitors),
and molecule-steps per second against the ASE loop; with several models, one row each. ``--compile`` also times
``torch.compile`` and TorchScript of the bare model (and says how they fail). The ratios
come last, the anchor last of all: the best batch's molecule-step against GFN2-xTB timed in the same
model's interleaved calls (one line per model); nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def median_ms(fns: dict, repeats: int) -> dict[str, float]:
    """Median wall time (ms) of each callable, calls interleaved round-robin after one warm-up each."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            start = time.perf_counter()
            fn()
            times[name].append((time.perf_counter() - start) * 1000)
    return {name: statistics.median(t) for name, t in times.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--model", nargs="+", default=["ethanol-et"],
                        help="shipped model names or .mlc files; several are timed in turn, then side by side")
    parser.add_argument("--random-et", metavar="HIDDENxLAYERS", default=None,
                        help="time an untrained ET of that size instead (e.g. 32x2; speed does not depend on weights)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--folder-steps", type=int, default=20, help="steps of each run_batched_md timing")
    parser.add_argument("--compile", action="store_true", help="also try torch.compile and TorchScript")
    args = parser.parse_args()
    wall = time.perf_counter()

    dtype = getattr(torch, args.dtype)
    print(f"models {', '.join(args.model) if not args.random_et else 'untrained ET ' + args.random_et} "
          f"({args.dtype}), torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    if args.random_et:
        from mlcalc.model import create_model

        hidden, layers = (int(v) for v in args.random_et.split("x"))
        torch.manual_seed(0)
        source = create_model("torchmdnet-et", elements=[1, 6, 8], cutoff=5.0, hidden_channels=hidden,
                              num_layers=layers, num_heads=8 if hidden % 8 == 0 else 2, vector_cutoff=True)
        sources = {f"untrained ET {args.random_et}": source}
    else:
        sources = {Path(name).stem if name.endswith(".mlc") else name: name for name in args.model}
    timings = {label: time_model(label, source, args, dtype) for label, source in sources.items()}

    if len(timings) > 1:
        print_side_by_side(timings)
    print(f"(benchmark wall time {time.perf_counter() - wall:.0f} s)")
    for label, t in timings.items():  # the anchor ratio last: GFN2-xTB timed in the same run, interleaved
        n, _, _, folder, _ = min(t["rows"], key=lambda r: r[3])
        print(f"ML molecule-step / GFN2-xTB step, {n:3d} replicas {folder / t['single']['xtb']:6.3f}  (< 0.5)"
              + (f"  {label}" if len(timings) > 1 else ""))


def time_model(label: str, source, args, dtype: torch.dtype) -> dict:
    """Time one model (file, shipped name or model object): one ethanol through MLCalc and ASE, then batched
    TorchSim replicas; prints its tables and ratios and returns its timings (ms)."""
    from ase import units
    from ase.md.verlet import VelocityVerlet

    from mlcalc import MLCalc
    from mlcalc.data.molecules import load_molecule
    from mlcalc.data.xtb import xtb_calculator
    from mlcalc.derivatives import energy_forces_stress, model_inputs
    from mlcalc.graph import atoms_to_batch
    from mlcalc.md import MDSettings, initialise_velocities, replica_settings, run_batched_md
    from mlcalc.md.torchsim_model import TorchSimModel
    from mlcalc.md.torchsim_stepper import TorchSimStepper

    calc = MLCalc(source, dtype=dtype) if not isinstance(source, str) else MLCalc.load(source, dtype=dtype)
    model = calc.model
    parameters = sum(p.numel() for p in model.parameters())
    kind = calc.manifest.get("kind") if getattr(calc, "manifest", None) else type(model).__name__
    print(f"\n== {label}: kind {kind}, {parameters} parameters, cutoff {model.cutoff:g} Å")
    ethanol = load_molecule("ethanol")
    rng = np.random.default_rng(0)

    # -- one system ---------------------------------------------------------------------------
    inputs = model_inputs(atoms_to_batch([ethanol], cutoff=model.cutoff, dtype=dtype, labels=False))
    moving = ethanol.copy()

    def mlcalc_call():
        moving.positions += rng.normal(scale=1e-3, size=moving.positions.shape)  # defeat ASE's cache
        calc.calculate(moving, ["energy", "forces"])

    md_atoms = ethanol.copy()
    md_atoms.calc = MLCalc(model, dtype=dtype)
    initialise_velocities(md_atoms, 300, seed=0)
    verlet = VelocityVerlet(md_atoms, 0.5 * units.fs)
    xtb, xtb_atoms = xtb_calculator(), ethanol.copy()

    def xtb_call():
        xtb_atoms.positions += rng.normal(scale=1e-3, size=xtb_atoms.positions.shape)
        xtb.calculate(xtb_atoms, ["energy", "forces"])

    calls = {"bare": lambda: energy_forces_stress(model, inputs), "mlcalc": mlcalc_call,
             "ase_step": lambda: verlet.run(1), "xtb": xtb_call}
    compiled = model.inference_module() is not model
    if compiled:  # the kind runs a compiled module for inference: time the eager model too
        calls["eager"] = lambda: energy_forces_stress(model.forward, inputs)  # a bound method: never compiled
    single = median_ms(calls, args.repeats)
    print(f"\n{'one ethanol':52s} {'ms':>8s}")
    if compiled:
        print(f"{'bare model, eager (the kind compiles it for inference)':52s} {single['eager']:8.2f}")
    for name, text in (("bare", "bare model forward+backward (prebuilt graph)"),
                       ("mlcalc", "MLCalc energy+forces call"), ("ase_step", "ASE velocity Verlet step with MLCalc"),
                       ("xtb", "GFN2-xTB (tblite) energy+forces call")):
        print(f"{text:52s} {single[name]:8.2f}")
    print(f"(MLCalc neighbor searches: {md_atoms.calc.neighbors.builds} in "
          f"{args.repeats + 1} ASE steps)")

    # -- batches ------------------------------------------------------------------------------
    ts_model = TorchSimModel(model, dtype=dtype)
    settings = MDSettings(steps=args.folder_steps, timestep=0.5, temperature=300, interval=10)
    rows = []
    for n in args.replicas:
        frames = []
        for k in range(n):
            atoms = ethanol.copy()
            initialise_velocities(atoms, 300, seed=k)
            frames.append(atoms)
        batch = model_inputs(atoms_to_batch(frames, cutoff=model.cutoff, dtype=dtype, labels=False))
        stepper = TorchSimStepper(frames, ts_model, settings)
        reps = max(3, args.repeats * 8 // max(n, 8))
        t = median_ms({"bare": lambda: energy_forces_stress(model, batch), "step": stepper.step}, reps)
        with tempfile.TemporaryDirectory() as out:
            folders = [f"{out}/{k}" for k in range(n)]
            start = time.perf_counter()
            results = run_batched_md([ethanol] * n, ts_model, replica_settings(settings, n), folders)
            folder_ms = (time.perf_counter() - start) * 1000 / args.folder_steps
        status = {r.status for r in results}
        rows.append((n, t["bare"] / n, t["step"] / n, folder_ms / n, status))
    print(f"\n{'replicas':>8s} {'bare fwd+bwd':>13s} {'TorchSim step':>14s} {'with folders':>13s} "
          f"{'mol-steps/s':>12s} {'x ASE loop':>11s}  (ms per molecule)")
    ase_rate = 1000 / single["ase_step"]
    for n, bare, step, folder, status in rows:
        rate = 1000 / folder
        print(f"{n:8d} {bare:13.3f} {step:14.3f} {folder:13.3f} {rate:12.1f} {rate / ase_rate:11.2f}  "
              f"{','.join(sorted(status))}")
    print(f"{'ASE loop':>8s} {'':13s} {'':14s} {single['ase_step']:13.3f} {ase_rate:12.1f} {1.0:11.2f}")

    if args.compile:
        try_compiled(model, inputs, single["bare"], args.repeats)

    print("\nratios (goal in brackets)")
    print(f"MLCalc call / bare model                        {single['mlcalc'] / single['bare']:6.3f}  (<= 1.05)")
    print(f"ASE step with MLCalc / bare model               {single['ase_step'] / single['bare']:6.3f}")
    for n, bare, step, folder, _ in rows:
        print(f"batched step / bare batched, {n:3d} replicas       {step / bare:6.3f}  (<= 1.2); "
              f"with folders {folder / bare:6.3f}")
    print(f"ML step / GFN2-xTB step, one system             {single['ase_step'] / single['xtb']:6.3f}  (< 1)")
    return {"kind": kind, "parameters": parameters, "single": single, "rows": rows}


def print_side_by_side(timings: dict) -> None:
    """One row per model: ms per molecule-step through ASE and in each TorchSim batch (run folders included), and
    the best batch against GFN2-xTB timed in the same model's interleaved calls."""
    counts = [n for n, *_ in next(iter(timings.values()))["rows"]]
    print("\nside by side, ms per ethanol molecule-step (TorchSim: with run folders)")
    print(f"{'model':24s} {'kind':14s} {'parameters':>10s} {'ASE+MLCalc':>10s} "
          + " ".join(f"{f'TS x{n}':>9s}" for n in counts) + f" {'GFN2-xTB':>9s} {'best/xTB':>9s}")
    for label, t in timings.items():
        best = min(r[3] for r in t["rows"])
        print(f"{label[:24]:24s} {t['kind']:14s} {t['parameters']:10d} {t['single']['ase_step']:10.2f} "
              + " ".join(f"{r[3]:9.2f}" for r in t["rows"]) + f" {t['single']['xtb']:9.2f} "
              f"{best / t['single']['xtb']:9.3f}")


def try_compiled(model, inputs, bare_ms: float, repeats: int) -> None:
    """Time torch.compile and TorchScript of the bare model's forward+backward; print why they fail if they do."""
    from mlcalc.derivatives import energy_forces_stress

    print("\ncompiled bare model (one ethanol)")
    for name, make in (("torch.jit.script", lambda: torch.jit.script(model)),
                       ("torch.compile", lambda: torch.compile(model, dynamic=True))):
        try:
            start = time.perf_counter()
            compiled = make()
            energy_forces_stress(compiled, inputs)
            first = time.perf_counter() - start
            ms = median_ms({"c": lambda: energy_forces_stress(compiled, inputs)}, repeats)["c"]
            ref = energy_forces_stress(model, inputs)
            out = energy_forces_stress(compiled, inputs)
            err = float((out["forces"] - ref["forces"]).abs().max())
            print(f"{name:18s} {ms:8.2f} ms ({ms / bare_ms:.3f} x bare; first call {first:.1f} s; "
                  f"max force difference {err:.1e} eV/Å)")
        except Exception as exc:  # report, do not stop the benchmark
            lines = [line.strip() for line in str(exc).splitlines() if line.strip()]
            print(f"{name:18s} failed: {type(exc).__name__}: {' '.join(lines[:2])[:300]}")


if __name__ == "__main__":
    main()
