"""Data-parallel training: two CPU processes (DDP, gloo) finish and export a working model."""

import json
import os
import subprocess
import sys

import numpy as np
import pytest

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from conftest import write_tiny_config


# two fresh Python processes import torch and Lightning: ~25 s on 2 cores (under the 60 s that would make it slow)
def test_two_process_ddp_training_finishes_and_exports(tmp_path, xtb_frames):
    config = write_tiny_config(tmp_path, xtb_frames, "ddp", train=16, val=8, test=8, epochs=3, batch_size=4)
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "mlcalc.cli", "train", str(config), "--devices", "2",
                           "--strategy", "ddp"], env=env, capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "distributed_backend=gloo" in done.stderr and "All distributed processes registered" in done.stderr
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert metrics["epochs"] == 3 and metrics["test"]["frames"] == 8
    atoms = load_molecule("ethanol")
    atoms.calc = MLCalc.load(tmp_path / "run" / "ddp.mlc")
    assert np.isfinite(atoms.get_forces()).all()
