"""Analysis of trajectories and models.

Shared here: bond/angle distributions (MDAnalysis), their comparison metrics, model errors on
reference frames, projections (UMAP/PCA), ensemble uncertainty against force error, worker
processes. One subpackage per study: :mod:`.transfer` (transfer studies with plots and reports),
:mod:`.stability` (stability metrics of MD runs on arrays), :mod:`.explain` (interpretability),
:mod:`.latent` (latent spaces).
"""

from .distributions import Distribution, GeometryDistributions
from .metrics import common_bins, compare, jensen_shannon, wasserstein
from .model_errors import model_errors
from .selections import GeometrySelection, parse_selection
from .universe import universe_from_frames, universe_from_positions, universe_from_trajectory

__all__ = ["Distribution", "GeometryDistributions", "GeometrySelection", "parse_selection", "universe_from_frames",
           "universe_from_positions", "universe_from_trajectory", "common_bins", "compare", "jensen_shannon",
           "wasserstein", "model_errors",
           "run_transfer", "TransferConfig", "load_transfer_config"]


def __getattr__(name):  # the transfer study pulls in training and plotting: import it on first use
    if name == "run_transfer":
        from .transfer.study import run_transfer

        return run_transfer
    if name in ("TransferConfig", "load_transfer_config"):
        from .transfer import config

        return getattr(config, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
