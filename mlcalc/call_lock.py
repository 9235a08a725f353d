"""One call at a time: a re-entrant lock for objects shared between threads, left out when pickled."""

from __future__ import annotations

import threading
from typing import Any

__all__ = ["SerialCalls"]

#: guards the creation of each object's lock (two threads asking first get the same lock)
_CREATING = threading.Lock()


class SerialCalls:
    """Mixin: :attr:`call_lock`, a re-entrant lock made on first use, serialises the calls that take it.

    Pickles and copies leave the lock out (a lock cannot be pickled); the copy makes its own.
    """

    @property
    def call_lock(self) -> threading.RLock:
        lock = self.__dict__.get("_call_lock")
        if lock is None:
            with _CREATING:
                lock = self.__dict__.setdefault("_call_lock", threading.RLock())
        return lock

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state.pop("_call_lock", None)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
