"""How a learner joins the one MD loop (:func:`mlcalc.md.run_steps`): a stepper and run folders that consult it.

:class:`LearningStepper` commits the learner's state before each step (when the folders have just
saved a frame) and times the model's work; :class:`LearningFolder` shows each system's state to the
learner before its run folder records it, and closes the folder as soon as its run ends (so that a
commit never finds an ended system with a stale checkpoint).
"""

from __future__ import annotations

import time
from typing import Any

from ase import Atoms

from mlcalc.md.monitors import BlowUpError
from mlcalc.md.result import MDResult
from mlcalc.md.run_folder import RunFolder

from .learner import Learner

__all__ = ["LearningStepper", "LearningFolder"]


class LearningStepper:
    """``inner`` (any :class:`~mlcalc.md.Stepper`) with the learner's commits before each step and its model time."""

    def __init__(self, inner: Any, learner: Learner):
        self.inner, self.learner = inner, learner
        self.n_systems = inner.n_systems

    def step(self) -> None:
        if self.learner.commit_due():
            self.learner.commit()
        start = time.perf_counter()
        try:
            self.inner.step()
        finally:
            self.learner.times["model_s"] += time.perf_counter() - start

    def snapshot(self, k: int) -> Atoms:
        return self.inner.snapshot(k)

    def integrator_state(self, k: int = 0) -> Any:
        return self.inner.integrator_state(k)

    def set_integrator_state(self, state: Any, k: int = 0) -> None:
        self.inner.set_integrator_state(state, k)

    def release(self, k: int) -> None:
        self.inner.release(k)

    def refresh(self) -> None:
        self.inner.refresh()

    def scale_momenta(self, k: int, factor: float) -> None:
        self.inner.scale_momenta(k, factor)


class LearningFolder:
    """System ``k``'s :class:`~mlcalc.md.RunFolder` behind the learner (what :func:`~mlcalc.md.run_steps` records into)."""

    def __init__(self, folder: RunFolder, learner: Learner, k: int):
        self.folder, self.learner, self.k = folder, learner, k
        self.result: MDResult | None = None
        self.closed = False

    @property
    def settings(self):
        return self.folder.settings

    @property
    def running(self) -> bool:
        return self.folder.running

    def record(self, step: int, atoms: Atoms, integrator_state: Any = None) -> None:
        state = self.learner.visit(self.k, step, atoms)
        self.folder.record(step, atoms if state is None else state, integrator_state)
        if state is None:  # the budget is spent and on_budget is stop: the run ends with this state
            self.folder.end(f"the budget of {self.learner.learn.max_calls} reference calls is spent and step {step} "
                            "needed a label (on_budget: stop)", step, atoms, integrator_state)
        if not self.folder.running:
            self.close()

    def stop(self, err: BlowUpError, atoms: Atoms) -> None:
        self.folder.stop(err, atoms)
        self.close()

    def close(self) -> MDResult | None:
        """Close the run folder once (its final checkpoint and summary when its run ended); its result."""
        if not self.closed:
            self.closed = True
            self.result = self.folder.close()
        return self.result
