"""The committee of an on-the-fly run: K energy models trained in float32, and their ensemble that drives the MD.

:class:`Committee` keeps two copies of the members: the training copies (float32, the device of
the run) that :meth:`Committee.fit` moves by plain AdamW steps, and an
:class:`~mlcalc.potentials.ensemble.Ensemble` of copies in the MD's dtype whose weights are
overwritten in place after every fit (:meth:`Committee.sync`), so that the calculator or TorchSim
model holding it sees the new weights without being rebuilt (a ``bpnn`` member's TorchScript
shares them).

Members come from an ensemble file (its members) or from one model (:meth:`Committee.from_model`):
K copies whose weights are multiplied by 1 + N(0, spread²) (seeded per member), then each fitted
on the labelled start frame; they agree where frames are labelled and disagree where the data
leaves their weights free. Either way every member's atomrefs are first moved to the start frame's
energy zero (:func:`~..parent_model.atomrefs_at_frames_zero`: the parent's atomrefs miss a new
molecule's energy by eV; energies only, forces unchanged).

A fit is ``steps`` optimiser steps per member with a fresh AdamW whose learning rate decays from ``lr``
to ``lr``/100 on a cosine over the steps (as :mod:`..finetune`; warm start: the weights carry over, the
optimiser state does not, so a resumed run needs only the weights), on
all labelled frames when they fit in ``batch_size``, else on batches drawn from a generator seeded
by (seed, member, version): a resumed fit is the uninterrupted one. The loss is the training loss
(:func:`~..task.energy_force_loss`) with the parent's energy/force weights, weight decay and
gradient clipping.
"""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from ase import Atoms
from torch_geometric.data import Batch

from mlcalc import keys as K
from mlcalc.derivatives import energy_forces_stress, model_inputs
from mlcalc.graph import atoms_to_graph
from mlcalc.model import create_model
from mlcalc.modelfile import load_model, save_model

from ..config import OptimConfig
from ..parent_model import atomrefs_at_frames_zero
from ..task import energy_force_loss
from .references import method_of

__all__ = ["Committee", "perturbed", "member_optim", "start_committee"]

#: the parent's training settings the members' fits keep
_KEPT = ("energy_weight", "force_weight", "weight_decay", "gradient_clip")


def member_optim(manifest: dict[str, Any]) -> dict[str, Any]:
    """Energy/force weights, weight decay and gradient clipping from the parent's training record (else defaults)."""
    parent = (manifest.get("training") or {}).get("optim", {})
    defaults = OptimConfig().model_dump()
    return {key: parent.get(key, defaults[key]) for key in _KEPT}


def perturbed(model: torch.nn.Module, spread: float, seed: int, member: int) -> torch.nn.Module:
    """A copy of ``model`` with every trainable weight w replaced by w·(1 + spread·N(0, 1)), seeded by (seed, member)."""
    out = copy.deepcopy(model)
    generator = torch.Generator().manual_seed(int(np.random.SeedSequence([seed, member]).generate_state(1)[0]))
    with torch.no_grad():
        for parameter in out.parameters():
            if parameter.requires_grad:
                noise = torch.randn(parameter.shape, generator=generator, dtype=torch.float32)
                parameter.mul_(1 + spread * noise.to(parameter.device, parameter.dtype))
    return out


def start_committee(members: Sequence[torch.nn.Module], manifest: dict[str, Any], frame: Atoms, learn: Any,
                    device: str | torch.device = "cpu", dtype: torch.dtype = torch.float32) -> tuple[Committee, float]:
    """The committee a learning run starts from, and its fit's mean last loss: ``members`` (one model, or an
    ensemble's members) re-referenced on the labelled start ``frame``; one model becomes ``learn.members``
    :func:`perturbed` copies fitted ``learn.init_steps`` steps on it, an ensemble's members ``learn.update_steps``
    (``learn``: :class:`~mlcalc.md.settings.LearnSettings`)."""
    for member in members:
        atomrefs_at_frames_zero(member, manifest, [frame], method_of(learn.reference))
    one_model = len(members) == 1
    if one_model:
        members = [perturbed(members[0], learn.spread, learn.seed, j) for j in range(learn.members)]
    committee = Committee(members, member_optim(manifest), device, dtype)
    loss = committee.fit([frame], learn.init_steps if one_model else learn.update_steps, learn.lr, learn.batch_size,
                         learn.seed)
    return committee, loss


