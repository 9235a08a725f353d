"""Data: shipped molecules, structure files (ASE formats, MD17/rMD17 npz), QM9, splits.

Names resolve on first use, so that ``mlcalc.data.molecules`` (and the CLI) stays light.
"""

import importlib

__all__ = ["MOLECULES", "load_molecule", "read_md17", "read_structures", "file_sha256"]

_HOMES = {"MOLECULES": "molecules", "load_molecule": "molecules", "read_md17": "md17", "read_structures": "structure_files",
          "file_sha256": "structure_files"}


def __getattr__(name: str):
    if name in _HOMES:
        return getattr(importlib.import_module(f"mlcalc.data.{_HOMES[name]}"), name)
    raise AttributeError(f"module 'mlcalc.data' has no attribute {name!r}")
