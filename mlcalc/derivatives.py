"""Forces and stress as derivatives of a model's energy (autograd).

Forces are -dE/dr; stress is (1/V) dE/dε for a symmetric strain ε applied to
positions and cell (ASE sign convention). Because both come from the same
energy, MD with these forces conserves that energy.
"""

from __future__ import annotations

import torch

from mlcalc import keys as K

__all__ = ["model_inputs", "energy_forces_stress"]

_INPUT_KEYS = (K.Z, K.POSITIONS, K.CELL, K.PBC, K.BATCH, K.N_ATOMS, K.EDGE_INDEX, K.EDGE_SHIFTS)


def model_inputs(batch) -> dict[str, torch.Tensor]:
    """The input fields of a PyG batch as a plain dict (targets left out)."""
    return {key: batch[key] for key in _INPUT_KEYS if key in batch}


def energy_forces_stress(
    model: torch.nn.Module,
    inputs: dict[str, torch.Tensor],
    forces: bool = True,
    stress: bool = False,
    create_graph: bool = False,
) -> dict[str, torch.Tensor]:
    """Run ``model`` on ``inputs`` and differentiate its energy.

    Returns the model's outputs plus FORCES [n_atoms, 3] eV/Å and STRESS
    [n_graphs, 3, 3] eV/Å³ when asked. ``create_graph`` keeps the graph of the
    derivatives (needed to train on forces). A model in eval mode runs as its ``inference_module()``.
    """
    inputs = dict(inputs)
    positions = inputs[K.POSITIONS].detach().requires_grad_(forces)
    inputs[K.POSITIONS] = positions
    strain = None
    if stress:
        cell = inputs[K.CELL]
        strain = torch.zeros_like(cell, requires_grad=True)
        symmetric = 0.5 * (strain + strain.transpose(1, 2))
        inputs[K.POSITIONS] = positions + torch.einsum("ni,nij->nj", positions, symmetric[inputs[K.BATCH]])
        inputs[K.CELL] = cell + torch.bmm(cell, symmetric)
    runner = model.inference_module() if hasattr(model, "inference_module") else model
    out = dict(runner(inputs))
    wrt = [t for t, wanted in ((positions, forces), (strain, stress)) if wanted]
    if wrt:
        grads = torch.autograd.grad(out[K.ENERGY].sum(), wrt, create_graph=create_graph)
        grads = list(grads)
        if forces:
            out[K.FORCES] = -grads.pop(0)
        if stress:
            volume = torch.linalg.det(inputs[K.CELL].detach()).abs()
            out[K.STRESS] = grads.pop(0) / volume[:, None, None]
    return out
