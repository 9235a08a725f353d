"""Small networks saved without pickle: safetensors weights with a JSON header (kind, hyperparameters, state).

:func:`save_network` writes a module's state dict, and optionally an Adam-style optimiser
state and torch's RNG state (for resuming a training), to one ``.safetensors`` file; the
JSON in its metadata names the ``kind``, the constructor's ``hyperparameters`` and any
JSON ``info`` (epoch, history). :func:`read_network` gives them back; nothing in the file
is executed. Used by the descriptor autoencoders and the SMILES VAE (not ``.mlc`` models:
they are not atomistic calculators).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any, Optional

import torch

__all__ = ["save_network", "read_network", "restore_optimizer"]

_KEY = "mlcalc_network"


def save_network(path: str | os.PathLike, kind: str, module: torch.nn.Module, hyperparameters: dict,
                 info: Optional[dict] = None, optimizer: Optional[torch.optim.Optimizer] = None,
                 rng: bool = False) -> Path:
    """Write ``module`` (weights and buffers), its ``hyperparameters`` and ``info`` to ``path`` atomically."""
    from safetensors.torch import save_file

    path = Path(path)
    tensors = {f"model.{k}": v.detach().cpu().contiguous() for k, v in module.state_dict().items()}
    header: dict[str, Any] = {"kind": kind, "hyperparameters": hyperparameters, "info": info or {}}
    if optimizer is not None:
        state = optimizer.state_dict()
        header["optimizer"] = {"param_groups": state["param_groups"],
                               "state": {str(i): sorted(s) for i, s in state["state"].items()}}
        for i, s in state["state"].items():
            for name, value in s.items():
                tensors[f"optim.{i}.{name}"] = torch.as_tensor(value).detach().cpu().contiguous()
    if rng:
        tensors["rng.torch"] = torch.get_rng_state()
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    save_file(tensors, str(tmp), metadata={_KEY: json.dumps(header)})
    os.replace(tmp, path)
    return path


def read_network(path: str | os.PathLike, kind: str) -> tuple[dict, dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """(header, model state dict, other tensors) of a file written by :func:`save_network` for ``kind``.

    One-line ValueError when the file is not such a file or holds another kind.
    """
    from safetensors import safe_open
    from safetensors.torch import load_file

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no such network file: {path}")
    try:
        with safe_open(str(path), framework="pt") as fh:
            meta = fh.metadata() or {}
        tensors = load_file(str(path))
    except Exception as err:  # safetensors raises its own error types for a damaged file
        raise ValueError(f"{path} is not a safetensors network file ({type(err).__name__})") from None
    if _KEY not in meta:
        raise ValueError(f"{path} is a safetensors file without an mlcalc network header")
    header = json.loads(meta[_KEY])
    if header.get("kind") != kind:
        raise ValueError(f"{path} holds a {header.get('kind')!r} network, not a {kind!r}")
    model = {k[len("model."):]: v for k, v in tensors.items() if k.startswith("model.")}
    other = {k: v for k, v in tensors.items() if not k.startswith("model.")}
    return header, model, other


def restore_optimizer(optimizer: torch.optim.Optimizer, header: dict, other: dict[str, torch.Tensor]) -> None:
    """Load the optimiser state (and torch's RNG state, when saved) written by :func:`save_network`."""
    saved = header.get("optimizer")
    if saved is not None:
        state = {int(i): {name: other[f"optim.{i}.{name}"] for name in names} for i, names in saved["state"].items()}
        optimizer.load_state_dict({"state": state, "param_groups": saved["param_groups"]})
    if "rng.torch" in other:
        torch.set_rng_state(other["rng.torch"])
