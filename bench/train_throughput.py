"""Training samples per second: ``mlcalc train`` against torchmd-net's own ``torchmd-train``.

Run: python bench/train_throughput.py [--frames 320] [--epochs 6] [--hidden 64] [--layers 2]

Both train the same TorchMD-NET equivariant transformer (``--hidden`` channels, ``--layers``
layers, 8 heads, 32 RBFs, 5 Å, vector cutoff) on the same GFN2-xTB ethanol frames (made
here with ``mlcalc data reference`` settings: Langevin at 500 K, a frame every 10 steps,
unless ``--data`` names an extxyz), with the same split sizes, batch size, AdamW lr 1e-3 and
energy+force loss (weights 0.2 / 0.8), one data-loading process, the threads torch has
(run with OMP_NUM_THREADS=1 for one). Each trainer is run twice, for 1 and for 1 +
``--epochs`` epochs; the difference of the wall times is the cost of ``--epochs`` epochs
after a warm-up epoch (start-up, the first epoch and the final test cancel), so
samples/s = epochs × training frames / difference. Prints both and the ratio
mlcalc / torchmd-net last (> 1: mlcalc trains faster). Nothing is asserted.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

BIN = Path(sys.executable).parent


def make_data(path: Path, frames: int) -> None:
    """``frames`` GFN2-xTB ethanol frames (500 K Langevin, a frame every 10 steps of 0.5 fs) as extxyz."""
    from mlcalc.data.molecules import load_molecule
    from mlcalc.md import ReferenceSettings, generate_reference

    settings = ReferenceSettings(frames=frames, interval=10, thermalise=200, temperature=500, seed=0)
    generate_reference(load_molecule("ethanol"), settings, out=path, progress=False)


def write_npy(frames, folder: Path) -> None:
    """torchmd-net's Custom dataset: coord [n, atoms, 3] Å, embed [atoms], energy [n, 1] eV, forces [n, atoms, 3]."""
    folder.mkdir(parents=True, exist_ok=True)
    np.save(folder / "coord.npy", np.stack([a.positions for a in frames]).astype(np.float32))
    np.save(folder / "embed.npy", frames[0].numbers.astype(np.int64))
    np.save(folder / "energy.npy", np.array([[a.get_potential_energy()] for a in frames], dtype=np.float32))
    np.save(folder / "forces.npy", np.stack([a.get_forces() for a in frames]).astype(np.float32))


def mlcalc_command(data: Path, out: Path, epochs: int, args) -> list[str]:
    config = out.with_suffix(".yaml")
    config.write_text(f"""name: throughput
seed: 0
data: {{path: {data}, train: {args.train}, val: {args.val}, test: {args.test}, split_seed: 0}}
model:
  kind: torchmdnet-et
  cutoff: 5.0
  hyperparameters: {{hidden_channels: {args.hidden}, num_layers: {args.layers}, num_rbf: 32, num_heads: 8,
                    vector_cutoff: true}}
optim: {{epochs: {epochs}, batch_size: {args.batch_size}, optimizer: adamw, lr: 1.0e-3, weight_decay: 0.0,
        lr_schedule: plateau, lr_warmup_steps: 0, energy_weight: 0.2, force_weight: 0.8,
        early_stopping_patience: 1000, max_minutes: 60}}
out_dir: {out}
""")
    return [str(BIN / "mlcalc"), "train", str(config)]


