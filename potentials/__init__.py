"""mlcalc's model kinds, registered in the core registry (:mod:`mlcalc.model.registry`) on import.

Energy models: TorchMD-NET equivariant transformer and TensorNet (``torchmdnet-et``,
``torchmdnet-tensornet``), Behler-Parrinello networks on TorchANI's symmetry functions (``bpnn``), kernel ridge
regression and Gaussian processes on DScribe descriptors with forces from their derivatives (``krr-energy``,
``gp-energy``), the sum of potentials (``sum``, a composite) and
the committee of one family's models (``ensemble``, a composite; also for property models), and pretrained
foundation potentials converted from their packages (``sevennet``, ``chgnet``: :mod:`.foundation`, the ``foundation`` extra). Property
models: SchNet, PhysNet, MPNN, MPNN-transformer, CGCNN (crystals), the GNN and linear baselines, and kernel ridge
regression and Gaussian processes on DScribe descriptors (``krr``, ``gp``).
Build one with :func:`mlcalc.model.create_model` (re-exported here).
"""

from __future__ import annotations

from mlcalc.model import AtomisticModel, CompositeModel, EnergyModel, PropertyModel, create_model

from .bpnn import BehlerParrinelloPotential
from .cgcnn import CGCNNModel
from .ensemble import Ensemble
from .foundation import CHGNetPotential, SevenNetPotential
from .gnn import GNNModel
from .kernel import GaussianProcessModel, KernelRidgeModel
from .kernel_energy import GaussianProcessEnergyModel, KernelRidgeEnergyModel
from .linear import LinearCountsModel
from .mpnn import MPNNModel
from .mpnn_transformer import MPNNTransformerModel
from .physnet import PhysNetModel
from .schnet import SchNetModel
from .sum import SumPotential
from .torchmdnet import ETPotential, TensorNetPotential

__all__ = ["AtomisticModel", "EnergyModel", "PropertyModel", "CompositeModel", "ETPotential", "TensorNetPotential",
           "SumPotential", "Ensemble", "SchNetModel", "PhysNetModel", "MPNNModel", "MPNNTransformerModel", "GNNModel",
           "LinearCountsModel", "CGCNNModel", "KernelRidgeModel", "GaussianProcessModel", "BehlerParrinelloPotential",
           "KernelRidgeEnergyModel", "GaussianProcessEnergyModel", "SevenNetPotential", "CHGNetPotential", "create_model"]
