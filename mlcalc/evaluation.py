"""The one evaluation of an energy model: structures as arrays in; energy, forces, stress and spread out.

:func:`evaluate_structures` is what both MLCalc (one structure per ASE call, through
:mod:`mlcalc.evaluators`) and the TorchSim model (:mod:`mlcalc.md.torchsim_model`, a batch
per MD step) call, so both apply the same checks and give the same numbers:

- the model's elements (:func:`~mlcalc.validation.check_elements`);
- no two atoms closer than ``min_distance`` Å (read from the neighbor pairs when they hold
  every closer pair, else one extra search), a one-line ValueError naming the pair;
- models narrower than float64 see each structure's positions centred (and wrapped along
  periodic directions) in float64 before the cast (:func:`mlcalc.graph.centred_positions`);
- an ensemble (``evaluator_key == "committee"``) gives its members' mean, spread and
  per-structure force ``uncertainty`` (:func:`evaluate_inputs`);
- before the model runs, the memory its evaluation needs (the kind's ``evaluation_bytes``: its
  per-edge, per-atom (and per-angle) costs on the graph it will build) against
  :func:`mlcalc.graph_size.memory_limit`, a one-line :class:`~mlcalc.graph_size.GraphTooLargeError`
  naming the structure, the model, the memory and the limit (:func:`check_evaluation_memory`);
- after it, finite but implausible predictions (more than :data:`MAX_ENERGY_PER_ATOM` eV per atom
  or :data:`MAX_FORCE` eV/Å: broken weights), a one-line :class:`ImplausiblePredictionError`
  naming the structure and the model (:func:`check_plausible`; NaN and infinities are the callers'
  to report: MLCalc names them, batched MD drops the system).

:func:`load_for_evaluation` turns a model object, ``.mlc`` file or shipped name into a
model on its device and dtype (:data:`DEFAULT_DTYPE`: float32, MLCalc's and the TorchSim
model's default).
"""

from __future__ import annotations

import math
import os
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch

from mlcalc import keys as K
from mlcalc.derivatives import energy_forces_stress
from mlcalc.graph import centred_positions, neighbor_pairs, periodic_cell
from mlcalc.graph_size import GraphTooLargeError, memory_limit, memory_message
from mlcalc.neighbor_cache import NeighborCache, structure_inputs
from mlcalc.validation import DEFAULT_MIN_DISTANCE, check_elements, check_pair_distances

__all__ = ["DEFAULT_DTYPE", "MAX_ENERGY_PER_ATOM", "MAX_FORCE", "ImplausiblePredictionError", "as_dtype",
           "load_for_evaluation", "structure_model_inputs", "check_evaluation_memory", "check_plausible",
           "check_plausible_properties", "MAX_STANDARD_SCORE", "evaluate_inputs", "evaluate_structures"]

_DTYPES = {"float32": torch.float32, "float64": torch.float64}
#: the dtype a model is evaluated in unless asked otherwise (MLCalc, the TorchSim model, ``mlcalc md``)
DEFAULT_DTYPE = torch.float32
#: the largest |energy| per atom (eV) a prediction may have: above any element's all-electron total energy (about
#: 7.6e5 eV for uranium), so that no real structure reaches it whatever the model's energy zero
MAX_ENERGY_PER_ATOM = 1e6
#: the largest force (eV/Å) a prediction may have: atoms at the 0.5 Å close-contact limit feel some 1e3 eV/Å
MAX_FORCE = 1e5

#: the farthest a property model's prediction may lie from its training targets' mean, in their standard deviations
#: (per atom for extensive targets): a QM9 HOMO (std 0.59 eV) 1,000 deviations off is 600 eV off, no molecule's
MAX_STANDARD_SCORE = 1e3


class ImplausiblePredictionError(ValueError):
    """A model gave a finite but physically impossible energy or force (broken weights)."""


def as_dtype(value: Any) -> torch.dtype:
    """``torch.float32``/``torch.float64`` or their names as a torch.dtype; TypeError for anything else."""
    if isinstance(value, str) and value in _DTYPES:
        return _DTYPES[value]
    if value in _DTYPES.values():
        return value
    raise TypeError(f"dtype must be torch.float32 or torch.float64 (or 'float32', 'float64'), got {value!r}")


