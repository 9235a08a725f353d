"""Learned representations of many structures, in batches (:meth:`mlcalc.model.AtomisticModel.encode`)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch
from ase import Atoms

from mlcalc.derivatives import model_inputs
from mlcalc.graph import atoms_to_batch

__all__ = ["representations"]


def representations(model: torch.nn.Module, structures: Sequence[Atoms], batch_size: int = 64,
                    per_atom: bool = False, progress: bool = False) -> np.ndarray | list[np.ndarray]:
    """The last hidden layer of ``model`` for each structure, float64 [n_structures, D].

    ``per_atom=True``: the node features of the last message-passing layer instead, one
    [n_atoms_k, F] array per structure. ``model``: a property or energy model (or an
    MLCalc's ``.model``); evaluated in its own dtype and device, without gradients.
    """
    if batch_size < 1:
        raise ValueError(f"batch_size must be at least 1, got {batch_size}")
    parameter = next(model.parameters())
    structures = list(structures)
    out: list = []
    starts = range(0, len(structures), batch_size)
    if progress:
        from tqdm import tqdm

        starts = tqdm(starts, desc="representations", unit="batch")
    model.eval()
    for start in starts:
        chunk = structures[start:start + batch_size]
        batch = atoms_to_batch(chunk, cutoff=model.cutoff, dtype=parameter.dtype, labels=False)
        with torch.no_grad():
            encoding = model.encode(model_inputs(batch.to(parameter.device)))
        if per_atom:
            nodes = encoding.nodes.to("cpu", torch.float64).numpy()
            out.extend(np.split(nodes, np.cumsum([len(a) for a in chunk])[:-1]))
        else:
            out.append(encoding.hidden.to("cpu", torch.float64).numpy())
    if per_atom:
        return out
    return np.concatenate(out) if out else np.zeros((0, 0))
