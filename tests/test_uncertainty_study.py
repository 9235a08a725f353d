"""Ensemble uncertainty against true force error on labelled frames (mlcalc.analysis.uncertainty)."""

import numpy as np
import pytest
import torch
from ase.calculators.singlepoint import SinglePointCalculator

from mlcalc import MLCalc
from mlcalc.analysis.uncertainty import correlations, frame_uncertainty_and_error, uncertainty_study
from mlcalc.data.molecules import load_molecule
from mlcalc.model import create_model
from mlcalc.testing import tiny_potential


def _frames(molecule, reference, n=12):
    """Frames rattled ever more strongly, labelled with ``reference``'s forces."""
    frames = []
    for k in range(n):
        atoms = load_molecule(molecule)
        atoms.rattle(0.01 + 0.01 * k, seed=k)
        forces = MLCalc(reference, dtype=torch.float64).get_forces(atoms)
        atoms.calc = SinglePointCalculator(atoms, forces=forces)
        frames.append(atoms)
    return frames


def test_error_and_uncertainty_match_their_definitions():
    members = [tiny_potential(seed=k) for k in range(3)]
    calc = MLCalc(create_model("ensemble", members=members), dtype=torch.float64)
    truth = tiny_potential(seed=7)
    frames = _frames("ethanol", truth, n=3)
    values = frame_uncertainty_and_error(calc, frames)
    member_forces = np.stack([[MLCalc(m, dtype=torch.float64).get_forces(a) for m in members] for a in frames])
    mean = member_forces.mean(1)
    error = np.linalg.norm(mean - np.stack([a.get_forces() for a in frames]), axis=2)
    np.testing.assert_allclose(values["force_error"], error.mean(1), rtol=1e-9)
    np.testing.assert_allclose(values["atom_std"], np.linalg.norm(member_forces.std(1), axis=2).ravel(), rtol=1e-9)
    np.testing.assert_allclose(values["uncertainty"], np.linalg.norm(member_forces.std(1), axis=2).mean(1), rtol=1e-9)


def test_uncertainty_tracks_the_error_when_the_truth_is_one_member():
    """With member 0 as the truth, the error of the mean is a share of the spread: they must correlate."""
    members = [tiny_potential(seed=k) for k in range(3)]
    calc = MLCalc(create_model("ensemble", members=members), dtype=torch.float64)
    result = uncertainty_study(calc, {"ethanol": _frames("ethanol", members[0]),
                                      "ether": _frames("methyl-ethyl-ether", members[0])})
    assert set(result) == {"ethanol", "ether", "all"} and result["all"]["frames"] == 24
    assert result["all"]["frame"]["pearson"] > 0.5 and result["all"]["atom"]["spearman"] > 0.5


def test_correlations_refuse_constant_input_and_need_an_ensemble():
    assert correlations(np.zeros(5), np.arange(5.0)) == {"pearson": None, "spearman": None}
    assert correlations(np.arange(5.0), 2 * np.arange(5.0))["pearson"] == pytest.approx(1.0)
    with pytest.raises(ValueError, match="not an ensemble"):
        frame_uncertainty_and_error(MLCalc(tiny_potential()), [load_molecule("ethanol")])
