"""One MLCalc shared by threads gives each caller its own structure's results (calls take turns)."""

import copy
import pickle
from concurrent.futures import ThreadPoolExecutor

import numpy as np
import torch

from mlcalc import MLCalc
from mlcalc.data import load_molecule
from mlcalc.testing import tiny_potential


def _structures(n: int):
    out = []
    for k in range(n):
        atoms = load_molecule("ethanol" if k % 2 else "pyrimidine")
        atoms.rattle(0.05, seed=k)
        out.append(atoms)
    return out


def test_four_threads_sharing_one_calculator_get_the_serial_results():
    calc = MLCalc(tiny_potential("torchmdnet-et", elements=(1, 6, 7, 8)), dtype=torch.float64)
    structures = _structures(8)
    serial = []
    for atoms in structures:
        atoms.calc = calc
        serial.append((atoms.get_potential_energy(), atoms.get_forces()))

    def worker(t: int):
        """50 calls on copies of the structures (each copy carries the shared calculator), in a thread's own order."""
        copies = [a.copy() for a in structures]
        for atoms in copies:
            atoms.calc = calc
        out = []
        for call in range(50):
            k = (call * (t + 1) + t) % len(copies)
            if call % 5 == 4:  # a batch call between single ones
                out.append(("batch", k, calc.predict([copies[k]])))
            else:
                out.append(("single", k, (copies[k].get_potential_energy(), copies[k].get_forces())))
        return out

    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(worker, range(4)))
    checked = 0
    for out in results:
        for how, k, value in out:
            energy, forces = (value["energy"][0], value["forces"][0]) if how == "batch" else value
            np.testing.assert_allclose(energy, serial[k][0], rtol=0, atol=1e-10)
            np.testing.assert_allclose(forces, serial[k][1], rtol=0, atol=1e-10)
            checked += 1
    assert checked == 200


def test_a_calculator_with_its_lock_pickles_and_copies():
    calc = MLCalc(tiny_potential("torchmdnet-et", elements=(1, 6, 8)), dtype=torch.float64)
    atoms = load_molecule("ethanol")
    atoms.calc = calc
    energy = atoms.get_potential_energy()
    assert calc.call_lock is calc.call_lock  # one lock, made on first use
    for twin in (pickle.loads(pickle.dumps(calc)), copy.deepcopy(calc)):
        assert twin.call_lock is not calc.call_lock
        moved = atoms.copy()
        moved.calc = twin
        assert moved.get_potential_energy() == energy
