"""The model contract: base classes, the kind registry and the manifest schema.

Every model kind (in :mod:`mlcalc.potentials` or a third-party package) subclasses
:class:`EnergyModel`, :class:`PropertyModel` or :class:`CompositeModel` and registers
itself with :func:`register_kind`; core code builds models only through
:func:`create_model`, which loads the plugins on first use.
"""

from mlcalc.model.base import AtomisticModel, EnergyModel, Encoding, PropertyModel, check_property_targets
from mlcalc.model.composite import CompositeModel
from mlcalc.model.registry import (FAMILIES, create_model, family_of, known_kinds, model_class, model_from_spec,
                                   register_kind)

__all__ = ["AtomisticModel", "EnergyModel", "PropertyModel", "Encoding", "CompositeModel", "FAMILIES", "register_kind",
           "create_model", "model_from_spec", "model_class", "known_kinds", "family_of", "check_property_targets"]
