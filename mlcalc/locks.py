"""A folder locked against a second writer: a lock file naming its owner (pid, host), held with ``flock``.

:class:`FolderLock` creates ``<folder>/.mlcalc.lock``, takes an exclusive ``flock`` on it
and writes the owner's pid, host and start time into it. The kernel drops the ``flock``
when the owner dies (kill -9 included), so a lock file whose ``flock`` is free is stale:
the next writer takes it over and logs a warning naming the dead owner. A lock held by a
live process raises :class:`~mlcalc.errors.FolderInUseError` naming the folder, pid and
host. Releasing removes the file. Where ``flock`` is unavailable (no ``fcntl``, or a file
system without locks) the owner's pid is checked instead (alive on this host: in use).
"""

from __future__ import annotations

import errno
import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from mlcalc.errors import FolderInUseError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]

__all__ = ["FolderLock", "LOCK_FILE", "pid_alive", "require_folder"]

log = logging.getLogger(__name__)

#: name of the lock file inside a locked folder
LOCK_FILE = ".mlcalc.lock"


def require_folder(path: str | os.PathLike, what: str = "output folder") -> Path:
    """``path`` as a Path; NotADirectoryError if it, or the nearest existing path above it, is a file
    (a folder is needed there; ``mkdir`` would only say 'File exists')."""
    path = Path(path)
    for candidate in (path, *path.parents):
        if candidate.exists():
            if not candidate.is_dir():
                above = "" if candidate == path else f" (for {path})"
                raise NotADirectoryError(f"{what}: {candidate} is a file, but a folder is needed there{above}")
            break
    return path


class FolderLock:
    """An exclusive lock on ``folder`` (created if missing) for this process; ``what`` names it in messages.

    Use as a context manager, or :meth:`acquire` / :meth:`release`. Acquiring twice from
    one process (two objects) is refused like a second process.
    """

    def __init__(self, folder: str | os.PathLike, what: str = "folder"):
        self.folder = Path(folder)
        self.path = self.folder / LOCK_FILE
        self.what = what
        self._fd: int | None = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def acquire(self) -> FolderLock:
        """Take the lock (a stale one is taken over with a warning); raises :class:`FolderInUseError`."""
        if self.held:
            return self
        require_folder(self.folder, self.what)
        self.folder.mkdir(parents=True, exist_ok=True)
        previous: dict[str, Any] = {}
        while self._fd is None:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                if not self._lock(fd):
                    raise FolderInUseError(self._in_use_message(_read_owner(fd)))
                if _same_file(fd, self.path):  # else the owner released (removed) it meanwhile: try again
                    previous = _read_owner(fd)
                    self._fd, fd = fd, -1
            finally:
                if fd >= 0:
                    os.close(fd)
        if previous:
            log.warning("%s %s: taking over the stale lock of process %s on %s (no longer running)", self.what,
                        self.folder, previous.get("pid", "?"), previous.get("host", "?"))
        _write_owner(self._fd)
        return self

    def release(self) -> None:
        """Remove the lock file and drop the lock (nothing happens if it is not held)."""
        if self._fd is None:
            return
        try:
            if _same_file(self._fd, self.path):
                self.path.unlink()
        except OSError:  # a read-only or vanished folder: the kernel still drops the flock below
            pass
        finally:
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> FolderLock:
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()

    def _lock(self, fd: int) -> bool:
        """True when this process now holds the lock on ``fd``."""
        if fcntl is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                return True
            except OSError as err:
                if err.errno in (errno.EAGAIN, errno.EACCES):
                    return False
                if err.errno not in (errno.ENOLCK, errno.EOPNOTSUPP, errno.ENOSYS):
                    raise
        owner = _read_owner(fd)  # no flock here: judge by the owner's pid
        return not (owner.get("host") == socket.gethostname() and owner.get("pid") not in (None, os.getpid())
                    and pid_alive(owner["pid"]))

    def _in_use_message(self, owner: dict[str, Any]) -> str:
        return (f"{self.what} {self.folder} is in use by process {owner.get('pid', '?')} on "
                f"{owner.get('host', '?')} (since {owner.get('since', '?')}); wait for it to finish or stop it "
                f"(lock file {self.path})")


def pid_alive(pid: int) -> bool:
    """True while process ``pid`` exists on this host and is not a zombie."""
    try:
        os.kill(int(pid), 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else
        return True
    try:
        with open(f"/proc/{int(pid)}/stat") as fh:
            return fh.read().rpartition(")")[2].split()[0] != "Z"
    except OSError:  # no /proc (not Linux), or it just ended
        return True


def _same_file(fd: int, path: Path) -> bool:
    try:
        return os.fstat(fd).st_ino == os.stat(path).st_ino
    except FileNotFoundError:
        return False


def _read_owner(fd: int) -> dict[str, Any]:
    """The owner recorded in the lock file open as ``fd`` ({} if empty or unreadable)."""
    try:
        os.lseek(fd, 0, os.SEEK_SET)
        owner = json.loads(os.read(fd, 4096).decode() or "{}")
        return owner if isinstance(owner, dict) else {}
    except (OSError, ValueError):
        return {}


def _write_owner(fd: int) -> None:
    payload = json.dumps({"pid": os.getpid(), "host": socket.gethostname(),
                          "since": time.strftime("%Y-%m-%d %H:%M:%S")}).encode()
    os.ftruncate(fd, 0)
    os.pwrite(fd, payload, 0)
