"""The miniature ethanol -> n-propanol transfer study config that the transfer tests change as they need."""

from mlcalc.analysis.transfer.config import TransferConfig


def mini_transfer_config(model, out, **changes) -> TransferConfig:
    """The model file ``model`` on ethanol and n-propanol, 120 steps of 0.5 fs, results in ``out``;
    ``changes`` replace top-level keys."""
    raw = {
        "name": "mini", "source": {"molecule": "ethanol", "model": str(model)}, "targets": ["n-propanol"],
        "md": {"steps": 120, "timestep": 0.5, "interval": 5}, "error_frames": 10,
        "compare": ["C-C", "C-O", {"name": "C-C away from O", "pattern": "C-C", "away_from": "O"}, "C-C-O"],
        "out_dir": str(out), "workers": 1,
    }
    raw.update(changes)
    return TransferConfig.model_validate(raw)
