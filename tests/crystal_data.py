"""Tiny CGCNN-style data folders made from ASE bulk structures, for the crystal tests."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from ase.build import bulk

#: (element(s), crystal structure, lattice constant Å) prototypes
PROTOTYPES = [("Cu", "fcc", 3.61), ("Al", "fcc", 4.05), ("Fe", "bcc", 2.87), ("W", "bcc", 3.16),
              ("NaCl", "rocksalt", 5.64), ("MgO", "rocksalt", 4.21), ("Si", "diamond", 5.43),
              ("C", "diamond", 3.57), ("ZnS", "zincblende", 5.41)]


def random_crystals(n: int, seed: int):
    """``n`` seeded crystals: a prototype scaled by 0.9-1.1 and rattled by 0.02 Å, sometimes a 2x1x1 cell."""
    rng = np.random.default_rng(seed)
    out = []
    for k in range(n):
        name, kind, a = PROTOTYPES[rng.integers(len(PROTOTYPES))]
        atoms = bulk(name, kind, a=a * rng.uniform(0.9, 1.1))
        if rng.random() < 0.3:
            atoms = atoms * (2, 1, 1)
        atoms.rattle(0.02, seed=int(rng.integers(1 << 30)))
        out.append(atoms)
    return out


def write_cgcnn_folder(folder: Path, structures, targets, broken: tuple[str, ...] = ()) -> Path:
    """``id_prop.csv`` + ``<id>.cif`` (pymatgen's CifWriter); ``broken`` ids get a CIF that cannot be parsed."""
    from pymatgen.io.ase import AseAtomsAdaptor
    from pymatgen.io.cif import CifWriter

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for k, (atoms, target) in enumerate(zip(structures, targets)):
        name = f"mp-{k:04d}"
        CifWriter(AseAtomsAdaptor.get_structure(atoms)).write_file(folder / f"{name}.cif")
        lines.append(f"{name},{target:.8g}")
    for name in broken:
        (folder / f"{name}.cif").write_text("data_broken\n_cell_length_a not-a-number\nloop_\n_atom_site_label\n")
        lines.append(f"{name},1.0")
    (folder / "id_prop.csv").write_text("\n".join(lines) + "\n")
    return folder


def volume_per_atom(structures) -> np.ndarray:
    """Å³ per atom: an intensive target that CGCNN learns from neighbor distances."""
    return np.array([a.get_volume() / len(a) for a in structures])
