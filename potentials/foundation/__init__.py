"""Pretrained foundation potentials (SevenNet, CHGNet) as mlcalc energy kinds, and their one-time import.

The kinds register without their packages (the ``foundation`` extra); building a model of
one needs the package (:class:`~.extra.MissingExtraError` otherwise). The networks are the
packages' own, rebuilt from their JSON configuration and weights stored in a ``.mlc`` file;
their checkpoints are unpickled only by :mod:`.importer`, once, when a user asks for it.
"""

from __future__ import annotations

from .chgnet import CHGNetPotential
from .sevennet import SevenNetPotential

__all__ = ["CHGNetPotential", "SevenNetPotential"]