def load_for_evaluation(model: str | os.PathLike | torch.nn.Module, device: torch.device, dtype: torch.dtype,
                        manifest: dict | None = None) -> tuple[torch.nn.Module, dict, str | None]:
    """``(model on device in dtype and eval mode, manifest, source)`` from a model object, ``.mlc`` file or
    shipped name. ``source``: a shipped model's name, a file's absolute path (also the model's ``loaded_from``,
    which messages name), None for an object (cast in place)."""
    from mlcalc.modelfile import load_model
    from mlcalc.named_models import PRETRAINED_DIR, available_models, resolve_model_path

    source = None
    if isinstance(model, (str, os.PathLike)):
        path = resolve_model_path(model)
        # a shipped model keeps its name; a file is recorded by absolute path (usable from anywhere)
        source = str(model) if path.parent == PRETRAINED_DIR and not Path(model).is_file() else str(path.resolve())
        model, manifest = load_model(path)
    elif not isinstance(model, torch.nn.Module):
        raise TypeError(f"a model is a .mlc file, a shipped model name ({', '.join(available_models())}) "
                        f"or a model object; got {model!r:.80}")
    model = model.to(device=device, dtype=dtype).eval()
    if source is not None:
        model.loaded_from = source  # named in the evaluation's messages
    return model, dict(manifest or {}), source


def structure_model_inputs(model: torch.nn.Module, positions: np.ndarray, numbers: np.ndarray, cells: np.ndarray,
                           pbc: np.ndarray, sizes: Sequence[int], neighbors: NeighborCache, dtype: torch.dtype,
                           device: torch.device | str = "cpu",
                           min_distance: float = DEFAULT_MIN_DISTANCE) -> dict[str, torch.Tensor]:
    """Checked model inputs (fields of :mod:`mlcalc.keys`) for structures laid end to end.

    ``positions`` [n_atoms, 3] Å, ``numbers`` [n_atoms], ``cells`` [n_structures, 3, 3] (rows are
    lattice vectors), ``pbc`` bool [n_structures, 3], ``sizes`` atoms per structure; pairs from
    ``neighbors``. Raises ValueError for an element the model does not know or two atoms closer
    than ``min_distance`` Å (0: no check).
    """
    positions = np.asarray(positions, dtype=np.float64)
    numbers, sizes = np.asarray(numbers), np.asarray(sizes, dtype=np.int64)
    cells, pbc = np.asarray(cells, dtype=np.float64), np.asarray(pbc, dtype=bool)
    check_elements(numbers, model.elements)
    starts = np.concatenate([[0], np.cumsum(sizes)])
    reuse = min_distance < neighbors.cutoff  # then the pairs hold every closer pair: no second search
    if min_distance > 0 and not reuse:
        for b, (a, z) in enumerate(zip(starts[:-1], starts[1:])):
            if z - a > 1 or pbc[b].any():
                edges, shifts = neighbor_pairs(positions[a:z], cells[b], pbc[b], min_distance)
                vectors = positions[a:z][edges[0]] - positions[a:z][edges[1]] + shifts @ periodic_cell(cells[b], pbc[b])
                check_pair_distances(numbers, edges + a, np.einsum("ij,ij->i", vectors, vectors), min_distance,
                                     starts[:-1])
    if torch.finfo(dtype).bits < 64:  # each structure centred (and wrapped) in float64 before the cast
        positions = np.concatenate([centred_positions(positions[a:z], cells[b], pbc[b]) if z > a else positions[a:z]
                                    for b, (a, z) in enumerate(zip(starts[:-1], starts[1:]))])
    inputs = structure_inputs(positions, numbers, cells, pbc, sizes, neighbors, dtype, device)
    if min_distance > 0 and reuse:
        check_pair_distances(numbers, inputs[K.EDGE_INDEX].cpu().numpy(), neighbors.squared_distances, min_distance,
                             starts[:-1])
    return inputs


def _model_name(model: torch.nn.Module) -> str:
    kind = getattr(model, "kind", "") or type(model).__name__
    source = getattr(model, "loaded_from", None)
    return f"{source} ({kind})" if source else f"the {kind} model"


def _structure_name(inputs: dict[str, torch.Tensor], b: int | None = None) -> str:
    """Structure ``b`` of the inputs as 'the structure (formula, n atoms[, periodic cell of V Å^3])' (one) or
    'structure b (...)' (one of several); ``b`` None and several structures: 'k structures (n atoms)'."""
    from ase.symbols import Symbols

    n_structures = inputs[K.CELL].shape[0]
    if b is None and n_structures > 1:
        return f"{n_structures} structures ({inputs[K.Z].shape[0]} atoms)"
    b = b or 0
    numbers = inputs[K.Z][inputs[K.BATCH] == b].cpu().numpy()
    what = f"{Symbols(numbers).get_chemical_formula()}, {len(numbers)} atom{'s' * (len(numbers) != 1)}"
    if bool(inputs[K.PBC][b].any()):
        cell = inputs[K.CELL][b].detach().cpu().to(torch.float64).numpy()
        what += f", periodic cell of {abs(np.linalg.det(cell)):.3g} Å^3"
    return f"the structure ({what})" if n_structures == 1 else f"structure {b} ({what})"


