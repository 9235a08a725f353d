"""Where molecules are labelled: in this process, or on Ray (a local Ray with one worker per core, or a cluster).

An executor takes jobs and yields results as they finish, with at most ``in_flight`` jobs
handed out at a time (what a killed run loses). Both run :func:`~.sampling.label_molecule`
with the same job and settings, so a molecule's frames do not depend on where it ran.
"""

from __future__ import annotations

import os
import signal
import threading
from typing import Iterable, Iterator, Protocol

from .molecules import MoleculeJob
from .sampling import MoleculeResult, label_molecule
from .settings import BroadSetSettings

__all__ = ["Executor", "InProcessExecutor", "RayExecutor", "make_executor", "ENGINES", "ONE_THREAD", "Terminated"]

#: values of ``--engine``
ENGINES = ("ray", "local")
#: one-thread numerics in every worker: tblite with spinning OpenMP threads is ~400x slower on a shared machine
ONE_THREAD = {"OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1"}


class Executor(Protocol):
    workers: int

    def run(self, jobs: Iterable[MoleculeJob], settings: BroadSetSettings) -> Iterator[MoleculeResult]: ...

    def close(self) -> None: ...


class InProcessExecutor:
    """Label one molecule after another in this process (one worker)."""

    workers = 1

    def run(self, jobs: Iterable[MoleculeJob], settings: BroadSetSettings) -> Iterator[MoleculeResult]:
        for job in jobs:
            yield label_molecule(job, settings)

    def close(self) -> None:
        pass


class RayExecutor:
    """Label molecules as Ray tasks (one CPU each, one thread each).

    ``address``: None starts a local Ray with ``workers`` CPUs (default: every core); an
    address (``ray://host:10001`` or ``host:6379``) joins that cluster, whose workers need
    mlcalc (with its ``tblite`` extra) installed. Results come back to this process, which
    alone writes the data set, so cluster nodes need no shared file system.
    """

    def __init__(self, workers: int | None = None, address: str | None = None):
        try:
            import ray
        except ImportError:
            raise ImportError("the Ray engine needs ray: pip install 'mlcalc[cluster]' (or use --engine local)") \
                from None
        self._ray = ray
        os.environ.setdefault("RAY_ACCEL_ENV_VAR_OVERRIDE_ON_ZERO", "0")
        kwargs = dict(include_dashboard=False, log_to_driver=False, configure_logging=False,
                      runtime_env={"env_vars": dict(ONE_THREAD)})
        if address is None:
            kwargs.update(num_cpus=workers or os.cpu_count() or 1, object_store_memory=200 * 2**20)
        self._started = not ray.is_initialized()
        self._sigterm = None
        self._terminated: int | None = None  # the signal number once SIGTERM came
        self._raised = False
        if self._started:
            before = signal.getsignal(signal.SIGTERM)
            try:
                ray.init(address=address, **kwargs)
            except ConnectionError as err:
                raise ConnectionError(f"cannot reach the Ray cluster at {address}: {err}") from None
            self._sigterm = self._note_sigterm(before)
        self.workers = int(ray.cluster_resources().get("CPU", 1)) if workers is None or address else workers
        self._task = ray.remote(num_cpus=1, max_retries=0)(label_molecule)

    def run(self, jobs: Iterable[MoleculeJob], settings: BroadSetSettings) -> Iterator[MoleculeResult]:
        ray, queue = self._ray, iter(jobs)
        settings_ref = ray.put(settings)
        pending = []
        try:
            while True:
                self._raise_if_terminated()
                while len(pending) < self.workers:  # at most one molecule per worker in flight
                    job = next(queue, None)
                    if job is None:
                        break
                    pending.append(self._task.remote(job, settings_ref))
                if not pending:
                    return
                done, pending = ray.wait(pending, num_returns=1, timeout=_SIGNAL_POLL_S)
                if done:
                    yield ray.get(done[0])
        finally:
            for ref in pending:
                ray.cancel(ref, force=True)

    def close(self) -> None:
        if self._started and self._ray.is_initialized():
            self._ray.shutdown()
        if self._sigterm is not None and threading.current_thread() is threading.main_thread():
            signal.signal(signal.SIGTERM, self._sigterm)
            self._sigterm = None
        if self._terminated is not None and not self._raised:
            self._raise_if_terminated()  # a SIGTERM outside run(): still ends the process with 143

    def _note_sigterm(self, before):
        """Make SIGTERM mark this executor terminated (this process's main thread only); return the handler
        to restore, or None.

        ``ray.init`` leaves a C++ failure-signal handler on SIGTERM that prints a stack dump before Ray's own
        exit, which reads as a crash when a run is only being stopped (the data set loses nothing: it
        resumes). The handler only notes the signal: an exception raised inside ``ray.wait`` is turned by
        Ray into its own exit with code 1, so :meth:`run` raises :class:`Terminated` between its waits.
        """
        if threading.current_thread() is not threading.main_thread():
            return None

        def note(signum, frame):
            self._terminated = signum

        signal.signal(signal.SIGTERM, note)
        return before if before is not None else signal.SIG_DFL

    def _raise_if_terminated(self) -> None:
        if self._terminated is not None:
            self._raised = True
            raise Terminated(128 + self._terminated)


#: seconds :meth:`RayExecutor.run` waits on Ray at a time before it looks for a SIGTERM again
_SIGNAL_POLL_S = 0.2


class Terminated(SystemExit):
    """SIGTERM while Ray ran: the process ends through Python (exit code 143), its ``finally`` blocks first."""


def make_executor(engine: str, workers: int | None = None, address: str | None = None) -> Executor:
    """The executor named ``engine`` (one of :data:`ENGINES`)."""
    if engine == "local":
        if address is not None:
            raise ValueError("--address names a Ray cluster; it needs --engine ray")
        if workers not in (None, 1):
            raise ValueError(f"--engine local runs one molecule at a time; --workers {workers} needs --engine ray")
        return InProcessExecutor()
    if engine == "ray":
        return RayExecutor(workers, address)
    raise ValueError(f"unknown engine {engine!r}; engines: {', '.join(ENGINES)}")
