"""GFN2-xTB as an MD calculator: converged tightly enough to conserve energy; studies do not mix settings."""

import json

import numpy as np
import pytest
from ase import units
from ase.md.verlet import VelocityVerlet

from mlcalc.named_calculators import get_calculator
from mlcalc.data.xtb import xtb_calculator
from mlcalc.md import energy_drift, initialise_velocities


def _drift_meV_per_atom_ps(atoms, calc, steps=1500):
    """Total-energy drift (meV/atom/ps) of ``steps`` velocity-Verlet steps of 0.1 fs (0.15 ps by default)."""
    atoms = atoms.copy()
    atoms.calc = calc
    initialise_velocities(atoms, 300, rng=np.random.default_rng(0), rescale=False)
    energies = []
    dyn = VelocityVerlet(atoms, 0.1 * units.fs)
    dyn.attach(lambda: energies.append(atoms.get_total_energy()), interval=10)
    dyn.run(steps)
    return energy_drift(np.arange(len(energies)) * 1e-3, np.array(energies), len(atoms))  # a frame per fs


def test_reference_md_conserves_energy_where_tblites_default_drifts(ethanol):
    pytest.importorskip("tblite")
    tight = _drift_meV_per_atom_ps(ethanol, get_calculator("gfn2-xtb"))
    default = _drift_meV_per_atom_ps(ethanol, xtb_calculator())
    assert abs(tight) < 0.02  # measured below 0.001 (0.0002 on 0.15 ps, 0.0005 on 0.4 ps)
    assert abs(default) > 3 * abs(tight)  # tblite's default tolerance: about -0.15 meV/atom/ps on 0.1-0.4 ps


def test_a_study_with_reference_runs_of_another_accuracy_is_not_extended(tmp_path):
    from mlcalc.analysis.transfer.study_folder import check_same_study
    from mlcalc.analysis.transfer.config import TransferConfig
    from mlcalc.errors import OutputExistsError
    from mlcalc.named_models import resolve_model_path

    out = tmp_path / "study"
    (out / "md").mkdir(parents=True)
    model = resolve_model_path("ethanol-bpnn")
    config = TransferConfig.model_validate({"name": "s", "source": {"molecule": "ethanol", "model": "ethanol-bpnn"},
                                            "targets": ["n-propanol"], "compare": ["C-C"], "out_dir": str(out),
                                            "reference": "gfn2-xtb"})
    check_same_study(config, out, model)
    recorded = json.loads((out / "study.json").read_text())
    assert recorded["reference_accuracy"] == 0.1
    check_same_study(config, out, model)  # the same settings: kept
    del recorded["reference_accuracy"]  # a study.json from before the tight SCF
    (out / "study.json").write_text(json.dumps(recorded))
    with pytest.raises(OutputExistsError, match="another reference_accuracy"):
        check_same_study(config, out, model)
    (out / "study.json").write_text(json.dumps({**recorded, "reference": None}))  # no reference runs yet: adding them is fine
    check_same_study(config, out, model)