def check_evaluation_memory(model: torch.nn.Module, inputs: dict[str, torch.Tensor]) -> None:
    """Refuse (:class:`~mlcalc.graph_size.GraphTooLargeError`, one line) an evaluation of ``inputs`` that would need
    more memory than :func:`~mlcalc.graph_size.memory_limit`: the model's ``evaluation_bytes`` (its kind's costs
    per edge, atom, angle on the graph it builds), estimated before anything is built."""
    estimate = getattr(model, "evaluation_bytes", None)
    if estimate is None:
        return
    needed = estimate(inputs)
    limit, source = memory_limit(inputs[K.POSITIONS].device)
    if needed > limit:
        atoms, edges = model.evaluated_graph(inputs)
        raise GraphTooLargeError(memory_message(
            f"evaluating {_structure_name(inputs)} with {_model_name(model)} on its graph of {atoms:,} atoms and "
            f"{edges:,} edges", needed, limit, source))


def check_plausible(model: torch.nn.Module, inputs: dict[str, torch.Tensor], out: dict[str, torch.Tensor]) -> None:
    """Raise :class:`ImplausiblePredictionError` (one line, naming the structure and the model) if a structure's
    finite energy exceeds :data:`MAX_ENERGY_PER_ATOM` eV per atom or a force :data:`MAX_FORCE` eV/Å."""
    energy, forces = out[K.ENERGY], out[K.FORCES]  # detached
    # a quick look first: every force component within MAX_FORCE/√3, one structure's energy within its bound
    low, high = forces.aminmax() if forces.numel() else (forces.new_zeros(()),) * 2
    if max(-float(low), float(high)) <= MAX_FORCE / math.sqrt(3) and len(energy) == 1 and \
            abs(float(energy)) <= MAX_ENERGY_PER_ATOM * inputs[K.Z].shape[0]:
        return
    sizes = inputs[K.N_ATOMS] if K.N_ATOMS in inputs else torch.bincount(inputs[K.BATCH], minlength=len(energy))
    # NaN and infinities are left to the callers (MLCalc names them, batched MD drops the system)
    too_high = torch.isfinite(energy) & (energy.abs() > MAX_ENERGY_PER_ATOM * sizes.to(energy.dtype))
    squared = forces.to(torch.float64).square().sum(1)  # float32 would overflow on the forces this looks for
    squared = torch.where(torch.isfinite(squared), squared, 0.0)
    if not bool(too_high.any() | (squared > MAX_FORCE ** 2).any()):
        return
    largest = squared.new_zeros(len(energy)).scatter_reduce(0, inputs[K.BATCH], squared, "amax")
    b = int(torch.nonzero(too_high | (largest > MAX_FORCE ** 2))[0, 0])
    e, n, f = float(energy[b]), int(sizes[b]), float(largest[b].sqrt())
    raise ImplausiblePredictionError(
        f"{_model_name(model)} predicts an energy of {e:.3g} eV ({e / max(n, 1):.3g} eV per atom) and forces up to "
        f"{f:.3g} eV/Å for {_structure_name(inputs, b)}: no real structure has more than {MAX_ENERGY_PER_ATOM:.0e} "
        f"eV per atom or {MAX_FORCE:.0e} eV/Å; the model's weights are likely broken (check or retrain the model)")


