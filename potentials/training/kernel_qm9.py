"""KRR / GP on a QM9 split (the GNNs' split): fit, choose γ and α on validation, report the test MAE.

Run: ``python -m mlcalc.potentials.training.kernel_qm9 --target homo --train 4000`` (the first
``--train`` molecules of the 16,000-molecule training split of ``configs/qm9_homo_*.yaml``:
subset 20,000, fractions 0.8/0.1/0.1, split seed 0). Prints one line per (γ, α) tried and the
test MAE of the best on validation; ``--out`` saves that model as a ``.mlc`` file. ``--encoder``
(a descriptor autoencoder from ``mlcalc latent autoencoder``) fits on its latents instead.
"""

from __future__ import annotations

import argparse
import time

import numpy as np


def _spearman(a: np.ndarray, b: np.ndarray) -> float:
    from scipy.stats import spearmanr

    return float(spearmanr(a, b).statistic)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--target", default="homo")
    parser.add_argument("--train", type=int, default=4000, help="training molecules (first of the split's 16,000)")
    parser.add_argument("--method", choices=["krr", "gp"], default="krr")
    parser.add_argument("--kernel", choices=["rbf", "laplacian", "linear"], default="laplacian")
    parser.add_argument("--descriptor", choices=["coulomb_matrix", "soap"], default="coulomb_matrix")
    parser.add_argument("--gammas", type=float, nargs="+", default=[0.003, 0.01, 0.03])
    parser.add_argument("--alphas", type=float, nargs="+", default=[1e-6, 1e-3, 1e-1])
    parser.add_argument("--raw-features", action="store_true", help="do not standardise the descriptors")
    parser.add_argument("--encoder", default=None,
                        help="descriptor autoencoder file (mlcalc latent autoencoder): fit on its latents")
    parser.add_argument("--out", default=None, help="save the selected model here (.mlc)")
    args = parser.parse_args(argv)

    import torch

    from mlcalc import MLCalc
    from mlcalc.data.qm9 import QM9_EXTENSIVE, QM9_UNITS, load_qm9, qm9_split
    from mlcalc.modelfile import save_model
    from mlcalc.potentials.autoencoder import load_autoencoder
    from mlcalc.potentials.kernel import fit_kernel_model

    start = time.perf_counter()
    qm9 = load_qm9()
    split = qm9_split(len(qm9), 20000, 0.8, 0.1, 0.1, 0)
    rows = {"train": split["train"][:args.train], "val": split["val"], "test": split["test"]}
    mols = {k: qm9.structures(r) for k, r in rows.items()}
    y = {k: qm9.targets(r, [args.target]) for k, r in rows.items()}
    descriptor = {"name": args.descriptor, "n_atoms_max": 29}
    encoder = load_autoencoder(args.encoder)[0] if args.encoder else None
    best = None
    grid = [(g, a) for g in (args.gammas if args.method == "krr" else [None]) for a in args.alphas]
    for gamma, alpha in grid:
        model = fit_kernel_model(mols["train"], y["train"], [args.target], descriptor, method=args.method,
                                 kernel=args.kernel, alpha=alpha, gamma=gamma, units=[QM9_UNITS[args.target][0]],
                                 extensive=[args.target in QM9_EXTENSIVE],
                                 elements=[1, 6, 7, 8, 9], progress=False,
                                 standardise_features=not args.raw_features, encoder=encoder)
        calc = MLCalc(model, dtype=torch.float64)
        val = float(np.abs(calc.predict(mols["val"])[args.target] - y["val"][:, 0]).mean())
        print(f"gamma={gamma} alpha={alpha} val MAE {val:.4f} {QM9_UNITS[args.target][0]}", flush=True)
        if best is None or val < best[0]:
            best = (val, gamma, alpha, calc)
    val, gamma, alpha, calc = best
    out = calc.predict(mols["test"])
    error = np.abs(out[args.target] - y["test"][:, 0])
    test = float(error.mean())
    if f"{args.target}_std" in out:  # GP: is the predictive std calibrated on the test set?
        std = out[f"{args.target}_std"]
        print(f"GP std on test: mean {std.mean():.4f}; |error| < 2 std for {np.mean(error < 2 * std):.1%}; "
              f"Spearman(|error|, std) {_spearman(error, std):.2f}")
    print(f"{args.method} {args.kernel} {args.descriptor}{' raw' if args.raw_features else ''}{' latent ' + args.encoder if args.encoder else ''} n_train={len(calc.model.train_x)} gamma={gamma} "
          f"alpha={alpha}: val MAE {val:.4f}, test MAE {test:.4f} {QM9_UNITS[args.target][0]} on "
          f"{len(rows['test'])} test molecules; wall {time.perf_counter() - start:.0f} s")
    if args.out:
        save_model(args.out, calc.model)


if __name__ == "__main__":
    main()
