"""A broad GFN2-xTB data set of small organic molecules (QM9 sample, held-out molecules excluded), made on Ray.

:func:`generate_broad_set` is the entry point (``mlcalc data broad``); the pieces:
settings (:class:`BroadSetSettings`), the molecule sample (``molecules``), one molecule's
relaxation and sampling (``sampling``), where it runs (``executors``: in process or Ray).
"""

from .generate import BroadSetSummary, generate_broad_set, stored_settings
from .settings import SAMPLINGS, BroadSetSettings, broad_set_settings

__all__ = ["BroadSetSettings", "broad_set_settings", "BroadSetSummary", "SAMPLINGS", "generate_broad_set",
           "stored_settings"]