def check_plausible_properties(model: torch.nn.Module, inputs: dict[str, torch.Tensor],
                               out: dict[str, torch.Tensor]) -> None:
    """Raise :class:`ImplausiblePredictionError` (one line, naming the structure, the target and the model) if a
    property model's finite prediction lies more than :data:`MAX_STANDARD_SCORE` standard deviations of its
    training targets from their mean (a structure far outside anything it learned, or broken weights). Models
    without target statistics (``standardise``) are not checked."""
    if not hasattr(model, "standardise") or not hasattr(model, "targets"):
        return
    values = torch.stack([out[name].detach().reshape(-1) for name in model.targets], dim=1)
    with torch.no_grad():
        score = model.standardise(values.to(model.target_mean.dtype) - model.references(inputs), inputs[K.N_ATOMS])
    score = torch.where(torch.isfinite(score), score, 0.0).abs()  # NaN and infinities: the callers name them
    if not bool((score > MAX_STANDARD_SCORE).any()):
        return
    b, k = (int(i) for i in torch.nonzero(score > MAX_STANDARD_SCORE)[0])
    name, unit = model.targets[k], model.properties.get(model.targets[k], {}).get("unit", "")
    mean, std = float(model.target_mean[k]), float(model.target_std[k])
    per = " per atom" if model.extensive[k] else ""
    raise ImplausiblePredictionError(
        f"{_model_name(model)} predicts {name} = {float(values[b, k]):.5g} {unit} for {_structure_name(inputs, b)}, "
        f"{float(score[b, k]):.3g} standard deviations from its training targets ({mean:.4g} ± {std:.3g} {unit}{per}): "
        f"the structure is far outside what the model learned (or its weights are broken); a property model "
        f"answers for structures like its training set")


def evaluate_inputs(model: torch.nn.Module, inputs: dict[str, torch.Tensor], stress: bool = False
                    ) -> dict[str, torch.Tensor]:
    """Energy [n] eV, forces [n_atoms, 3] eV/Å and, with ``stress``, stress [n, 3, 3] eV/Å³ of an energy
    model (detached, in the model's dtype), plus any ``extra_outputs`` it declares (a GP's ``energy_std``).

    An ensemble gives its members' mean (float64) and their spread (variances over members, ``ddof=0``):
    ``energy_var`` [n] eV², ``forces_var`` [n_atoms, 3] eV²/Å², ``stress_var`` [n, 3, 3] eV²/Å⁶, each
    member's ``energy_comm`` [m, n] and ``forces_comm`` [m, n_atoms, 3], and ``uncertainty`` [n] eV/Å:
    the mean over a structure's atoms of the norm of the per-atom force standard deviation.

    Checked before (:func:`check_evaluation_memory`) and after (:func:`check_plausible`).
    """
    check_evaluation_memory(model, inputs)
    if getattr(model, "evaluator_key", None) == "committee":
        out = _committee(model, inputs, stress)
    else:
        out = energy_forces_stress(model, inputs, forces=True, stress=stress)
        keep = (K.ENERGY, K.FORCES, K.STRESS, *getattr(model, "extra_outputs", ()))
        out = {key: value.detach() for key, value in out.items() if key in keep}
    check_plausible(model, inputs, out)
    return out


def _committee(model: torch.nn.Module, inputs: dict[str, torch.Tensor], stress: bool) -> dict[str, torch.Tensor]:
    outs = [energy_forces_stress(member, model.member_inputs(inputs, member), forces=True, stress=stress)
            for member in model.members]

    def stacked(key: str) -> torch.Tensor:
        return torch.stack([o[key].detach() for o in outs]).to(torch.float64)

    energies, forces = stacked(K.ENERGY), stacked(K.FORCES)  # [m, n], [m, n_atoms, 3]
    forces_var = forces.var(0, unbiased=False)
    n = energies.shape[1]
    batch = inputs[K.BATCH]
    atom_std = forces_var.sum(1).sqrt()
    sizes = torch.bincount(batch, minlength=n).to(torch.float64)
    uncertainty = torch.zeros(n, dtype=torch.float64, device=atom_std.device).index_add(0, batch, atom_std)
    out = {"energy": energies.mean(0), "forces": forces.mean(0), "energy_var": energies.var(0, unbiased=False),
           "forces_var": forces_var, "energy_comm": energies, "forces_comm": forces,
           "uncertainty": uncertainty / sizes.clamp(min=1)}
    if stress:
        members_stress = stacked(K.STRESS)
        out["stress"], out["stress_var"] = members_stress.mean(0), members_stress.var(0, unbiased=False)
    return out


def evaluate_structures(model: torch.nn.Module, positions: np.ndarray, numbers: np.ndarray, cells: np.ndarray,
                        pbc: np.ndarray, sizes: Sequence[int], neighbors: NeighborCache, dtype: torch.dtype,
                        device: torch.device | str = "cpu", stress: bool = False,
                        min_distance: float = DEFAULT_MIN_DISTANCE) -> dict[str, torch.Tensor]:
    """:func:`evaluate_inputs` of the checked :func:`structure_model_inputs` of structures laid end to end."""
    inputs = structure_model_inputs(model, positions, numbers, cells, pbc, sizes, neighbors, dtype, device,
                                    min_distance)
    return evaluate_inputs(model, inputs, stress)
