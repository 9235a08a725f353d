"""Tutorial 3: a transfer study, ethanol -> n-propanol, and how to read what it found.

Run:  python docs/tutorials/scripts/03_transfer_study.py --out tutorial-03   (--small: the test suite's size)
The same study from the command line: write the config below to a YAML file, then `mlcalc transfer FILE`.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from mlcalc.analysis.transfer.config import TransferConfig
from mlcalc.analysis.transfer.results import TransferResults
from mlcalc.analysis.transfer.study import run_transfer

sys.path.insert(0, str(Path(__file__).parent))
from _common import parse_args  # noqa: E402


def main(out: Path, small: bool = False) -> dict:
    out = Path(out)
    # 1. The study: the model trained on ethanol, run on ethanol (the source) and n-propanol (a target it never
    #    saw), each also run with GFN2-xTB as the reference. Every key: docs, Configuration > Transfer studies.
    config = TransferConfig.model_validate({
        "name": "ethanol -> n-propanol",
        "source": {"molecule": "ethanol", "model": "ethanol-bpnn"},
        "targets": ["n-propanol"],
        "md": {"steps": 80 if small else 20000, "timestep": 0.5, "temperature": 300, "interval": 5},
        "reference": "gfn2-xtb",
        "error_frames": 8 if small else 200,       # reference frames per molecule the model's errors are scored on
        "compare": ["C-O", "C-C-O", {"name": "C-C next to O", "pattern": "C-C", "next_to": "O"}],
        "replicas": 1 if small else 3,             # runs per molecule, each from its own seed and conformer
        "finetune": [] if small else [10, 50],     # the fine-tuning curve: k target frames (0 = as shipped)
        "finetune_train_steps": 1000,
        "out_dir": str(out / "study"),
        "workers": 1,
    })
    results = run_transfer(config, progress=False)   # a rerun resumes: only what is missing is computed

    # 2. What it found, read back from results.json (the report is made from the same object)
    results = TransferResults.read(out / "study")
    print(f"{'molecule':12s} {'role':7s} {'force MAE':>12s}  runs (NVE verdict)")
    for label, molecule in results.molecules.items():
        errors = molecule.model_errors or {}
        verdicts = [row["nve"] for row in results.energy_conservation if row["molecule"] == label
                    and row["run"] == "model"]
        print(f"{label:12s} {molecule.role:7s} {errors.get('forces_mae_meV_per_A', float('nan')):8.1f} meV/Å  "
              f"{', '.join(verdicts)}")
    for label, molecule in results.molecules.items():
        for name, summary in molecule.distributions.get("model", {}).items():
            reference = molecule.distributions.get("reference", {}).get(name)
            print(f"{label:12s} {name:14s} model {summary.mean:8.3f} ± {summary.std:.3f} {summary.unit}"
                  + (f"   GFN2-xTB {reference.mean:8.3f} ± {reference.std:.3f}" if reference else ""))

    # 3. Two of the report's figures, for this page
    copied = []
    for title, name in (("C-O", "03_distribution_C-O.png"), ("energies", "03_energies.png")):
        match = next((f for t, f in results.figures.items() if t == title or t.startswith(title)), None)
        if match is None:
            raise KeyError(f"the study has no figure {title!r}; it has {list(results.figures)}")
        copied.append(Path(shutil.copyfile(out / "study" / match, out / name)))
    print(f"report: {out / 'study' / 'report.html'}")
    return {"results": results, "figures": copied}


if __name__ == "__main__":
    args = parse_args(__doc__, "tutorial-03")
    main(args.out, small=args.small)
