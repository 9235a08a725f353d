"""Energy errors of ethanol-trained models on other C/H/O molecules, by atomref method (issue: atomrefs).

For each .mlc given, GFN2-xTB frames of each target (short 500 K Langevin MD, made once
into ``--frames-dir``) are predicted; prints the energy MAE, the constant offset (mean
model − reference) and the MAE with it removed (meV per molecule), the force MAE, and
how far the atomrefs alone are (mean Σ atomref − reference, eV: the offset when the
network's part is zero).

Run:  python bench/atomref_transfer.py MODEL.mlc [MODEL.mlc ...] --frames-dir runs/atomref-frames
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np

from ase.build import molecule

from mlcalc import MLCalc
from mlcalc.analysis.model_errors import model_errors
from mlcalc.data.structure_files import read_structures
from mlcalc.data.molecules import load_molecule
from mlcalc.md import ReferenceSettings, generate_reference

TARGETS = ("ethanol", "methanol", "n-propanol", "iso-propanol", "methyl-ethyl-ether")


def target_frames(name: str, folder: Path, frames: int):
    """GFN2-xTB frames of ``name`` (shipped molecule, or methanol from ASE), cached as extxyz."""
    path = folder / f"{name}-xtb-500K-{frames}.extxyz"
    if not path.exists():
        atoms = molecule("CH3OH") if name == "methanol" else load_molecule(name)
        settings = ReferenceSettings(frames=frames, temperature=500, seed=1, thermalise=400, interval=20)
        generate_reference(atoms, settings, out=path, progress=False)
    return read_structures(path)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("models", nargs="+")
    parser.add_argument("--frames-dir", default="runs/atomref-frames")
    parser.add_argument("--frames", type=int, default=20)
    args = parser.parse_args()
    folder = Path(args.frames_dir)
    folder.mkdir(parents=True, exist_ok=True)
    data = {name: target_frames(name, folder, args.frames) for name in TARGETS}
    results = {}
    for path in args.models:
        calc = MLCalc.load(path, dtype="float64")
        method = calc.manifest["normalisation"].get("atomref", {}).get("method", "least_squares")
        refs = {int(z): e for z, e in calc.manifest["normalisation"]["atomref_eV"].items()}
        results[path] = {}
        for name, frames in data.items():
            e = model_errors(calc, frames)
            e["atomrefs_alone_eV"] = float(np.mean([sum(refs[int(z)] for z in a.numbers) - a.get_potential_energy()
                                                    for a in frames]))
            results[path][name] = e
            print(f"{method:15s} {name:19s} MAE {e['energy_mae_meV']:7.0f} offset {e['energy_offset_meV']:7.0f} "
                  f"MAE-offset {e['energy_mae_offset_removed_meV']:4.0f} meV  forces {e['forces_mae_meV_per_A']:4.0f} "
                  f"meV/Å  atomrefs alone {e['atomrefs_alone_eV']:+6.2f} eV")
    (folder / "results.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
