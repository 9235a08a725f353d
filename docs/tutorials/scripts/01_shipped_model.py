"""Tutorial 1: a shipped model inside an ASE script: optimise, vibrations, MD, a bond distribution.

Run:  python docs/tutorials/scripts/01_shipped_model.py --out tutorial-01   (--small: the test suite's size)
"""

from __future__ import annotations

import sys
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
import numpy as np
from ase.optimize import BFGS
from ase.vibrations import Vibrations

from mlcalc import MLCalc
from mlcalc.analysis import GeometryDistributions, universe_from_trajectory
from mlcalc.data import load_molecule
from mlcalc.md import MDSettings, run_md

sys.path.insert(0, str(Path(__file__).parent))
from _common import parse_args, save_figure  # noqa: E402


def main(out: Path, small: bool = False) -> dict:
    out = Path(out)
    # 1. A molecule and a shipped model as its calculator (any .mlc file works the same way)
    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc.load("ethanol-bpnn")    # the fast shipped model; "ethanol-et" is the most accurate
    print(f"energy {atoms.get_potential_energy():.4f} eV, largest force "
          f"{np.abs(atoms.get_forces()).max():.3f} eV/Å")

    # 2. Optimise: forces are exact gradients of the energy, so BFGS converges tightly
    BFGS(atoms, logfile=None).run(fmax=0.005, steps=500)
    fmax = float(np.linalg.norm(atoms.get_forces(), axis=1).max())
    print(f"relaxed: energy {atoms.get_potential_energy():.4f} eV, fmax {fmax:.4f} eV/Å")

    # 3. Vibrations by finite differences of the model's forces (ASE's Vibrations)
    vib = Vibrations(atoms, name=str(out / "vib"), delta=0.01)
    vib.clean()
    vib.run()
    frequencies = np.real(vib.get_frequencies())[6:]    # cm⁻¹, without the 6 rigid-body modes
    print(f"{len(frequencies)} vibrational modes, {frequencies.min():.0f}-{frequencies.max():.0f} cm⁻¹")
    fig, ax = plt.subplots(figsize=(6, 2.6))
    ax.vlines(frequencies, 0, 1, color="tab:blue")
    ax.set(xlabel="wavenumber (cm⁻¹)", yticks=[], title="ethanol-bpnn: normal modes of relaxed ethanol")
    vib_figure = save_figure(fig, out, "01_vibrations.png")

    # 4. NVE MD from 300 K into a run folder (trajectory, energy log, checkpoint; resume=True continues)
    steps = 200 if small else 4000
    run = run_md(atoms, MDSettings(steps=steps, timestep=0.5, temperature=300, ensemble="nve", interval=5, seed=1),
                 out / "md", overwrite=True)
    nve = run.energy_conservation()
    print(f"MD: {run.status}, {run.steps_done} steps, drift {run.drift:+.4f} meV/atom/ps, "
          f"energy conserved: {nve['conserved']}")

    # 5. The C-O bond and C-C-O angle over the trajectory, with MDAnalysis
    universe = universe_from_trajectory(run.trajectory)
    distributions = GeometryDistributions(universe, ["C-O", "C-C-O"]).run().results.distributions
    c_o = distributions["C-O"]
    print(f"C-O bond {c_o.mean:.3f} ± {c_o.std:.3f} Å over {len(c_o.values)} frames")
    fig, (left, right) = plt.subplots(1, 2, figsize=(8, 3))
    left.plot(run.log["time_ps"], run.log["total_eV"] - run.log["total_eV"][0], label="total")
    left.plot(run.log["time_ps"], run.log["potential_eV"] - run.log["potential_eV"][0], label="potential")
    left.set(xlabel="time (ps)", ylabel="energy change (eV)", title="NVE")
    left.legend()
    right.hist(c_o.samples, bins=15 if small else 40, density=True, color="tab:orange")
    right.set(xlabel="C-O distance (Å)", ylabel="density", title="C-O bond length")
    md_figure = save_figure(fig, out, "01_md.png")
    return {"fmax": fmax, "frequencies": frequencies, "run": run, "conservation": nve, "c_o": c_o,
            "figures": [vib_figure, md_figure]}


if __name__ == "__main__":
    args = parse_args(__doc__, "tutorial-01")
    main(args.out, small=args.small)
