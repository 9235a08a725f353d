"""KRR / GP energy models (``krr-energy``, ``gp-energy``) on a force-field config's data and split: fit on energies, test forces.

Run: ``python -m mlcalc.potentials.training.kernel_energy configs/ethanol_et.yaml --descriptor soap``
(data generated first if missing, as ``mlcalc train`` does; same train/val/test split). Fits on
the energies (and with ``--force-weight`` > 0 the forces) of the first ``--train`` training
frames for each (γ, α) of the grid, picks the
one with the lowest validation force MAE and prints test energy and force MAE (meV, meV/Å)
(``--method gp``: the kernel's amplitude and length scale by marginal likelihood, only α from the grid);
``--out`` saves it as a ``.mlc`` file.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _errors(calc, frames) -> tuple[float, float]:
    """Energy MAE (meV) and force-component MAE (meV/Å) of ``calc`` over labelled ``frames``."""
    out = calc.predict(frames)
    energy = np.abs(out["energy"] - np.array([a.get_potential_energy() for a in frames])).mean()
    forces = np.abs(np.concatenate(out["forces"]) - np.concatenate([a.get_forces() for a in frames])).mean()
    return 1000 * float(energy), 1000 * float(forces)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("config", help="a force-field training config (its data section is used)")
    parser.add_argument("--train", type=int, default=None, help="training frames (default: all of the split's)")
    parser.add_argument("--descriptor", choices=["soap", "acsf", "coulomb_matrix"], default="soap")
    parser.add_argument("--r-cut", type=float, default=5.0, help="SOAP / ACSF cutoff, Å")
    parser.add_argument("--n-max", type=int, default=4)
    parser.add_argument("--l-max", type=int, default=3)
    parser.add_argument("--method", choices=["krr", "gp"], default="krr")
    parser.add_argument("--kernel", choices=["rbf", "laplacian", "linear"], default="rbf")
    parser.add_argument("--gammas", type=float, nargs="+", default=[1e-3, 3e-3, 1e-2])
    parser.add_argument("--alphas", type=float, nargs="+", default=[1e-8, 1e-6])
    parser.add_argument("--force-weight", type=float, default=0.0,
                        help="KRR: also fit the training forces, each component weighted this against one energy")
    parser.add_argument("--raw-features", action="store_true", help="do not standardise the descriptors")
    parser.add_argument("--out", default=None, help="save the selected model here (.mlc)")
    args = parser.parse_args(argv)

    import torch

    from mlcalc import MLCalc
    from mlcalc.config import load_config
    from mlcalc.data.files import read_structures
    from mlcalc.modelfile import save_model
    from mlcalc.potentials.kernel_energy import fit_kernel_energy_model

    from .data import split_indices
    from .train import _ensure_data

    start = time.perf_counter()
    config = load_config(args.config)
    frames = read_structures(_ensure_data(config))
    d = config.data
    split = split_indices(len(frames), d.train, d.val, d.test, d.split_seed)
    sets = {k: [frames[i] for i in idx] for k, idx in split.items()}
    sets["train"] = sets["train"][:args.train]
    descriptor = {"name": args.descriptor, "r_cut": args.r_cut, "n_max": args.n_max, "l_max": args.l_max,
                  "n_atoms_max": max(len(a) for a in frames), "permutation": "none"}
    elements = sorted({int(z) for a in frames for z in a.numbers})
    energies = np.array([a.get_potential_energy() for a in sets["train"]])
    best = None
    for gamma in args.gammas if args.kernel != "linear" and args.method == "krr" else [None]:
        for alpha in args.alphas:
            model = fit_kernel_energy_model(sets["train"], energies, descriptor, kernel=args.kernel, alpha=alpha,
                                            gamma=gamma, standardise_features=not args.raw_features,
                                            elements=elements, method=args.method,
                                            force_weight=args.force_weight)
            calc = MLCalc(model, dtype=torch.float64)
            val_e, val_f = _errors(calc, sets["val"])
            print(f"gamma={gamma} alpha={alpha}: val energy MAE {val_e:.1f} meV, forces MAE {val_f:.1f} meV/Å",
                  flush=True)
            if best is None or val_f < best[0]:
                best = (val_f, val_e, gamma, alpha, calc)
    val_f, val_e, gamma, alpha, calc = best
    test_e, test_f = _errors(calc, sets["test"])
    if "energy_std" in (out := calc.predict(sets["test"])):
        error = np.abs(out["energy"] - np.array([a.get_potential_energy() for a in sets["test"]]))
        print(f"GP energy_std on test: mean {1000 * out['energy_std'].mean():.1f} meV; "
              f"|error| < 2 std for {np.mean(error < 2 * out['energy_std']):.1%}")
    print(f"{calc.model.kind} {args.kernel} force_weight={args.force_weight} {args.descriptor} n_train={calc.model.n_train} gamma={gamma} alpha={alpha}: "
          f"val forces MAE {val_f:.1f} meV/Å; test energy MAE {test_e:.1f} meV, forces MAE {test_f:.1f} meV/Å on "
          f"{len(sets['test'])} frames; wall {time.perf_counter() - start:.0f} s")
    if args.out:
        save_model(args.out, calc.model, metrics={"test": {"energy_mae_meV": test_e, "forces_mae_meV_per_A": test_f,
                                                           "frames": len(sets["test"])}})


if __name__ == "__main__":
    main()
