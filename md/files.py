"""File names inside an MD run folder (see :mod:`mlcalc.md.run_folder`): one place for writers and readers."""

TRAJECTORY = "trajectory.traj"
EXTXYZ = "trajectory.extxyz"
LOG = "energies.csv"
CHECKPOINT = "checkpoint.json"
SUMMARY = "summary.json"
BLOWUP = "blowup.extxyz"
#: every file a run writes (what ``overwrite`` deletes)
RUN_FILES = (TRAJECTORY, EXTXYZ, LOG, CHECKPOINT, SUMMARY, BLOWUP)
