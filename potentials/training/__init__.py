"""Training of mlcalc models with Lightning (energy + force loss, resumable, exports .mlc)."""

from .train import TrainResult, test_metrics, train

__all__ = ["train", "TrainResult", "test_metrics"]
