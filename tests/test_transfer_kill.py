"""kill -9 of `mlcalc transfer`: no MD worker outlives it, and a rerun ends with the uninterrupted run's frames."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch
import yaml
from ase.io.trajectory import Trajectory
from click.testing import CliRunner

from mlcalc.cli import main
from mlcalc.locks import LOCK_FILE, pid_alive
from mlcalc.modelfile import save_model
from mlcalc.testing import tiny_potential

MOLECULES = ("ethanol", "n-propanol")
STEPS = 1000
# a tiny untrained model: fast, but it pulls bonds apart, so the blow-up checks are off (not what is tested)
MD = {"steps": STEPS, "timestep": 0.5, "interval": 10, "max_force": None, "bond_stretch": None}


def _children(pid: int) -> list[int]:
    """Pids of the processes whose parent is ``pid`` (from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                with open(f"/proc/{entry}/stat") as fh:
                    if int(fh.read().rpartition(")")[2].split()[1]) == pid:
                        found.append(int(entry))
            except (OSError, ValueError, IndexError):
                continue
    return found


def _saved_step(run) -> int:
    import json

    try:
        return json.loads((run / "checkpoint.json").read_text())["step"]
    except (OSError, ValueError, KeyError):
        return -1


def _frames(run) -> tuple[np.ndarray, np.ndarray]:
    with Trajectory(run / "trajectory.traj") as traj:
        return np.array([a.positions for a in traj]), np.array([a.get_momenta() for a in traj])


@pytest.mark.slow
@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")
def test_killed_transfer_leaves_no_worker_and_a_rerun_gives_the_uninterrupted_frames(tmp_path, caplog):
    model = save_model(tmp_path / "tiny.mlc", tiny_potential("torchmdnet-et", elements=(1, 6, 8)))
    config = tmp_path / "study.yaml"
    config.write_text(yaml.safe_dump({
        "name": "kill", "source": {"molecule": MOLECULES[0], "model": str(model)}, "targets": list(MOLECULES[1:]),
        "md": MD, "reference": None, "error_frames": 0, "compare": ["C-C"], "out_dir": str(tmp_path / "study"),
        "workers": 2}))
    runs = [tmp_path / "study" / "md" / m / "model" for m in MOLECULES]

    study = subprocess.Popen([sys.executable, "-m", "mlcalc.cli", "transfer", str(config), "--no-progress"],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 300
    while min(_saved_step(r) for r in runs) < 10:  # both workers are stepping
        assert study.poll() is None and time.monotonic() < deadline, "the study ended or never started its MD"
        time.sleep(0.02)
    workers = _children(study.pid)
    study.send_signal(signal.SIGKILL)
    study.wait()
    assert len(workers) >= 2
    deadline = time.monotonic() + 10
    while any(pid_alive(pid) for pid in workers) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not [pid for pid in workers if pid_alive(pid)], "a worker outlived the killed study"
    killed_at = [_saved_step(r) for r in runs]
    assert min(killed_at) < STEPS, "the kill came too late to interrupt a run"
    time.sleep(0.5)
    assert [_saved_step(r) for r in runs] == killed_at  # nothing writes any more
    assert all((r / LOCK_FILE).exists() for r in runs)  # the dead workers' locks, stale now

    caplog.set_level(logging.WARNING, logger="mlcalc.locks")
    rerun = CliRunner().invoke(main, ["transfer", str(config), "--no-progress"])
    assert rerun.exit_code == 0, rerun.output
    assert "transfer study" in caplog.text and "taking over the stale lock" in caplog.text

    # the uninterrupted runs, as a worker makes them (one thread), into fresh folders
    from mlcalc.analysis.transfer.runs import _md_job

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        for molecule in MOLECULES:
            _md_job(molecule, str(model), "float32", MD, tmp_path / "uninterrupted" / molecule)
    finally:
        torch.set_num_threads(threads)
    for molecule, run in zip(MOLECULES, runs):
        resumed, straight = _frames(run), _frames(tmp_path / "uninterrupted" / molecule)
        assert resumed[0].shape == (STEPS // 10 + 1, *resumed[0].shape[1:])
        np.testing.assert_array_equal(resumed[0], straight[0])  # positions, bit for bit
        np.testing.assert_array_equal(resumed[1], straight[1])  # momenta
        log = (run / "energies.csv").read_text()
        assert log == (tmp_path / "uninterrupted" / molecule / "energies.csv").read_text()  # no duplicate steps
