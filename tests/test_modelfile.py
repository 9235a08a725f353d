"""The .mlc file: bit-exact round trip, no code execution, clear errors for bad files."""

import json
import pickle
import struct

import numpy as np
import pytest
import torch

from mlcalc import MLCalc
from mlcalc.modelfile import ModelFileError, load_model, read_manifest, save_model, write_model_file
from mlcalc.testing import tiny_potential


@pytest.fixture
def saved(tmp_path, kind):
    model = tiny_potential(kind, seed=5)
    path = save_model(tmp_path / "m.mlc", model, metrics={"test": {"forces_mae_meV_per_A": 1.5}})
    return model, path


def test_round_trip_is_bit_exact(saved, rattled_ethanol):
    model, path = saved
    loaded, manifest = load_model(path)
    original = model.state_dict()
    assert set(loaded.state_dict()) == set(original)
    for name, tensor in loaded.state_dict().items():
        assert torch.equal(tensor, original[name]), name
    a, b = rattled_ethanol.copy(), rattled_ethanol.copy()
    a.calc, b.calc = MLCalc(model), MLCalc.load(path)
    assert a.get_potential_energy() == b.get_potential_energy()
    assert np.array_equal(a.get_forces(), b.get_forces())
    assert manifest["kind"] == model.kind and manifest["elements"] == [1, 6, 8]
    assert manifest["metrics"]["test"]["forces_mae_meV_per_A"] == 1.5
    assert {"torch", "ase", "python"} <= set(manifest["versions"])


def test_saved_file_is_readable_by_others_as_the_umask_allows(tmp_path):
    import os
    import stat

    old = os.umask(0o022)
    try:
        path = save_model(tmp_path / "shared.mlc", tiny_potential("bpnn", seed=1))
    finally:
        os.umask(old)
    assert stat.S_IMODE(path.stat().st_mode) == 0o644


def test_header_length_starting_with_pickle_byte_still_loads(tmp_path):
    """A header whose length has low byte 0x80 (pickle's first byte) is still a model file."""
    model = tiny_potential()
    for pad in range(300):
        path = save_model(tmp_path / "m.mlc", model, note="x" * pad)
        if path.read_bytes()[0] == 0x80:
            break
    else:
        pytest.fail("could not make a header length with low byte 0x80")
    loaded, manifest = load_model(path)
    assert manifest["note"] == "x" * pad


class _Payload:
    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        return (open, (self.marker, "w"))


@pytest.mark.parametrize("protocol_zip", [False, True])
def test_pickle_payload_is_refused_without_running(tmp_path, protocol_zip):
    marker = tmp_path / "pwned"
    evil = tmp_path / "evil.mlc"
    if protocol_zip:
        torch.save({"x": _Payload(str(marker))}, evil)  # torch.save zip archive with a pickle inside
    else:
        evil.write_bytes(pickle.dumps(_Payload(str(marker))))
    with pytest.raises(ModelFileError, match="pickle"):
        MLCalc.load(evil)
    assert not marker.exists()


def test_truncated_file_gives_clear_error(saved, tmp_path):
    _, path = saved
    data = path.read_bytes()
    cut = tmp_path / "cut.mlc"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(ModelFileError, match="corrupt|truncated"):
        MLCalc.load(cut)


def test_corrupt_header_gives_clear_error(saved, tmp_path):
    _, path = saved
    data = bytearray(path.read_bytes())
    data[10:20] = b"\xff" * 10
    bad = tmp_path / "bad.mlc"
    bad.write_bytes(bytes(data))
    with pytest.raises(ModelFileError, match="corrupt"):
        MLCalc.load(bad)


@pytest.mark.parametrize("content", [b"", b"hello world, not a model", json.dumps({"a": 1}).encode()])
def test_foreign_files_give_clear_error(tmp_path, content):
    path = tmp_path / "foreign.mlc"
    path.write_bytes(content)
    with pytest.raises(ModelFileError, match="not an mlcalc model|too short"):
        MLCalc.load(path)


def test_plain_safetensors_file_is_not_a_model(tmp_path):
    from safetensors.torch import save_file

    path = tmp_path / "weights.safetensors"
    save_file({"w": torch.zeros(3)}, str(path))
    with pytest.raises(ModelFileError, match="not an mlcalc model"):
        read_manifest(path)


def test_newer_format_version_is_refused(tmp_path):
    path = tmp_path / "future.mlc"
    manifest = {"format_version": 99, "kind": "x", "hyperparameters": {}, "cutoff": 1.0, "elements": [1],
                "properties": {"energy": {"unit": "eV", "per": "structure"}}}
    write_model_file(path, manifest, {"w": torch.zeros(1)})
    raw = path.read_bytes()
    n = struct.unpack("<Q", raw[:8])[0]
    header = raw[8:8 + n].replace(b'"format_version":"1"', b'"format_version":"9"')
    path.write_bytes(raw[:8] + header + raw[8 + n:])
    with pytest.raises(ModelFileError, match="newer"):
        read_manifest(path)


def test_unknown_kind_and_mismatched_weights(tmp_path, saved):
    model, _ = saved
    manifest = {"format_version": 1, "kind": "no-such-model", "hyperparameters": {}, "cutoff": 1.0,
                "elements": [1], "properties": {"energy": {"unit": "eV", "per": "structure"}}}
    path = write_model_file(tmp_path / "unknown.mlc", manifest, {"w": torch.zeros(1)})
    with pytest.raises(ValueError, match="unknown model kind 'no-such-model'; known kinds: .*physnet.*torchmdnet-et"):
        MLCalc.load(path)
    manifest = {**manifest, "kind": model.kind, "hyperparameters": model.hyperparameters()}
    path = write_model_file(tmp_path / "mismatch.mlc", manifest, {"w": torch.zeros(1)})
    with pytest.raises(ModelFileError, match="do not match"):
        MLCalc.load(path)


def test_missing_file_and_unknown_name():
    with pytest.raises(FileNotFoundError, match="shipped models: .*ethanol-et"):
        MLCalc.load("no-such-model")
