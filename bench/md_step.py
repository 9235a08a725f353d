"""Cost of an MD step on ethanol: MLCalc and batched TorchSim MD against the bare model and GFN2-xTB.

Run: python bench/md_step.py [--model ethanol-et] [--replicas 1 8 64 256] [--repeats 30] [--compile]
``--model`` takes any energy model file, a converted foundation model included (``mlcalc import
sevenn:SevenNet-0 --out sevennet-0.mlc`` or ``chgnet:0.3.0``, then ``--model sevennet-0.mlc``): it is
timed the same way, on mlcalc's graph and mlcalc's TorchSim model, beside the other kinds.
One process, the threads torch has (use OMP_NUM_THREADS=1 for one thread); medians of
interleaved calls. Prints, in ms: the bare model's forward+backward on a prebuilt graph (as its
kind runs it for inference: TorchScript for ``bpnn``, whose eager time is printed too), an MLCalc energy+forces call, an ASE velocity Verlet step with MLCalc, GFN2-xTB (tblite);
then per replica count the bare batched forward+backward per molecule, a TorchSim step per
molecule (stepper alone) and through the run folders (``run_batched_md``: files, monitors),
and molecule-steps per second against the ASE loop. ``--compile`` also times
``torch.compile`` and TorchScript of the bare model (and says how they fail). The ratios
come last; nothing is asserted.
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time

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
    parser.add_argument("--model", default="ethanol-et", help="shipped model name or .mlc file")
    parser.add_argument("--random-et", metavar="HIDDENxLAYERS", default=None,
                        help="time an untrained ET of that size instead (e.g. 32x2; speed does not depend on weights)")
    parser.add_argument("--dtype", default="float32", choices=["float32", "float64"])
    parser.add_argument("--replicas", type=int, nargs="+", default=[1, 8, 64, 256])
    parser.add_argument("--repeats", type=int, default=30)
    parser.add_argument("--folder-steps", type=int, default=20, help="steps of each run_batched_md timing")
    parser.add_argument("--compile", action="store_true", help="also try torch.compile and TorchScript")
    args = parser.parse_args()
    wall = time.perf_counter()

    from ase import units
    from ase.md.verlet import VelocityVerlet

    from mlcalc import MLCalc
    from mlcalc.data.molecules import load_molecule
    from mlcalc.data.xtb import xtb_calculator
    from mlcalc.derivatives import energy_forces_stress
    from mlcalc.graph import atoms_to_batch
    from mlcalc.derivatives import model_inputs
    from mlcalc.md import MDSettings, initialise_velocities, replica_settings, run_batched_md
    from mlcalc.md.torchsim_model import TorchSimModel
    from mlcalc.md.torchsim_stepper import TorchSimStepper

    dtype = getattr(torch, args.dtype)
    print(f"model {args.model} ({args.dtype}), torch threads {torch.get_num_threads()}, torch {torch.__version__}")
    if args.random_et:
        from mlcalc.model import create_model

        hidden, layers = (int(v) for v in args.random_et.split("x"))
        torch.manual_seed(0)
        source = create_model("torchmdnet-et", elements=[1, 6, 8], cutoff=5.0, hidden_channels=hidden,
                              num_layers=layers, num_heads=8 if hidden % 8 == 0 else 2, vector_cutoff=True)
        print(f"untrained ET {hidden}x{layers} ({sum(p.numel() for p in source.parameters())} parameters)")
    else:
        source = args.model
    calc = MLCalc(source, dtype=dtype) if not isinstance(source, str) else MLCalc.load(source, dtype=dtype)
    model = calc.model
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
    for name, label in (("bare", "bare model forward+backward (prebuilt graph)"),
                        ("mlcalc", "MLCalc energy+forces call"), ("ase_step", "ASE velocity Verlet step with MLCalc"),
                        ("xtb", "GFN2-xTB (tblite) energy+forces call")):
        print(f"{label:52s} {single[name]:8.2f}")
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

    best = min(rows, key=lambda r: r[3])
    print("\nratios (goal in brackets)")
    print(f"MLCalc call / bare model                        {single['mlcalc'] / single['bare']:6.3f}  (<= 1.05)")
    print(f"ASE step with MLCalc / bare model               {single['ase_step'] / single['bare']:6.3f}")
    for n, bare, step, folder, _ in rows:
        print(f"batched step / bare batched, {n:3d} replicas       {step / bare:6.3f}  (<= 1.2); "
              f"with folders {folder / bare:6.3f}")
    print(f"ML step / GFN2-xTB step, one system             {single['ase_step'] / single['xtb']:6.3f}  (< 1)")
    print(f"(benchmark wall time {time.perf_counter() - wall:.0f} s)")
    print(f"ML molecule-step / GFN2-xTB step, {best[0]:3d} replicas {best[3] / single['xtb']:6.3f}  (< 0.5)")


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
