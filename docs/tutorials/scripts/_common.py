"""What every tutorial script shares: its command line (``--out``, ``--small``) and figure saving."""

from __future__ import annotations

import argparse
import os
from pathlib import Path

#: set to 1 for the reduced size (what the test suite runs): the same as ``--small``
SMALL_ENV = "MLCALC_TUTORIAL_SMALL"


def parse_args(doc: str, default_out: str) -> argparse.Namespace:
    """``--out DIR`` (default ``default_out``) and ``--small`` (or the environment variable above)."""
    parser = argparse.ArgumentParser(description=doc.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path(default_out), help="folder for everything it writes")
    parser.add_argument("--small", action="store_true", default=os.environ.get(SMALL_ENV) == "1",
                        help=f"the reduced size the test suite runs (also: {SMALL_ENV}=1)")
    return parser.parse_args()


def save_figure(fig, out: Path, name: str) -> Path:
    """``fig`` as ``out/name`` (PNG, 110 dpi), closed; its path."""
    import matplotlib.pyplot as plt

    out.mkdir(parents=True, exist_ok=True)
    path = out / name
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path
