"""Start-up cost of the command line: `mlcalc --help` against `python -c "import ase"`, same run.

Run: python bench/startup.py [--repeats N]
Each command runs in a fresh interpreter; the median wall time is reported. The ratio is
printed last; nothing is asserted (goal: under 3x).
"""

from __future__ import annotations

import argparse
import shutil
import statistics
import subprocess
import sys
import time
from pathlib import Path


def wall_time(cmd: list[str], repeats: int) -> float:
    """Median seconds of ``cmd`` over ``repeats`` runs (after one warm-up run for the file cache)."""
    subprocess.run(cmd, check=True, capture_output=True)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, capture_output=True)
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=15)
    args = parser.parse_args()
    script = shutil.which("mlcalc") or str(Path(sys.executable).with_name("mlcalc"))
    anchor = wall_time([sys.executable, "-c", "import ase"], args.repeats)
    rows = [("python -c 'import ase' (anchor)", anchor),
            ("python -c 'import mlcalc'", wall_time([sys.executable, "-c", "import mlcalc"], args.repeats)),
            ("python -c 'import mlcalc.md'", wall_time([sys.executable, "-c", "import mlcalc.md"], args.repeats)),
            ("mlcalc md --help", wall_time([script, "md", "--help"], args.repeats)),
            ("mlcalc --help", wall_time([script, "--help"], args.repeats))]
    print(f"{'command':34s} {'median s':>9s} {'x anchor':>9s}")
    for name, seconds in rows:
        print(f"{name:34s} {seconds:9.3f} {seconds / anchor:9.2f}")
    print(f"mlcalc --help / import ase: {rows[-1][1] / anchor:.2f}")


if __name__ == "__main__":
    main()
