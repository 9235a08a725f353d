"""The Lightning module that fits a property model to standardised targets."""

from __future__ import annotations

from typing import Any

import torch
from torchmetrics import MeanAbsoluteError

from mlcalc import keys as K
from mlcalc.derivatives import model_inputs

from .task import OptimTask

__all__ = ["PropertyTask"]


class PropertyTask(OptimTask):
    """Loss = MSE (or L1, ``optim["loss"]``) between standardised predictions and targets, over all targets.

    Logs ``train_loss``, ``val_loss`` (dimensionless) and ``val_<target>_mae`` /
    ``test_<target>_mae`` in the target's unit (e.g. eV). A classifier (a model whose
    ``classification`` is true, e.g. CGCNN) is fitted by NLL of its ``log_probabilities``
    on class labels 0/1 and logs ``<stage>_<target>_accuracy`` instead.
    """

    def __init__(self, model: torch.nn.Module, optim: dict[str, Any]):
        super().__init__(model, optim)
        self.loss = torch.nn.functional.l1_loss if self.optim.get("loss") == "l1" else torch.nn.functional.mse_loss
        self.metrics = torch.nn.ModuleDict({
            f"{stage}_{t}_mae": MeanAbsoluteError() for stage in ("val", "test") for t in model.targets})

    def _classify(self, batch, stage: str) -> torch.Tensor:
        log_p = self.model.log_probabilities(model_inputs(batch))
        labels = batch[K.TARGETS][:, 0].round().long()
        loss = torch.nn.functional.nll_loss(log_p, labels)
        n = int(labels.shape[0])
        self.log(f"{stage}_loss", loss.detach(), batch_size=n, prog_bar=stage != "test", on_epoch=True, on_step=False)
        if stage != "train":
            accuracy = (log_p.argmax(dim=1) == labels).float().mean()
            self.log(f"{stage}_{self.model.targets[0]}_accuracy", accuracy, batch_size=n, prog_bar=True, on_epoch=True)
        return loss

    def _step(self, batch, stage: str) -> torch.Tensor:
        if getattr(self.model, "classification", False):
            return self._classify(batch, stage)
        n_atoms = batch[K.N_ATOMS]
        inputs = model_inputs(batch)
        predicted = self.model.standardised_outputs(inputs)
        references = self.model.references(inputs)  # per-element references: the network fits the rest
        loss = self.loss(predicted, self.model.standardise(batch[K.TARGETS] - references, n_atoms))
        n = int(n_atoms.shape[0])
        self.log(f"{stage}_loss", loss.detach(), batch_size=n, prog_bar=stage != "test", on_epoch=True, on_step=False,
                 sync_dist=True)
        if stage != "train":
            values = self.model.destandardise(predicted.detach(), n_atoms) + references
            for k, target in enumerate(self.model.targets):
                metric = self.metrics[f"{stage}_{target}_mae"]
                metric(values[:, k], batch[K.TARGETS][:, k])
                self.log(f"{stage}_{target}_mae", metric, batch_size=n, prog_bar=k == 0, on_epoch=True)
        return loss
