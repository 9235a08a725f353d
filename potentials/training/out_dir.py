"""The output folder of a training run: never silently replaced, one writer at a time.

:func:`training_folder` checks ``out_dir`` (a folder, not a file), refuses to start a new
run over an earlier one (checkpoints or the model file) unless ``resume`` continues it or
``overwrite`` deletes it, and locks the folder (:class:`~mlcalc.locks.FolderLock`) while
the run writes there.
"""

from __future__ import annotations

import os
import shutil
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

from mlcalc.errors import OutputExistsError
from mlcalc.locks import FolderLock

__all__ = ["training_folder"]

#: what a training run writes into its folder besides ``<name>.mlc`` (what ``overwrite`` deletes)
_RUN_OUTPUTS = ("checkpoints", "logs", "metrics.json", "parity.png", "loss.png", "init_from.json")


@contextmanager
def training_folder(out: Path, name: str, resume: bool, overwrite: bool) -> Iterator[Path]:
    """``out`` ready and locked for the run ``name`` (see the module docstring)."""
    out = Path(out)
    if out.exists() and not out.is_dir():
        raise NotADirectoryError(f"out_dir {out} is a file, not a folder")
    if _ddp_helper_process():  # rank 0 (the launching process) has checked and locked the folder
        yield out
        return
    with FolderLock(out, "training folder"):
        earlier = [p for p in (out / "checkpoints", out / f"{name}.mlc") if p.exists() and any(_entries(p))]
        if earlier and not resume:
            if not overwrite:
                found = ", ".join(str(p.relative_to(out)) for p in earlier)
                raise OutputExistsError(f"out_dir {out} already holds a training run ({found}); continue it with "
                                        "--resume (resume=True) or replace it with --overwrite (overwrite=True)")
            for path in [out / n for n in _RUN_OUTPUTS] + [out / f"{name}.mlc"]:
                if path.is_dir():
                    shutil.rmtree(path)
                elif path.exists():
                    path.unlink()
        yield out


def _ddp_helper_process() -> bool:
    """True in the processes Lightning's DDP launcher starts besides rank 0 (it sets LOCAL_RANK/NODE_RANK)."""
    return any(int(os.environ.get(name, "0") or 0) > 0 for name in ("LOCAL_RANK", "NODE_RANK"))


def _entries(path: Path) -> list:
    return list(path.iterdir()) if path.is_dir() else [path]
