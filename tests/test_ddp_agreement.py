"""Two DDP processes of batch b take the same optimisation steps as one process of batch 2b (no shuffling)."""

import os
import subprocess
import sys

import torch

from conftest import write_tiny_config
from mlcalc.potentials.training.config import load_config
from mlcalc.potentials.training import train

#: float32 round-off (two half-batch gradients averaged by gloo against one full-batch gradient),
#: carried through 6 AdamW steps; measured 6.0e-8 on 2026-12-02 (docs/RESULTS.md), the weights moving 0.018
TOLERANCE = 1e-6


def _weights(checkpoint):
    state = torch.load(checkpoint, map_location="cpu", weights_only=True)["state_dict"]
    return {k: v for k, v in state.items() if k.startswith("model.")}


# a two-process DDP run and a one-process run: 14 s on the 2 cores
def test_ddp_weights_equal_one_process_with_the_same_samples_per_step(tmp_path, xtb_frames):
    # 24 training frames, 3 steps per epoch, 2 epochs: 6 optimiser steps
    config = write_tiny_config(tmp_path, xtb_frames, "ddp", train=24, val=8, test=8, epochs=2, batch_size=4)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "mlcalc.cli", "train", str(config), "--devices", "2",
                           "--strategy", "ddp", "--set", "optim.shuffle=false", "--set", f"out_dir={tmp_path / 'ddp'}"],
                          env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        train(load_config(config, {"optim.shuffle": False, "optim.batch_size": 8, "out_dir": str(tmp_path / "one")}))
    finally:
        torch.set_num_threads(threads)
    a = _weights(tmp_path / "ddp" / "checkpoints" / "last.ckpt")
    b = _weights(tmp_path / "one" / "checkpoints" / "last.ckpt")
    assert a.keys() == b.keys()
    start = _weights_at_start(config)
    moved = max((b[k] - start[k]).abs().max().item() for k in b)
    diff = max((a[k] - b[k]).abs().max().item() for k in a)
    print(f"DDP vs one process after 6 steps: max |dw| {diff:.3g}, weights moved up to {moved:.3g}")
    assert moved > 100 * TOLERANCE  # the steps really changed the weights
    assert diff < TOLERANCE


def _weights_at_start(config):
    """The tiny model's initial weights (the same seed as training)."""
    from mlcalc.data.structure_files import read_structures
    from mlcalc.model import create_model
    from mlcalc.potentials.training.data import fit_atomref, force_rms, split_indices

    cfg = load_config(config)
    d = cfg.data
    structures = read_structures(d.path)
    frames = [structures[i] for i in split_indices(len(structures), d.train, d.val, d.test, d.split_seed)["train"]]
    torch.manual_seed(cfg.seed)
    model = create_model(cfg.model.kind, elements=sorted({int(z) for a in frames for z in a.numbers}),
                         cutoff=cfg.model.cutoff, energy_scale=force_rms(frames), periodic=False,
                         **cfg.model.hyperparameters)
    model.set_atomref(fit_atomref(frames))
    return {f"model.{k}": v for k, v in model.state_dict().items()}