def torchmd_command(npy: Path, out: Path, epochs: int, args) -> list[str]:
    return [str(BIN / "torchmd-train"), "--dataset", "Custom", "--coord-files", str(npy / "coord.npy"),
            "--embed-files", str(npy / "embed.npy"), "--energy-files", str(npy / "energy.npy"),
            "--force-files", str(npy / "forces.npy"), "--model", "equivariant-transformer",
            "--embedding-dimension", str(args.hidden), "--num-layers", str(args.layers), "--num-rbf", "32",
            "--num-heads", "8", "--vector-cutoff", "true", "--cutoff-upper", "5.0", "--activation", "silu",
            "--attn-activation", "silu", "--neighbor-embedding", "true", "--max-z", "9",
            "--derivative", "true", "--batch-size", str(args.batch_size),
            "--inference-batch-size", str(args.batch_size), "--lr", "1e-3", "--lr-warmup-steps", "0",
            "--weight-decay", "0.0", "--y-weight", "0.2", "--neg-dy-weight", "0.8",
            "--train-size", str(args.train), "--val-size", str(args.val), "--test-size", str(args.test),
            "--num-epochs", str(epochs), "--early-stopping-patience", "1000", "--num-workers", "0",
            "--ngpus", "1", "--precision", "32", "--seed", "0", "--log-dir", str(out), "--save-interval", "1"]
    # torchmd-train parses its flags with type=bool: any value, "false" included, means True, so flags
    # wanted False (--redirect, --standardize, --wandb-use) are left at their False defaults


def timed(command: list[str], log: Path) -> float:
    """Wall seconds of ``command`` (its output to ``log``); a failure raises with the log's tail."""
    t0 = time.perf_counter()
    with open(log, "w") as out:
        done = subprocess.run(command, stdout=out, stderr=subprocess.STDOUT)
    wall = time.perf_counter() - t0
    if done.returncode:
        raise RuntimeError(f"{command[0]} failed (exit {done.returncode}):\n" + log.read_text()[-3000:])
    return wall


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--data", type=Path, help="an extxyz of ethanol frames with energies and forces (default: made here)")
    p.add_argument("--frames", type=int, default=320)
    p.add_argument("--train", type=int, default=256)
    p.add_argument("--val", type=int, default=32)
    p.add_argument("--test", type=int, default=32)
    p.add_argument("--epochs", type=int, default=6, help="timed epochs after the warm-up epoch")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--hidden", type=int, default=64)
    p.add_argument("--layers", type=int, default=2)
    p.add_argument("--keep", type=Path, help="keep the work folder here")
    args = p.parse_args()
    from ase.io import read

    work = Path(tempfile.mkdtemp(prefix="train-throughput-")) if args.keep is None else args.keep
    work.mkdir(parents=True, exist_ok=True)
    data = args.data or work / "ethanol-xtb.extxyz"
    if not data.exists():
        t0 = time.perf_counter()
        make_data(data, args.frames)
        print(f"made {args.frames} GFN2-xTB frames in {time.perf_counter() - t0:.1f} s: {data}")
    frames = read(data, index=":")
    if len(frames) < args.train + args.val + args.test:
        raise SystemExit(f"{data} has {len(frames)} frames, need train + val + test = "
                         f"{args.train + args.val + args.test}")
    write_npy(frames, work / "npy")
    rates = {}
    for name in ("mlcalc", "torchmd-net"):
        walls = []
        for epochs in (1, 1 + args.epochs):
            out = work / f"{name}-{epochs}"
            shutil.rmtree(out, ignore_errors=True)
            command = (mlcalc_command(data, out, epochs, args) if name == "mlcalc"
                       else torchmd_command(work / "npy", out, epochs, args))
            walls.append(timed(command, work / f"{name}-{epochs}.log"))
        rates[name] = args.epochs * args.train / (walls[1] - walls[0])
        print(f"{name:12s} {walls[0]:6.1f} s for 1 epoch, {walls[1]:6.1f} s for {1 + args.epochs}: "
              f"{rates[name]:7.1f} training samples/s")
    print(f"ET {args.hidden}x{args.layers}, batch {args.batch_size}, {args.train} training frames, "
          f"{args.epochs} timed epochs; logs in {work}")
    print(f"ratio mlcalc / torchmd-net samples/s: {rates['mlcalc'] / rates['torchmd-net']:.2f}")


if __name__ == "__main__":
    main()
