"""Re-referencing a one-composition model's atomrefs: its own molecule unchanged, other molecules near GFN2-xTB."""

import numpy as np
import pytest

from mlcalc import MLCalc
from mlcalc.atomref import rereferenced
from mlcalc.data.molecules import load_molecule
from mlcalc.modelfile import read_manifest
from mlcalc.potentials.training.rereference import rereference_model


def test_rereferenced_keeps_the_training_sums_and_moves_towards_the_start():
    ethanol = load_molecule("ethanol")
    old = {1: -45.3, 6: -15.1, 8: -7.55}  # minimum norm: proportional to the counts 6, 2, 1
    start = {1: -11.7, 6: -50.0, 8: -104.0}
    new = rereferenced(old, [ethanol], start)
    counts = {z: int(np.count_nonzero(ethanol.numbers == z)) for z in old}
    assert sum(counts[z] * new[z] for z in old) == pytest.approx(sum(counts[z] * old[z] for z in old), abs=1e-9)
    assert all(abs(new[z] - start[z]) < abs(old[z] - start[z]) for z in old)


def test_a_rereferenced_shipped_model_keeps_ethanol_and_forces_and_fixes_propanol(tmp_path):
    pytest.importorskip("tblite")
    from mlcalc.calculators import get_calculator

    path = rereference_model("ethanol-bpnn", ["ethanol"], out=tmp_path / "bpnn.mlc")
    old, new = MLCalc.load("ethanol-bpnn", dtype="float64"), MLCalc.load(path, dtype="float64")
    ethanol = load_molecule("ethanol")
    assert new.get_potential_energy(ethanol) == pytest.approx(old.get_potential_energy(ethanol), abs=1e-6)
    propanol = load_molecule("n-propanol")
    np.testing.assert_allclose(new.get_forces(propanol), old.get_forces(propanol), atol=1e-9)
    xtb = get_calculator("gfn2-xtb").get_potential_energy(propanol)
    assert abs(old.get_potential_energy(propanol) - xtb) > 10  # minimum-norm atomrefs: eV off
    # the atomrefs alone now land near GFN2-xTB's energy of a new composition (the network adds its own error)
    sums = [float(sum(calc.model.atomref[z] for z in propanol.numbers)) for calc in (old, new)]
    assert abs(sums[0] - xtb) > 10 and abs(sums[1] - xtb) < 1.5
    assert abs(new.get_potential_energy(propanol) - xtb) < 0.5 * abs(old.get_potential_energy(propanol) - xtb)
    record = read_manifest(path)["normalisation"]["atomref"]
    assert record["method"] == "isolated_atoms" and record["trained_on"] == ["C2H6O"]
    with pytest.raises(ValueError, match="does not know"):
        rereference_model("ethanol-bpnn", ["uracil"], out=tmp_path / "x.mlc")
