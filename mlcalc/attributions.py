"""Atom attributions: how much each atom contributes to a model's output, one number per atom.

``saliency`` and ``integrated_gradients`` are Captum's, run through PyG's
``torch_geometric.explain`` (``CaptumExplainer``) on the one-hot element indicators of
the atoms (:data:`mlcalc.keys.ELEMENT_WEIGHTS`); an atom's value is the entry of its own
element: |∂y/∂x_i,z_i| (saliency) or the Integrated Gradients from the all-zero input
(the values add up to y(x) − y(0)). ``cam`` and ``gradcam`` are written here, after Pope
et al. (CVPR 2019), on the node features of the last message-passing layer
(:attr:`~mlcalc.model.Encoding.nodes`): CAM is each atom's term of a sum-over-atoms
readout, in output units (they add up to the output minus the training mean of a property
model, or to E − Σ atomref of an energy model; Set2Set readouts have none); Grad-CAM is
ReLU(Σ_k α_k F_ik) with α_k the gradient of the output by F_ik averaged over the
molecule's atoms. torch_geometric and captum are imported only when used.
"""

from __future__ import annotations

import warnings
from typing import Sequence

import torch
from torch import nn

from mlcalc import keys as K

__all__ = ["ATTRIBUTION_METHODS", "check_attribution_method", "atom_attributions"]

#: attribution methods, in the order the CLI lists them
ATTRIBUTION_METHODS = ("gradcam", "cam", "saliency", "integrated_gradients")
_CAPTUM = {"saliency": "Saliency", "integrated_gradients": "IntegratedGradients"}


def check_attribution_method(method: str) -> str:
    """``method`` if known; ValueError naming the valid methods otherwise."""
    if method not in ATTRIBUTION_METHODS:
        raise ValueError(f"unknown attribution method {method!r}; choose from {', '.join(ATTRIBUTION_METHODS)}")
    return method


def _target_index(model: nn.Module, target: str | int | None) -> int:
    """Column of the output to explain: a property model's target (name or index; default the first)."""
    names: Sequence[str] = list(getattr(model, "targets", None) or [K.ENERGY])
    if target is None:
        return 0
    if isinstance(target, int) and 0 <= target < len(names):
        return target
    if target in names:
        return names.index(target)
    raise ValueError(f"cannot explain {target!r}: this model predicts {', '.join(names)}")


def _physical(model: nn.Module, output: torch.Tensor, n_atoms: torch.Tensor) -> torch.Tensor:
    """The encoded output in the model's units, [n_graphs, n_outputs].

    Per-element references (QM9 U0/U/H/G models) are left out: attributions explain what
    the network adds to them.
    """
    return model.destandardise(output, n_atoms) if model.family == "property" else output


