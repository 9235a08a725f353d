"""``mlcalc train --seeds N --jobs K``: members trained in parallel processes equal the sequential ones."""

import pytest
import torch
from click.testing import CliRunner

from conftest import write_tiny_config
from mlcalc.potentials.training.config import load_config
from mlcalc.modelfile import load_model
from mlcalc.potentials.training.member_pool import MemberError, run_members
from mlcalc.potentials.training.seeds import train_seeds


def _weights(path):
    return {k: v.clone() for k, v in load_model(path)[0].state_dict().items()}


@pytest.mark.slow  # two members trained twice, two spawned processes: 22 s on the 2 cores
def test_parallel_members_equal_sequential_members(tmp_path, xtb_frames):
    config = write_tiny_config(tmp_path, xtb_frames, "ens", train=16, val=4, test=8, epochs=2, batch_size=8, seed=3)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # the parallel members run with one thread each: same arithmetic
    try:
        sequential = train_seeds(load_config(config, {"out_dir": str(tmp_path / "seq")}), 2)
    finally:
        torch.set_num_threads(threads)
    parallel = train_seeds(load_config(config, {"out_dir": str(tmp_path / "par")}), 2, jobs=2, threads=1)
    for k in range(2):
        a = _weights(tmp_path / "seq" / f"seed-{k}" / f"ens-seed{k}.mlc")
        b = _weights(tmp_path / "par" / f"seed-{k}" / f"ens-seed{k}.mlc")
        assert a.keys() == b.keys()
        for name in a:
            assert torch.equal(a[name], b[name]), f"member {k}: {name} differs"
    assert sequential.metrics["seed_spread"] == parallel.metrics["seed_spread"]
    assert [m["seed"] for m in parallel.metrics["members"]] == [3, 4]
    # a killed or repeated parallel run resumes: finished members are reused, not retrained
    again = train_seeds(load_config(config, {"out_dir": str(tmp_path / "par")}), 2, resume=True, jobs=2, threads=1)
    assert again.metrics["seed_spread"] == parallel.metrics["seed_spread"]


def _fails_for_member_one(k):
    if k == 1:
        raise ValueError("no data for this one\nsecond line")
    return 10 * k


def test_a_failing_member_is_named_in_one_line():
    with pytest.raises(MemberError, match=r"^member seed-1 failed: ValueError: no data for this one$"):
        run_members(_fails_for_member_one, [0, 1], ["seed-0", "seed-1"], jobs=2, threads=1)


def test_jobs_needs_seeds(tmp_path, xtb_frames):
    from mlcalc.cli import main

    config = write_tiny_config(tmp_path, xtb_frames, "one", train=8, val=4, test=4, epochs=1, batch_size=4)
    result = CliRunner().invoke(main, ["train", str(config), "--jobs", "2"])
    assert result.exit_code == 2 and "--jobs trains ensemble members in parallel" in result.output


@pytest.mark.slow  # two members trained in parallel, killed, resumed: ~40 s on the 2 cores
def test_a_killed_parallel_run_resumes_every_member(tmp_path, xtb_frames):
    import json
    import os
    import signal
    import subprocess
    import sys
    import time

    config = write_tiny_config(tmp_path, xtb_frames, "ens", train=16, val=4, test=8, epochs=25, batch_size=8)
    cmd = [sys.executable, "-m", "mlcalc.cli", "train", str(config), "--seeds", "2", "--jobs", "2"]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    lasts = [tmp_path / "run" / f"seed-{k}" / "checkpoints" / "last.ckpt" for k in range(2)]
    deadline = time.time() + 300
    while not all(p.exists() for p in lasts) and time.time() < deadline and proc.poll() is None:
        time.sleep(0.2)
    time.sleep(1.0)
    os.kill(proc.pid, signal.SIGKILL)  # the parent only: its workers must die with it
    proc.wait()
    assert all(p.exists() for p in lasts) and not (tmp_path / "run" / "ens.mlc").exists(), "not interrupted mid-way"
    time.sleep(1.0)
    done = subprocess.run(cmd + ["--resume"], capture_output=True, text=True, timeout=600)
    assert done.returncode == 0, done.stderr[-3000:]
    metrics = json.loads((tmp_path / "run" / "metrics.json").read_text())
    assert [m["epochs"] for m in metrics["members"]] == [25, 25]
    logs = [sorted((tmp_path / "run" / f"seed-{k}" / "logs").glob("version_*")) for k in range(2)]
    assert all(len(v) == 2 for v in logs)  # each member was started twice: interrupted, then resumed
