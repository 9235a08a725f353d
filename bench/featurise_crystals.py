"""Featurisation speed of CoRE MOFs: mlcalc's crystal graphs (vesin) against pymatgen's get_all_neighbors, same run.

Run: python bench/featurise_crystals.py [--config configs/cgcnn_coremof.yaml] [--pymatgen N]
The MOFs of the config (parsed CIFs from the graph cache that `mlcalc train` builds; parsing
is not timed) are featurised the CGCNN way: the 12 nearest neighbors within 8 Å of every
atom, their Gaussian-expanded distances (0..8 Å every 0.2 Å) and the element feature rows.
- mlcalc: ``crystal_graph`` (vesin neighbor list, ``nearest_edges``), vectorised expansion;
- pymatgen: ``Structure.get_all_neighbors`` then per atom sorting and cutting to 12, as
  CGCNN's own ``data.py`` does, same expansion.
Both run on the first N MOFs (default 500; pymatgen is the slow one) and are checked to
give the same distances; mlcalc also runs on all MOFs. The ratio is printed last; nothing
is asserted (goal >= 20x).
"""

from __future__ import annotations

import argparse
import time

import numpy as np
import torch


def expand(r: np.ndarray, dmax: float = 8.0, step: float = 0.2) -> np.ndarray:
    centres = np.arange(0.0, dmax + step, step)
    return np.exp(-((r[..., None] - centres) ** 2) / step**2)


def mlcalc_route(atoms_list, table, radius, k):
    from mlcalc import keys as K
    from mlcalc.crystal_graph import crystal_graph
    from mlcalc.graph import edge_vectors

    out = []
    for atoms in atoms_list:
        g = crystal_graph(atoms, radius, k, dtype=torch.float64)
        vec = edge_vectors(g[K.POSITIONS], g[K.CELL], torch.zeros(len(atoms), dtype=torch.long), g[K.EDGE_INDEX],
                           g[K.EDGE_SHIFTS])
        r = torch.linalg.vector_norm(vec, dim=1).numpy()
        out.append((table[atoms.numbers], g[K.EDGE_INDEX].numpy(), expand(r, radius), r))
    return out


def pymatgen_route(structures, table, radius, k):
    out = []
    for s in structures:
        neighbors = s.get_all_neighbors(radius, include_index=True)
        index, dist = [], []
        for found in neighbors:
            found = sorted(found, key=lambda n: n.nn_distance)[:k]
            index.append([n.index for n in found])
            dist.append([n.nn_distance for n in found])
        r = np.concatenate([np.asarray(d) for d in dist])
        out.append((table[[site.specie.Z for site in s]], index, expand(r, radius), r))
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/cgcnn_coremof.yaml")
    parser.add_argument("--pymatgen", type=int, default=500, help="MOFs featurised by both routes")
    args = parser.parse_args()

    from pymatgen.io.ase import AseAtomsAdaptor

    from mlcalc.potentials.training.config import load_config
    from mlcalc.data.elements import element_features
    from mlcalc.potentials.training.crystal_train import load_crystal_data

    cfg = load_config(args.config)
    radius, k = cfg.model.cutoff, cfg.model.hyperparameters.get("max_neighbors", 12)
    start = time.perf_counter()
    crystals, *_ = load_crystal_data(cfg)
    print(f"{len(crystals)} MOFs ({crystals.n_atoms.sum()} atoms, mean {crystals.n_atoms.mean():.0f}, "
          f"max {crystals.n_atoms.max()}) from the graph cache in {time.perf_counter() - start:.1f} s")
    atoms = [crystals.atoms(i) for i in range(len(crystals))]
    n = min(args.pymatgen, len(atoms))
    structures = [AseAtomsAdaptor.get_structure(a) for a in atoms[:n]]
    table = element_features()

    mlcalc_route(atoms[:5], table, radius, k), pymatgen_route(structures[:2], table, radius, k)  # warm-up
    start = time.perf_counter()
    mlcalc_route(atoms, table, radius, k)
    t_all = time.perf_counter() - start
    print(f"mlcalc   all {len(atoms)} MOFs: {t_all:.1f} s ({1e3 * t_all / len(atoms):.2f} ms/MOF)")
    start = time.perf_counter()
    ours = mlcalc_route(atoms[:n], table, radius, k)
    t_ours = time.perf_counter() - start
    start = time.perf_counter()
    theirs = pymatgen_route(structures, table, radius, k)
    t_theirs = time.perf_counter() - start
    worst = max(np.abs(np.sort(a[3]) - np.sort(b[3])).max() for a, b in zip(ours, theirs))
    print(f"first {n} MOFs: mlcalc {t_ours:.2f} s ({1e3 * t_ours / n:.2f} ms/MOF), pymatgen get_all_neighbors "
          f"{t_theirs:.2f} s ({1e3 * t_theirs / n:.2f} ms/MOF); largest distance difference {worst:.1e} Å")
    print(f"pymatgen for all {len(atoms)} MOFs at that rate: {t_theirs / n * len(atoms):.0f} s (estimate)")
    print(f"speed-up mlcalc / pymatgen: {t_theirs / t_ours:.1f}x")


if __name__ == "__main__":
    main()
