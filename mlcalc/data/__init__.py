"""Data: shipped molecules, structure files (ASE formats, MD17/rMD17 npz), reference MD, datasets."""

from mlcalc.data.files import file_sha256, read_structures
from mlcalc.data.md17 import read_md17
from mlcalc.data.molecules import MOLECULES, load_molecule

__all__ = ["MOLECULES", "load_molecule", "read_md17", "read_structures", "file_sha256"]
