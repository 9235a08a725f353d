"""mlcalc: machine-learned models of molecules and crystals as ASE calculators.

>>> from mlcalc import MLCalc
>>> atoms.calc = MLCalc.load("ethanol-et")

Importing mlcalc is light: torch and the models load when ``MLCalc`` is first used.
"""

__version__ = "0.1.0"
__all__ = ["MLCalc", "__version__"]


def __getattr__(name: str):
    if name == "MLCalc":
        from mlcalc.calculator import MLCalc

        globals()["MLCalc"] = MLCalc
        return MLCalc
    raise AttributeError(f"module 'mlcalc' has no attribute {name!r}")
