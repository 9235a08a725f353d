"""Folder locks: one writer per run folder; a killed writer's lock is taken over, a live one's refused."""

from __future__ import annotations

import json
import logging
import subprocess
import sys
import time

import pytest
import torch

from mlcalc import MLCalc
from mlcalc.data.molecules import load_molecule
from mlcalc.errors import FolderInUseError, OutputExistsError
from mlcalc.locks import LOCK_FILE, FolderLock, pid_alive
from mlcalc.md import MDSettings, run_md
from mlcalc.testing import tiny_potential

HOLD = ("import sys, time; from mlcalc.locks import FolderLock; lock = FolderLock(sys.argv[1]).acquire(); "
        "print('locked', flush=True); time.sleep(60)")


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_lock_file_names_the_owner_and_goes_on_release(tmp_path):
    with FolderLock(tmp_path / "run") as lock:
        owner = json.loads(lock.path.read_text())
        assert owner["pid"] == __import__("os").getpid() and owner["host"]
    assert not (tmp_path / "run" / LOCK_FILE).exists()


def test_a_stale_lock_is_taken_over_with_a_message(tmp_path, caplog):
    dead = _dead_pid()
    assert not pid_alive(dead)
    (tmp_path / LOCK_FILE).write_text(json.dumps({"pid": dead, "host": "somewhere", "since": "earlier"}))
    with caplog.at_level(logging.WARNING, logger="mlcalc.locks"):
        with FolderLock(tmp_path, "run folder") as lock:
            assert json.loads(lock.path.read_text())["pid"] != dead
    assert f"taking over the stale lock of process {dead} on somewhere" in caplog.text


def test_a_live_lock_is_refused_naming_folder_and_pid(tmp_path):
    holder = subprocess.Popen([sys.executable, "-c", HOLD, str(tmp_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout.readline().strip() == "locked"
        with pytest.raises(FolderInUseError, match=f"{tmp_path} is in use by process {holder.pid} on "):
            FolderLock(tmp_path).acquire()
    finally:
        holder.kill()
        holder.wait()
    time.sleep(0.05)
    with FolderLock(tmp_path):  # the killed holder's lock is stale now
        pass


def test_one_process_cannot_take_a_folder_twice(tmp_path):
    with FolderLock(tmp_path):
        with pytest.raises(FolderInUseError, match="in use by process"):
            FolderLock(tmp_path).acquire()


def test_md_into_a_folder_in_use_or_with_a_run_is_refused(tmp_path):
    calc = MLCalc(tiny_potential("torchmdnet-et", elements=(1, 6, 8)), dtype=torch.float64)
    settings = MDSettings(steps=4, interval=2, max_force=None, bond_stretch=None)

    def ethanol():
        atoms = load_molecule("ethanol")
        atoms.calc = calc
        return atoms

    with FolderLock(tmp_path / "busy", "run folder"):
        with pytest.raises(FolderInUseError, match="run folder .*busy is in use"):
            run_md(ethanol(), settings, tmp_path / "busy")
    run_md(ethanol(), settings, tmp_path / "done")
    assert not (tmp_path / "done" / LOCK_FILE).exists()
    with pytest.raises(OutputExistsError, match="already holds an MD run .completed at step 4 of 4.; continue it"):
        run_md(ethanol(), settings, tmp_path / "done")
    assert run_md(ethanol(), settings, tmp_path / "done", overwrite=True).steps_done == 4
    assert run_md(ethanol(), settings, tmp_path / "done", resume=True).steps_done == 4
