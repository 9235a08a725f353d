"""On-the-fly learning MD: a committee drives the MD, a reference labels the steps it is unsure of, the members
learn from them as the run goes (:func:`run_learning_md`, ``mlcalc md MODEL STRUCTURE --learn METHOD``).

Settings: :class:`mlcalc.md.settings.LearnSettings`. Modules: the committee and its fits (committee.py), the
threshold (threshold.py), the reference methods (references.py), the learner with its commits (learner.py),
its place in the one MD loop (loop.py), the run and its outputs (run.py), file names (files.py).
"""

from .run import LEARNING_ENSEMBLES, LearningResult, run_learning_md

__all__ = ["run_learning_md", "LearningResult", "LEARNING_ENSEMBLES"]
