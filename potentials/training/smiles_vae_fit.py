"""Train the SMILES VAE (:mod:`mlcalc.potentials.smiles_vae`) within a time budget, checkpointed and resumable.

Adam on mini-batches of seeded shuffles (epoch e uses the permutation of seed + e); the KL
weight grows linearly from 0 to ``beta`` over ``warmup`` steps. The file ``path`` is the
checkpoint: written every ``every`` steps and at the end (model, optimiser, RNG, step,
history); a rerun with the same settings resumes from it, until ``steps`` in all (a larger
``steps`` trains on).
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Callable, Optional, Sequence

import numpy as np
import torch
from pydantic import BaseModel, ConfigDict, Field

from mlcalc.potentials.network_file import read_network, restore_optimizer, save_network
from mlcalc.potentials.smiles_vae import KIND, SmilesTokenizer, SmilesVAE

__all__ = ["SmilesVAEFit", "train_smiles_vae", "load_smiles_vae"]


class SmilesVAEFit(BaseModel):
    """The network (``latent``, ``hidden`` GRU width, ``embed`` token embedding, ``max_len`` tokens) and its
    training: ``steps`` in all (or ``minutes`` of this call), ``batch_size``, Adam's ``lr``, the KL weight ``beta``
    reached after ``warmup`` steps, ``seed``; a checkpoint and a progress line every ``every`` steps."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    steps: int = Field(4000, ge=1)
    minutes: Optional[float] = Field(None, gt=0)
    batch_size: int = Field(256, ge=1)
    lr: float = Field(1e-3, gt=0)
    beta: float = Field(0.5, ge=0)
    warmup: int = Field(1000, ge=0)
    latent: int = Field(32, ge=1)
    hidden: int = Field(256, ge=1)
    embed: int = Field(48, ge=1)
    max_len: int = Field(32, ge=2)
    seed: int = 0
    every: int = Field(200, ge=1)


def _fixed(settings: dict) -> dict:
    """The settings a resumed training must share (``steps``, the total, may grow)."""
    return {k: v for k, v in settings.items() if k != "steps"}


def load_smiles_vae(path: str | Path) -> tuple[SmilesVAE, dict]:
    """(model in eval mode, info: settings, step, history) from a training file."""
    header, weights, _ = read_network(path, KIND)
    model = SmilesVAE(**header["hyperparameters"])
    model.load_state_dict(weights, strict=True)
    return model.eval(), header["info"]


def train_smiles_vae(smiles: Sequence[str], path: str | Path, settings: SmilesVAEFit,
                     echo: Callable[[str], None] = lambda s: None) -> tuple[SmilesVAE, dict]:
    """Train on ``smiles`` until ``steps`` steps in all (or ``minutes`` of this call); returns (model, info).

    The vocabulary is fitted on ``smiles``. One-line ValueError for an empty list or a
    checkpoint written with other settings.
    """
    steps, minutes, batch_size, lr, beta = settings.steps, settings.minutes, settings.batch_size, settings.lr, settings.beta
    warmup, seed, every, max_len = settings.warmup, settings.seed, settings.every, settings.max_len
    smiles = [str(s) for s in smiles]
    if len(smiles) < 2:
        raise ValueError(f"need at least 2 training SMILES, got {len(smiles)}")
    path = Path(path)
    record = {"steps": steps, "batch_size": batch_size, "lr": lr, "beta": beta, "warmup": warmup, "seed": seed,
                "n": len(smiles)}
    torch.manual_seed(seed)
    tokens = SmilesTokenizer.fit(smiles).tokens[4:]
    model = SmilesVAE(tokens, latent=settings.latent, embed=settings.embed, hidden=settings.hidden, max_len=max_len)
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    info = {"settings": record, "step": 0, "seconds": 0.0,
            "history": {"step": [], "ce": [], "kl": [], "accuracy": [], "beta": []}}
    if path.is_file():
        header, weights, other = read_network(path, KIND)
        same = _fixed(header["info"].get("settings", {})) == _fixed(record)
        if not same or header["hyperparameters"] != model.hyperparameters():
            raise ValueError(f"{path} was trained with other settings or data ({header['info'].get('settings')}); "
                             "use another file or the same settings")
        model.load_state_dict(weights, strict=True)
        restore_optimizer(optimizer, header, other)
        info = {**header["info"], "settings": record}
        echo(f"resumed {path} at step {info['step']}")
    ids = model.tokenizer.batch(smiles, max_len)
    per_epoch = max(len(ids) // batch_size, 1)
    start = time.perf_counter()
    seconds0 = info["seconds"]
    sums, count = np.zeros(3), 0
    model.train()
    while info["step"] < steps:
        step = info["step"]
        epoch, k = divmod(step, per_epoch)
        order = torch.randperm(len(ids), generator=torch.Generator().manual_seed(seed + epoch))
        batch = ids[order[k * batch_size:(k + 1) * batch_size]]
        batch = batch[:, :int((batch != 0).sum(dim=1).max())]  # trim the padding columns
        weight = beta * min(1.0, (step + 1) / max(warmup, 1))
        ce, kl, accuracy = model.losses(batch)
        optimizer.zero_grad()
        (ce + weight * kl).backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 5.0)
        optimizer.step()
        sums += [float(ce.detach()), float(kl.detach()), float(accuracy)]
        count += 1
        info["step"] = step + 1
        elapsed = time.perf_counter() - start
        done = info["step"] >= steps or (minutes is not None and elapsed > 60 * minutes)
        if info["step"] % every == 0 or done:
            history = info["history"]
            for key, value in zip(("ce", "kl", "accuracy"), sums / count):
                history[key].append(float(value))
            history["step"].append(info["step"])
            history["beta"].append(weight)
            info["seconds"] = seconds0 + elapsed
            save_network(path, KIND, model, model.hyperparameters(), info, optimizer, rng=True)
            echo(f"step {info['step']}: CE {history['ce'][-1]:.3f}/molecule, KL {history['kl'][-1]:.2f}, "
                 f"token accuracy {history['accuracy'][-1]:.3f}, beta {weight:.3f} ({info['seconds']:.0f} s)")
            sums, count = np.zeros(3), 0
        if done:
            break
    return model.eval(), info
