"""mlcalc: machine-learned models of molecules and crystals as ASE calculators.

>>> from mlcalc import MLCalc
>>> atoms.calc = MLCalc.load("ethanol-et")
"""

from mlcalc.calculator import MLCalc

__version__ = "0.1.0"
__all__ = ["MLCalc", "__version__"]