class Committee:
    """``members`` (float32 energy models) being trained, and :attr:`ensemble`, their copy in ``dtype`` on ``device``
    for MD. :attr:`version` counts the fits since the committee was made (0: as made)."""

    def __init__(self, members: Sequence[torch.nn.Module], optim: dict[str, Any], device: str | torch.device = "cpu",
                 dtype: torch.dtype = torch.float32, version: int = 0):
        self.device = torch.device(device)
        self.members = [m.to(self.device, torch.float32).eval() for m in members]
        self.optim = dict(optim)
        self.version = version
        self.ensemble = create_model("ensemble", members=[copy.deepcopy(m) for m in self.members])
        self.ensemble.to(self.device, dtype).eval()
        self._graphs: dict[tuple[int, float], Any] = {}  # (frame id, cutoff) -> graph
        self.last_steps: list[int] = []  # optimiser steps of each member in the last fit

    def sync(self) -> None:
        """Copy the trained weights (and atomrefs) into :attr:`ensemble`, in place."""
        with torch.no_grad():
            for target, member in zip(self.ensemble.members, self.members):
                target.load_state_dict(member.state_dict())

    def fit(self, frames: Sequence[Atoms], steps: int, lr: float, batch_size: int, seed: int,
            max_steps: int | None = None, fit_error: float | None = None) -> float:
        """``steps`` optimiser steps of every member on ``frames`` (labelled); the next :attr:`version`.
        With ``max_steps`` and ``fit_error`` (eV/Å): a member whose force MAE on ``frames`` is still above
        ``fit_error`` takes another ``steps`` (a new cosine from ``lr``), up to ``max_steps`` in all.
        Returns the mean last loss over members; :attr:`last_steps` holds each member's steps."""
        losses = []
        self.last_steps = []
        for j, member in enumerate(self.members):
            done, rounds = 0, 0
            while True:
                loss = self._fit_member(j, member, frames, steps, lr, batch_size, seed, rounds)
                done, rounds = done + steps, rounds + 1
                if (max_steps is None or fit_error is None or done + steps > max_steps
                        or self.force_mae(member, frames) <= fit_error):
                    break
            losses.append(loss)
            self.last_steps.append(done)
        self.version += 1
        self.sync()
        return float(np.mean(losses))

    def force_mae(self, member: torch.nn.Module, frames: Sequence[Atoms]) -> float:
        """``member``'s force MAE (eV/Å) on the labelled ``frames``."""
        batch = Batch.from_data_list([self._graph(a, member.cutoff) for a in frames]).to(self.device)
        out = energy_forces_stress(member, model_inputs(batch), forces=True, create_graph=False)
        return float((out[K.FORCES].detach() - batch[K.FORCES]).abs().mean())

    def _fit_member(self, j: int, member: torch.nn.Module, frames: Sequence[Atoms], steps: int, lr: float,
                    batch_size: int, seed: int, rounds: int = 0) -> float:
        graphs = [self._graph(a, member.cutoff) for a in frames]
        o = self.optim
        optimizer = torch.optim.AdamW(member.parameters(), lr=lr, weight_decay=o["weight_decay"])
        schedule = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=steps, eta_min=lr / 100)
        key = [seed, j, self.version] + ([rounds] if rounds else [])  # a first round draws as before rounds existed
        generator = torch.Generator().manual_seed(int(np.random.SeedSequence(key).generate_state(1)[0]))
        whole = Batch.from_data_list(graphs).to(self.device) if len(graphs) <= batch_size else None
        scale = float(getattr(member, "energy_scale", 1.0))
        member.train()
        loss = torch.tensor(float("nan"))
        try:
            for _ in range(steps):
                if whole is None:
                    pick = torch.randperm(len(graphs), generator=generator)[:batch_size].tolist()
                    batch = Batch.from_data_list([graphs[i] for i in pick]).to(self.device)
                else:
                    batch = whole
                optimizer.zero_grad(set_to_none=True)
                out = energy_forces_stress(member, model_inputs(batch), forces=True, create_graph=True)
                loss = energy_force_loss(out, batch, scale, o["energy_weight"], o["force_weight"])
                loss.backward()
                if o["gradient_clip"]:
                    torch.nn.utils.clip_grad_norm_(member.parameters(), o["gradient_clip"])
                optimizer.step()
                schedule.step()
        finally:
            member.eval()
        return float(loss.detach())

    def _graph(self, atoms: Atoms, cutoff: float):
        key = (id(atoms), float(cutoff))
        if key not in self._graphs:
            self._graphs[key] = (atoms, atoms_to_graph(atoms, cutoff=cutoff, dtype=torch.float32))
        return self._graphs[key][1]  # the frame is kept with its graph, so that its id is not reused

    def float32_ensemble(self) -> torch.nn.Module:
        """The members (float32 copies) as one ensemble model, for a file."""
        return create_model("ensemble", members=[copy.deepcopy(m).cpu() for m in self.members])

    def save(self, path: str | Path, **manifest: Any) -> Path:
        """The members as an ensemble .mlc at ``path`` (``manifest``: extra records; written atomically)."""
        return save_model(path, self.float32_ensemble(), **manifest)

    @classmethod
    def load(cls, path: str | Path, optim: dict[str, Any], version: int, device: str | torch.device = "cpu",
             dtype: torch.dtype = torch.float32) -> Committee:
        """The committee saved at ``path`` by :meth:`save` (its members' weights exactly)."""
        model, _ = load_model(path, dtype=torch.float32)
        return cls(list(model.members), optim, device, dtype, version)
