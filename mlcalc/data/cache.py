"""Where mlcalc keeps converted data sets: ``$MLCALC_CACHE``, else ``$XDG_CACHE_HOME/mlcalc``, else ``~/.cache/mlcalc``."""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["cache_dir"]


def cache_dir(path: str | os.PathLike | None = None) -> Path:
    """The cache folder (``path`` when given), created if missing."""
    if path is None:
        env = os.environ.get("MLCALC_CACHE")
        if env:
            path = env
        else:
            path = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "mlcalc"
    path = Path(path).expanduser()
    path.mkdir(parents=True, exist_ok=True)
    return path
