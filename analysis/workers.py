"""Worker processes that end with their parent, so that a killed run leaves nothing writing behind it.

:func:`die_with_parent` runs in a worker (e.g. as a process pool's initializer). On Linux
it asks the kernel for SIGKILL when the parent dies (``prctl(PR_SET_PDEATHSIG)``); on
every platform a daemon thread also polls the parent pid once a second and kills the
worker when the parent is gone (the fallback, and the guard against a parent that died
before the ``prctl``).
"""

from __future__ import annotations

import ctypes
import os
import signal
import sys
import threading
import time

__all__ = ["die_with_parent"]

_PR_SET_PDEATHSIG = 1  # from <linux/prctl.h>


def die_with_parent(parent_pid: int, poll_s: float = 1.0) -> None:
    """Make this process end (SIGKILL) as soon as ``parent_pid``, its parent, ends.

    Linux delivers the death signal when the *thread* that started this process ends:
    start workers from a thread that lives as long as they should (the main thread).
    """
    if sys.platform.startswith("linux"):
        try:
            ctypes.CDLL(None, use_errno=True).prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # no prctl: the watchdog below still works
            pass
    if os.getppid() != parent_pid:  # the parent is already gone
        _kill_self()
    threading.Thread(target=_watch, args=(parent_pid, poll_s), name="mlcalc-parent-watchdog", daemon=True).start()


def _watch(parent_pid: int, poll_s: float) -> None:
    while os.getppid() == parent_pid:
        time.sleep(poll_s)
    _kill_self()


def _kill_self() -> None:
    os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
