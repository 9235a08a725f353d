"""W&B logging: offline by default, a local run folder with the config, metrics and figures, no network."""

import socket

import pytest
import yaml
from click.testing import CliRunner

from mlcalc.cli import main

pytest.importorskip("wandb")


def _refuse_remote(monkeypatch):
    """Make any connection to a non-local address raise (local sockets of wandb's own service stay allowed)."""
    attempts = []
    real_connect = socket.socket.connect

    def local(address) -> bool:
        host = address[0] if isinstance(address, tuple) else address
        return isinstance(host, (str, bytes)) and (not isinstance(address, tuple) or host in ("127.0.0.1", "localhost", "::1"))

    def create_connection(address, *args, **kwargs):
        attempts.append(address)
        raise OSError(f"network access in a test: {address}")

    def connect(self, address):
        if not local(address):
            attempts.append(address)
            raise OSError(f"network access in a test: {address}")
        return real_connect(self, address)

    monkeypatch.setattr(socket, "create_connection", create_connection)
    monkeypatch.setattr(socket.socket, "connect", connect)
    return attempts


def test_offline_wandb_run_writes_a_local_run_and_touches_no_network(tmp_path, xtb_frames, monkeypatch):
    monkeypatch.delenv("WANDB_API_KEY", raising=False)
    monkeypatch.setenv("WANDB_DIR", str(tmp_path))
    monkeypatch.setenv("WANDB_CONFIG_DIR", str(tmp_path / "wandb-config"))
    monkeypatch.setenv("WANDB_CACHE_DIR", str(tmp_path / "wandb-cache"))
    attempts = _refuse_remote(monkeypatch)
    raw = {"name": "logged", "data": {"path": str(xtb_frames), "train": 16, "val": 8, "test": 8},
           "model": {"kind": "torchmdnet-et", "cutoff": 4.0,
                     "hyperparameters": {"hidden_channels": 8, "num_layers": 1, "num_rbf": 8, "num_heads": 2}},
           "optim": {"epochs": 2, "batch_size": 8}, "out_dir": str(tmp_path / "run"), "progress": False}
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(raw))
    result = CliRunner().invoke(main, ["train", str(config), "--wandb"])
    assert result.exit_code == 0, result.output
    runs = list((tmp_path / "run" / "wandb").glob("offline-run-*"))
    assert len(runs) == 1, list((tmp_path / "run").rglob("*"))[:20]
    files = {p.name for p in runs[0].rglob("*")}
    assert any(name.endswith(".wandb") for name in files)  # the run's local record, for `wandb sync`
    import wandb

    wandb.teardown()  # the service writes the run's record out completely when it shuts down (at exit otherwise)
    record = next(runs[0].glob("*.wandb")).read_bytes()  # protobuf records: config, history rows, summary
    assert b"torchmdnet-et" in record and b"accumulate_grad_batches" in record  # the training config
    assert b"val_loss" in record and b"val_forces_mae" in record  # per-epoch metrics
    assert any(name.startswith("parity") and name.endswith(".png") for name in files)
    assert attempts == []