def _with_element_weights(model: nn.Module, inputs: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """``inputs`` plus differentiable one-hot element indicators (property models take them)."""
    if model.family != "property":
        return dict(inputs)
    return {**inputs, K.ELEMENT_WEIGHTS: model.element_weights(inputs).detach().clone().requires_grad_(True)}


def _cam(model: nn.Module, inputs: dict[str, torch.Tensor], k: int) -> torch.Tensor:
    encoding = model.encode(inputs)
    if encoding.atom_outputs is None:
        raise ValueError(f"cam needs a readout that adds up per-atom terms; {model.kind} pools the atoms "
                         f"otherwise (Set2Set): use gradcam, saliency or integrated_gradients")
    terms = encoding.atom_outputs[:, k]
    if model.family != "property":
        return terms
    n_atoms = inputs[K.N_ATOMS].to(terms.dtype)[inputs[K.BATCH]]
    # y - μ·size = σ·size·mean(a) = Σ_i σ·(size/N)·a_i
    size = model._size(inputs[K.N_ATOMS])[:, k][inputs[K.BATCH]].to(terms.dtype)
    return model.target_std[k].to(terms.dtype) * size / n_atoms * terms


def _gradcam(model: nn.Module, inputs: dict[str, torch.Tensor], k: int) -> torch.Tensor:
    encoding = model.encode(_with_element_weights(model, inputs))
    nodes, batch = encoding.nodes, inputs[K.BATCH]
    output = _physical(model, encoding.output, inputs[K.N_ATOMS])[:, k]
    (grad,) = torch.autograd.grad(output.sum(), nodes)
    n_graphs = len(inputs[K.N_ATOMS])
    counts = torch.zeros(n_graphs, dtype=nodes.dtype, device=nodes.device).index_add(
        0, batch, torch.ones_like(batch, dtype=nodes.dtype)).clamp(min=1)
    alpha = grad.new_zeros(n_graphs, grad.shape[1]).index_add(0, batch, grad) / counts.unsqueeze(1)
    return torch.relu((alpha[batch] * nodes).sum(dim=1))


class _ElementInputModel(nn.Module):
    """``model``'s output ``k`` summed over the batch, as a function of the element indicators.

    The signature PyG's explainers expect: ``forward(x, edge_index, *fields)`` (Captum) or
    ``forward(x, edge_index, **fields)``; graphs do not interact, so the gradient of the
    sum by one molecule's atoms is that of the molecule's own output.
    """

    def __init__(self, model: nn.Module, k: int, keys: Sequence[str]):
        super().__init__()
        self.model, self.k, self.keys = model, k, list(keys)

    def forward(self, x: torch.Tensor, edge_index: torch.Tensor, *args: torch.Tensor, **kwargs: torch.Tensor):
        fields = dict(zip(self.keys, args)) if args else kwargs
        inputs = {**fields, K.EDGE_INDEX: edge_index, K.ELEMENT_WEIGHTS: x}
        output = _physical(self.model, self.model.encode(inputs).output, inputs[K.N_ATOMS])[:, self.k]
        return output.sum().reshape(1)


def _captum(model: nn.Module, inputs: dict[str, torch.Tensor], k: int, method: str) -> torch.Tensor:
    if model.family != "property":
        raise ValueError(f"{method} differentiates by one-hot element inputs, which {model.kind} energy models "
                         "do not take; use gradcam or cam")
    from torch_geometric.explain import Explainer
    from torch_geometric.explain.algorithm import CaptumExplainer

    fields = {key: value for key, value in inputs.items() if key not in (K.EDGE_INDEX, K.ELEMENT_WEIGHTS)}
    wrapper = _ElementInputModel(model, k, list(fields))
    explainer = Explainer(wrapper, algorithm=CaptumExplainer(_CAPTUM[method]), explanation_type="model",
                          node_mask_type="attributes", edge_mask_type=None,
                          model_config={"mode": "regression", "task_level": "graph", "return_type": "raw"})
    x = model.element_weights(inputs).detach()
    with warnings.catch_warnings():  # Captum sets requires_grad on the input itself and says so
        warnings.filterwarnings("ignore", message="Input Tensor 0 did not already require gradients")
        explanation = explainer(x, inputs[K.EDGE_INDEX], **fields)
    return (explanation.node_mask * x).sum(dim=1)


def atom_attributions(model: nn.Module, inputs: dict[str, torch.Tensor], method: str = "gradcam",
                      target: str | int | None = None) -> torch.Tensor:
    """One attribution per atom of a batch of model inputs, [n_atoms] (detached).

    ``method``: one of :data:`ATTRIBUTION_METHODS`; ``target``: the property to explain
    (name or index; default a property model's first target, or an energy model's energy).
    """
    method = check_attribution_method(method)
    k = _target_index(model, target)
    with torch.enable_grad():
        if method == "cam":
            values = _cam(model, inputs, k)
        elif method == "gradcam":
            values = _gradcam(model, inputs, k)
        else:
            values = _captum(model, inputs, k, method)
    return values.detach()
