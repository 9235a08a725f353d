"""CGCNN in adjacency-list form against adjacency-matrix form (dense padded neighbor tensors): same data, same run.

Run: python bench/cgcnn_list_vs_matrix.py [--config configs/cgcnn_coremof.yaml] [--mofs 500] [--epochs 3]
The first ``--mofs`` MOFs of the config's (cached) CoRE MOF set are split 80/10/10 with
the config's seed; each form trains in its own subprocess from the same initial weights
(same seed, same weight layout), on the same batches, with the config's optimiser
(plain torch loop, standardised MSE). Reported per form: seconds per training epoch,
peak memory added by training (peak RSS during training, reset after the data are loaded,
minus RSS before the first epoch), train loss
and validation MAE per epoch, test MAE. Ratios (matrix / list) are printed last; nothing
is asserted.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time


def _status_mb(field: str) -> float:
    """``VmRSS`` or ``VmHWM`` (peak RSS) of this process in MB (Linux)."""
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith(field + ":"):
                return int(line.split()[1]) / 1024
    return float("nan")


def _reset_peak() -> None:
    """Reset the peak RSS (VmHWM) to the current RSS, so data loading does not count (Linux clear_refs 5)."""
    with open("/proc/self/clear_refs", "w") as fh:
        fh.write("5")


def worker(args) -> dict:
    import numpy as np
    import torch
    from torch_geometric.loader import DataLoader

    from mlcalc import keys as K
    from mlcalc.potentials.training.config import load_config
    from mlcalc.derivatives import model_inputs
    from mlcalc.model import create_model
    from mlcalc.potentials.training.crystal_data import CrystalGraphDataset, crystal_split
    from mlcalc.potentials.training.property_data import target_statistics
    from mlcalc.potentials.training.task import make_optimizer
    from mlcalc.potentials.training.crystal_train import load_crystal_data

    cfg = load_config(args.config, {"progress": False})
    crystals, target, unit, _ = load_crystal_data(cfg)
    crystals = crystals.subset(range(min(args.mofs, len(crystals))))
    d, o = cfg.data, cfg.optim
    split = crystal_split(len(crystals), d.train_fraction, d.val_fraction, d.test_fraction, d.split_seed)
    parts = {k: crystals.subset(v) for k, v in split.items()}
    torch.manual_seed(cfg.seed)
    hyper = {**cfg.model.hyperparameters, "form": args.worker}
    model = create_model("cgcnn", elements=crystals.elements(), cutoff=cfg.model.cutoff, targets=[target],
                         units=[unit], extensive=[False], **hyper)
    mean, std = target_statistics(parts["train"].targets[:, None], parts["train"].n_atoms, [False])
    model.set_standardisation(mean, std)
    optimiser = make_optimizer(o.optimizer, model.parameters(), o.lr, o.weight_decay)
    loaders = {k: DataLoader(CrystalGraphDataset(parts[k]), batch_size=o.batch_size, shuffle=k == "train",
                             generator=torch.Generator().manual_seed(cfg.seed)) for k in parts}

    def mae(stage):
        model.eval()
        errors = []
        with torch.no_grad():
            for batch in loaders[stage]:
                errors.append((model(model_inputs(batch))[target] - batch[K.TARGETS][:, 0]).abs())
        return float(torch.cat(errors).mean())

    before = _status_mb("VmRSS")
    _reset_peak()
    epochs, losses, val = [], [], []
    for _ in range(args.epochs):
        model.train()
        start, total, count = time.perf_counter(), 0.0, 0
        for batch in loaders["train"]:
            z = model.standardised_outputs(model_inputs(batch))
            loss = torch.nn.functional.mse_loss(z, model.standardise(batch[K.TARGETS], batch[K.N_ATOMS]))
            optimiser.zero_grad()
            loss.backward()
            optimiser.step()
            total, count = total + loss.item() * len(z), count + len(z)
        epochs.append(time.perf_counter() - start)
        losses.append(total / count)
        val.append(mae("val"))
    peak = _status_mb("VmHWM")
    return {"form": args.worker, "mofs": len(crystals), "atoms_per_mof": float(np.mean(crystals.n_atoms)),
            "max_atoms": int(crystals.n_atoms.max()), "epoch_s": epochs, "train_loss": losses, "val_mae": val,
            "test_mae": mae("test"), "peak_mb_added": peak - before, "unit": unit, "target": target}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cgcnn_coremof.yaml")
    parser.add_argument("--mofs", type=int, default=500)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--worker", choices=["list", "matrix"], help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        print(json.dumps(worker(args)))
        return
    results = {}
    for form in ("list", "matrix"):
        out = subprocess.run([sys.executable, __file__, "--config", args.config, "--mofs", str(args.mofs), "--epochs",
                              str(args.epochs), "--worker", form], check=True, capture_output=True, text=True)
        results[form] = r = json.loads(out.stdout.strip().splitlines()[-1])
        print(f"{form:6s}: {r['mofs']} MOFs (mean {r['atoms_per_mof']:.0f} atoms, max {r['max_atoms']}), "
              f"{sum(r['epoch_s']) / len(r['epoch_s']):.1f} s/epoch {[round(t, 1) for t in r['epoch_s']]}, "
              f"peak +{r['peak_mb_added']:.0f} MB, train loss {[round(x, 3) for x in r['train_loss']]}, "
              f"val MAE {[round(x, 3) for x in r['val_mae']]}, test {r['target']} MAE {r['test_mae']:.3f} {r['unit']}",
              flush=True)
    a, b = results["list"], results["matrix"]
    print(f"test MAE matrix - list: {b['test_mae'] - a['test_mae']:+.2e} {a['unit']}")
    print(f"peak memory matrix / list: {b['peak_mb_added'] / max(a['peak_mb_added'], 1e-9):.2f}x")
    print(f"time per epoch matrix / list: {sum(b['epoch_s']) / sum(a['epoch_s']):.2f}x")


if __name__ == "__main__":
    main()
