"""Training data: graphs of labelled structures, seeded splits, and energy normalisation."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import torch
from ase import Atoms
from torch.utils.data import Dataset

from mlcalc import keys as K
from mlcalc.atomref import fit_atomref
from mlcalc.data.splits import split_indices
from mlcalc.graph import atoms_to_graph

__all__ = ["GraphDataset", "LazyGraphDataset", "FrameView", "split_indices", "fit_atomref", "force_rms"]


class GraphDataset(Dataset):
    """Labelled structures as graphs with neighbor pairs within ``cutoff`` Å (built once).

    ``targets`` [n_structures, n_targets] (property models) are attached as ``K.TARGETS``.
    """

    def __init__(self, structures: Sequence[Atoms], cutoff: float, dtype: torch.dtype = torch.float32,
                 targets: np.ndarray | None = None):
        self.graphs = [atoms_to_graph(a, cutoff=cutoff, dtype=dtype) for a in structures]
        if targets is not None:
            targets = np.asarray(targets, dtype=np.float64).reshape(len(self.graphs), -1)
            for graph, row in zip(self.graphs, targets):
                graph[K.TARGETS] = torch.as_tensor(row, dtype=dtype).unsqueeze(0)

    def __len__(self) -> int:
        return len(self.graphs)

    def __getitem__(self, index: int):
        return self.graphs[index]


class FrameView(Sequence):
    """The frames ``indices`` of ``frames`` as a sequence, without copying them (nor making their Atoms)."""

    def __init__(self, frames: Sequence[Atoms], indices: Sequence[int]):
        self.frames, self.indices = frames, np.asarray(indices, dtype=np.int64)

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, k):
        if isinstance(k, slice):
            return [self.frames[int(i)] for i in self.indices[k]]
        return self.frames[int(self.indices[k])]

    def __getattr__(self, name: str):
        """``element_counts()``, ``energies()``, ``forces()``, ``reference``: from the arrays when ``frames`` is a
        frame folder's :class:`~mlcalc.data.frame_folder.FlatFrames` (absent otherwise: callers fall back to
        the frames' Atoms)."""
        from mlcalc.data.frame_folder import FlatFrames

        frames = self.__dict__.get("frames")
        if not isinstance(frames, FlatFrames):
            raise AttributeError(name)
        if name == "element_counts":
            return lambda: frames.element_counts(self.indices)
        if name == "energies":
            return lambda: frames.energy[self.indices]
        if name == "forces":
            return lambda: frames.forces[frames.atom_rows(self.indices)]
        if name == "reference":
            return frames.reference
        raise AttributeError(name)


class LazyGraphDataset(Dataset):
    """Frames ``indices`` of ``frames`` (any sequence of labelled Atoms, e.g. a frame folder's
    :class:`~mlcalc.data.frame_folder.FlatFrames`), each made into a graph when it is drawn.

    For data sets too large to hold a graph per frame: the same graphs as :class:`GraphDataset`,
    built again each epoch (a neighbour search per frame, small beside the model's step).
    """

    def __init__(self, frames: Sequence[Atoms], indices: Sequence[int], cutoff: float,
                 dtype: torch.dtype = torch.float32):
        self.frames, self.indices, self.cutoff, self.dtype = frames, np.asarray(indices, dtype=np.int64), cutoff, dtype

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, index: int):
        return atoms_to_graph(self.frames[int(self.indices[index])], cutoff=self.cutoff, dtype=self.dtype)


def force_rms(structures: Sequence[Atoms]) -> float:
    """Root-mean-square force component (eV/Å) of labelled structures."""
    if hasattr(structures, "forces"):  # a frame folder's frames: from its arrays
        forces = structures.forces()
    else:
        forces = np.concatenate([a.get_forces().ravel() for a in structures])
    return float(np.sqrt(np.mean(forces**2)))
