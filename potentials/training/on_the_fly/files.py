"""File names of a run that learns on the fly (see :mod:`mlcalc.potentials.training.on_the_fly`): one place
for writers and readers. Paths are relative to the run's output folder (the run folder itself for one
system; the folder above ``replica-000``, ... for replicas)."""

#: every frame the reference labelled, with its energy and forces (what the committee trained on)
LABELLED = "labelled.extxyz"
#: the final committee (an ensemble .mlc whose manifest names its parent and the labelled frames)
LEARNED_MODEL = "learned.mlc"
#: the summary: reference calls, their share of steps, wall time split, threshold, budget
SUMMARY = "learning.json"
#: one row per reference call: step, system, uncertainty, error, threshold, timings
CALLS = "learning.csv"
#: the learner's own folder (locked while a process writes here)
STATE_DIR = "learning"
#: the commit: learner state and every running system's checkpoint at one step (replaced atomically)
STATE = f"{STATE_DIR}/state.json"
#: every reference result in float64, appended as it comes (the labelled frames exactly, and a cache for a resume)
REFERENCE_FRAMES = f"{STATE_DIR}/reference.traj"
#: the outputs a new run refuses to replace without overwrite
OUTPUTS = (LABELLED, LEARNED_MODEL, SUMMARY, CALLS, STATE_DIR)


def committee_file(version: int) -> str:
    """The members' weights after update ``version`` (0: the committee the run started with)."""
    return f"{STATE_DIR}/committee-v{version:04d}.mlc"
