"""Ensemble members trained side by side in worker processes (``mlcalc train --seeds N --jobs K``).

:func:`run_members` calls ``function(k)`` for every member ``k`` in up to ``jobs`` spawned
processes (a fresh interpreter each: no state shared with the caller). Each worker uses
``threads`` torch threads (default: its share of the cores, ``max(1, cores // jobs)``),
writes its output lines prefixed with ``[<label>] `` and dies with the parent process (so a
killed run leaves no orphan holding a member's folder: ``--resume`` continues every member).
A member that fails does not stop the others; afterwards the first failure is raised as one
line naming the member.
"""

from __future__ import annotations

import io
import multiprocessing
import os
import signal
import sys
from concurrent.futures import ProcessPoolExecutor
from typing import Any, Callable, Sequence

from mlcalc.errors import MLCalcError

__all__ = ["run_members", "MemberError", "available_cores"]


class MemberError(MLCalcError):
    """One ensemble member failed (its label and the first line of its error are in the message)."""


def available_cores() -> int:
    """CPU cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # pragma: no cover - not Linux
        return os.cpu_count() or 1


class _Prefixed(io.TextIOBase):
    """A text stream that writes every line to ``stream`` prefixed with ``prefix``."""

    def __init__(self, stream, prefix: str):
        self.stream, self.prefix, self.pending = stream, prefix, ""

    def write(self, text: str) -> int:
        lines = (self.pending + text).replace("\r", "\n").split("\n")
        self.pending = lines.pop()
        for line in lines:
            if line.strip():
                self.stream.write(f"{self.prefix}{line}\n")
        self.stream.flush()
        return len(text)

    def flush(self) -> None:
        self.stream.flush()


def _die_with_parent() -> None:
    """Ask Linux to kill this worker when its parent dies (best effort; no-op elsewhere)."""
    try:
        import ctypes

        ctypes.CDLL("libc.so.6").prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
    except (OSError, AttributeError):  # pragma: no cover - not Linux
        pass


def _worker_init(threads: int) -> None:
    _die_with_parent()
    os.environ["OMP_NUM_THREADS"] = str(threads)
    import torch

    torch.set_num_threads(threads)


def _call(function: Callable[[int], Any], k: int, label: str) -> Any:
    import logging

    sys.stdout, sys.stderr = _Prefixed(sys.__stdout__, f"[{label}] "), _Prefixed(sys.__stderr__, f"[{label}] ")
    for handler in logging.getLogger().handlers + logging.getLogger("lightning.pytorch").handlers:
        if isinstance(handler, logging.StreamHandler):
            handler.setStream(sys.stderr)
    return function(k)


def run_members(function: Callable[[int], Any], members: Sequence[int], labels: Sequence[str], jobs: int,
                threads: int | None = None, echo: Callable[[str], None] = print) -> list[Any]:
    """``[function(k) for k in members]``, computed in up to ``jobs`` spawned processes.

    ``function`` must be picklable (a module-level function or a ``functools.partial`` of one).
    ``labels``: one per member, prefixed to its output lines and named in its error.
    Raises :class:`MemberError` (after the other members have finished) if one failed.
    """
    if jobs < 1:
        raise ValueError(f"jobs must be at least 1, got {jobs}")
    threads = threads or max(1, available_cores() // jobs)
    context = multiprocessing.get_context("spawn")
    results: dict[int, Any] = {}
    failures: list[str] = []
    with ProcessPoolExecutor(max_workers=min(jobs, len(members)), mp_context=context, initializer=_worker_init,
                             initargs=(threads,)) as pool:
        echo(f"training {len(members)} members, {min(jobs, len(members))} at a time, {threads} torch thread(s) each")
        futures = {k: pool.submit(_call, function, k, label) for k, label in zip(members, labels)}
        for (k, future), label in zip(futures.items(), labels):
            try:
                results[k] = future.result()
            except Exception as err:  # noqa: BLE001 - reported below, named by member
                message = (str(err).strip().splitlines() or [""])[0]
                failures.append(f"member {label} failed: {type(err).__name__}: {message}")
    if failures:
        more = f" (and {len(failures) - 1} more)" if len(failures) > 1 else ""
        raise MemberError(failures[0] + more)
    return [results[k] for k in members]
