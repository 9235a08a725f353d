"""Lightning modules: the optimiser/schedule base every task shares, and the energy + force task."""

from __future__ import annotations

from typing import Any

import lightning as L
import torch
from torchmetrics import MeanAbsoluteError

from mlcalc import keys as K
from mlcalc.derivatives import energy_forces_stress, model_inputs

__all__ = ["OptimTask", "PotentialTask", "make_optimizer", "energy_force_loss"]


def make_optimizer(name: str, params, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    """SGD (momentum 0.9), Adam, AdamW or LAMB by name."""
    if name == "sgd":
        return torch.optim.SGD(params, lr=lr, momentum=0.9, weight_decay=weight_decay)
    if name == "adam":
        return torch.optim.Adam(params, lr=lr, weight_decay=weight_decay)
    if name == "adamw":
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    if name == "lamb":
        from torch_optimizer import Lamb

        return Lamb(params, lr=lr, weight_decay=weight_decay)
    raise ValueError(f"unknown optimizer {name!r}; choose sgd, adam, adamw or lamb")


def energy_force_loss(out: dict[str, torch.Tensor], batch, scale: float, energy_weight: float,
                      force_weight: float) -> torch.Tensor:
    """w_E·MSE(ΔE/s) + w_F·MSE(ΔF/s) of a model's ``out`` against ``batch``'s labels, s = ``scale`` (the model's
    energy scale, eV and eV/Å); the force term only when ``out`` holds forces."""
    loss = energy_weight * torch.mean(((out[K.ENERGY] - batch[K.ENERGY]) / scale) ** 2)
    if K.FORCES in out:
        loss = loss + force_weight * torch.mean(((out[K.FORCES] - batch[K.FORCES]) / scale) ** 2)
    return loss


class OptimTask(L.LightningModule):
    """A task around ``model`` with the optimiser, learning-rate schedule and warm-up of ``optim``
    (the plain settings of :class:`~mlcalc.potentials.training.config.OptimConfig`); subclasses define the steps."""

    def __init__(self, model: torch.nn.Module, optim: dict[str, Any]):
        super().__init__()
        self.model = model
        self.optim = dict(optim)
        self.save_hyperparameters({"optim": self.optim})

    def configure_optimizers(self):
        o = self.optim
        optimizer = make_optimizer(o["optimizer"], self.model.parameters(), o["lr"], o["weight_decay"])
        if o["lr_schedule"] == "plateau":
            scheduler = torch.optim.lr_scheduler.ReduceLROnPlateau(
                optimizer, factor=o["lr_factor"], patience=o["lr_patience"], min_lr=o["lr_min"])
            return {"optimizer": optimizer, "lr_scheduler": {"scheduler": scheduler, "monitor": "val_loss"}}
        if o["lr_schedule"] == "cosine":
            scheduler = torch.optim.lr_scheduler.CosineAnnealingLR(optimizer, T_max=o["epochs"], eta_min=o["lr_min"])
            return {"optimizer": optimizer, "lr_scheduler": scheduler}
        return optimizer

    def optimizer_step(self, epoch, batch_idx, optimizer, optimizer_closure=None):
        """Linear learning-rate warm-up over the first ``lr_warmup_steps`` optimiser steps."""
        warmup = self.optim["lr_warmup_steps"]
        if warmup and self.trainer.global_step < warmup:
            factor = (self.trainer.global_step + 1) / warmup
            for group in optimizer.param_groups:
                group["lr"] = factor * self.optim["lr"]
        super().optimizer_step(epoch, batch_idx, optimizer, optimizer_closure)

    def _step(self, batch, stage: str) -> torch.Tensor:  # pragma: no cover - abstract
        """The loss of ``batch`` at ``stage`` ("train", "val", "test"), with metrics logged."""
        raise NotImplementedError

    def training_step(self, batch, batch_idx):
        return self._step(batch, "train")

    def validation_step(self, batch, batch_idx):
        self._step(batch, "val")

    def test_step(self, batch, batch_idx):
        self._step(batch, "test")


class PotentialTask(OptimTask):
    """Loss = w_E·MSE(ΔE/s) + w_F·MSE(ΔF/s), s the model's energy scale (eV, eV/Å).

    Logs ``train_loss``, ``val_loss`` and validation/test MAEs of energy (eV per
    structure) and forces (eV/Å). ``optim`` holds the plain optimiser settings.
    """

    def __init__(self, model: torch.nn.Module, optim: dict[str, Any]):
        super().__init__(model, optim)
        self.scale = float(getattr(model, "energy_scale", 1.0))
        self.metrics = torch.nn.ModuleDict({
            f"{stage}_{q}_mae": MeanAbsoluteError() for stage in ("val", "test") for q in ("energy", "forces")
        })

    def _step(self, batch, stage: str) -> torch.Tensor:
        wE, wF = self.optim["energy_weight"], self.optim["force_weight"]
        with torch.enable_grad():
            out = energy_forces_stress(self.model, model_inputs(batch), forces=wF > 0 or stage != "train",
                                       create_graph=stage == "train")
        loss = energy_force_loss(out, batch, self.scale, wE, wF)
        n = int(batch[K.N_ATOMS].shape[0])
        self.log(f"{stage}_loss", loss.detach(), batch_size=n, prog_bar=stage != "test", on_epoch=True,
                 on_step=False, sync_dist=True)  # averaged over the processes of a multi-process (DDP) run
        if stage != "train":
            for q, key in (("energy", K.ENERGY), ("forces", K.FORCES)):
                metric = self.metrics[f"{stage}_{q}_mae"]
                metric(out[key].detach(), batch[key])
                self.log(f"{stage}_{q}_mae", metric, batch_size=n, prog_bar=q == "forces", on_epoch=True)
        return loss
