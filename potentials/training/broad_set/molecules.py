"""The molecules of a broad data set: a seeded sample of QM9 without the held-out molecules, on top of it every
QM9 molecule that matches one of the ``include`` SMARTS patterns, then the molecules given as SMILES."""

from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np

from mlcalc.data.held_out import canonical_smiles, held_out_molecules, parse_smarts, smiles_of_atoms

__all__ = ["MoleculeJob", "sample_molecules", "select_molecules", "smiles_jobs", "held_out_smiles", "matching_rows"]


@dataclass(frozen=True)
class MoleculeJob:
    """One molecule to label: ``key`` names its shard; positions in Å; ``seed`` its own random stream;
    ``include``: the SMARTS pattern that brought it in (None: the random sample); ``qm9_id`` None and
    ``name`` (may be empty) for a molecule given as SMILES."""

    key: str
    qm9_id: int | None
    smiles: str
    numbers: np.ndarray
    positions: np.ndarray
    seed: int
    include: str | None = None
    name: str | None = None


def held_out_smiles(exclude: tuple[str, ...] = ()) -> dict[str, str]:
    """Name (or the given SMILES) -> canonical SMILES of every molecule a broad set must not contain."""
    held = dict(held_out_molecules())
    held.update({s: canonical_smiles(s) for s in exclude})
    return held


def sample_molecules(n: int, seed: int, max_heavy_atoms: int = 9, exclude: tuple[str, ...] = (),
                     skipped: dict[int | str, str] | None = None, include: tuple[str, ...] = (),
                     smiles: tuple[str, ...] = ()) -> list[MoleculeJob]:
    """The first ``n`` QM9 molecules of one seeded order that are not held out, as jobs, then every other
    molecule of that order whose QM9 SMILES matches an ``include`` SMARTS pattern (kept the same way), then
    the ``smiles`` molecules (:func:`smiles_jobs`).

    A molecule is held out when its QM9 SMILES or the SMILES perceived from its QM9 geometry
    is one of :func:`held_out_smiles` (``exclude`` adds SMILES). The order depends on ``seed``
    only, so a larger ``n`` extends a smaller sample, and more patterns add to it. ``skipped`` (if given)
    collects ``qm9_id`` (or the SMILES) ``-> reason`` for every molecule passed over (held out, too large,
    unreadable, a duplicate).
    """
    from mlcalc.data.qm9 import load_qm9

    qm9 = load_qm9()
    order = np.random.default_rng(seed).permutation(len(qm9))
    jobs = select_molecules(order, n, seed, max_heavy_atoms, exclude, skipped)
    if len(jobs) < n:
        raise ValueError(f"QM9 has only {len(jobs)} molecules that are not held out and have at most "
                         f"{max_heavy_atoms} heavy atoms; asked for {n}")
    if include:
        sampled = {int(job.qm9_id) for job in jobs}
        extra = {row: pattern for row, pattern in matching_rows(order, include).items()
                 if int(qm9.ids[row]) not in sampled}
        pattern_of = {int(qm9.ids[row]): pattern for row, pattern in extra.items()}
        for job in select_molecules(list(extra), len(extra), seed, max_heavy_atoms, exclude, skipped):
            jobs.append(replace(job, include=pattern_of[job.qm9_id]))
    if smiles:
        jobs.extend(smiles_jobs(smiles, seed, exclude, skipped, taken={job.smiles for job in jobs}))
    return jobs


def smiles_jobs(entries: tuple[str, ...], seed: int, exclude: tuple[str, ...] = (),
                skipped: dict[int | str, str] | None = None, taken: set[str] = frozenset()) -> list[MoleculeJob]:
    """Jobs for molecules given as ``"SMILES [NAME]"`` entries, in their order: each embedded in 3-D by RDKit
    with its own seed (from ``seed`` and the canonical SMILES). Held-out molecules, repeats and those whose
    canonical SMILES is in ``taken`` (already in the set) are passed over into ``skipped`` (SMILES -> reason),
    as is one that RDKit cannot embed."""
    from mlcalc.data.smiles_molecules import embed_smiles, parse_smiles_entry

    held = {s: name for name, s in held_out_smiles(exclude).items()}
    seen, jobs = set(taken), []
    skipped = {} if skipped is None else skipped
    for entry in entries:
        molecule = parse_smiles_entry(entry)
        reason = (f"held out ({held[molecule.canonical]})" if molecule.canonical in held
                  else "already in the set" if molecule.canonical in seen else None)
        seen.add(molecule.canonical)
        if reason is None:
            molecule_seed = int(np.random.SeedSequence([seed, int(molecule.key[4:], 16)]).generate_state(1)[0])
            try:
                atoms = embed_smiles(molecule.smiles, molecule_seed)
            except ValueError as err:
                reason = str(err)
        if reason is not None:
            skipped[molecule.smiles] = reason
            continue
        jobs.append(MoleculeJob(key=molecule.key, qm9_id=None, smiles=molecule.canonical, numbers=atoms.numbers.copy(),
                                positions=atoms.positions.copy(), seed=molecule_seed, name=molecule.name or None))
    return jobs


def matching_rows(rows, patterns: tuple[str, ...]) -> dict[int, str]:
    """QM9 ``rows`` (in the given order) whose SMILES matches one of the SMARTS ``patterns`` -> the first
    pattern it matches. Reads every row's SMILES with RDKit: about 10 s for all of QM9."""
    from mlcalc.data.qm9_smiles import load_qm9_smiles

    queries = [(pattern, parse_smarts(pattern)) for pattern in patterns]  # first: rdkit missing is said in one line
    from rdkit import Chem

    smiles = load_qm9_smiles()
    found: dict[int, str] = {}
    for row in rows:
        mol = Chem.MolFromSmiles(str(smiles[row]))
        hit = None if mol is None else next((p for p, q in queries if mol.HasSubstructMatch(q)), None)
        if hit is not None:
            found[int(row)] = hit
    return found


def select_molecules(rows, n: int, seed: int, max_heavy_atoms: int = 9, exclude: tuple[str, ...] = (),
                     skipped: dict[int, str] | None = None) -> list[MoleculeJob]:
    """Jobs for the first ``n`` QM9 ``rows`` (in the given order) that are kept; see :func:`sample_molecules`."""
    from mlcalc.data.qm9 import load_qm9
    from mlcalc.data.qm9_smiles import load_qm9_smiles

    qm9, smiles = load_qm9(), load_qm9_smiles()
    held = {s: name for name, s in held_out_smiles(exclude).items()}
    heavy = np.add.reduceat((qm9.numbers > 1).astype(np.int64), qm9.offsets[:-1])
    jobs: list[MoleculeJob] = []
    skipped = {} if skipped is None else skipped
    for row in rows:
        if len(jobs) == n:
            break
        atoms = qm9.atoms(int(row))
        qm9_id = int(qm9.ids[row])
        if heavy[row] > max_heavy_atoms:
            skipped[qm9_id] = f"{heavy[row]} heavy atoms > {max_heavy_atoms}"
            continue
        identities = _identities(str(smiles[row]), atoms)
        if not identities:
            skipped[qm9_id] = "RDKit reads neither its SMILES nor its geometry"
            continue
        hit = next((held[s] for s in identities if s in held), None)
        if hit is not None:
            skipped[qm9_id] = f"held out ({hit})"
            continue
        molecule_seed = int(np.random.SeedSequence([seed, qm9_id]).generate_state(1)[0])
        jobs.append(MoleculeJob(key=f"qm9-{qm9_id:06d}", qm9_id=qm9_id, smiles=identities[0],
                                numbers=atoms.numbers.copy(), positions=atoms.positions.copy(), seed=molecule_seed))
    return jobs


def _identities(qm9_smiles: str, atoms) -> list[str]:
    """Canonical SMILES of the QM9 entry: from its SMILES string and from its geometry (those RDKit can read)."""
    found = []
    for make in (lambda: canonical_smiles(qm9_smiles), lambda: smiles_of_atoms(atoms)):
        try:
            found.append(make())
        except ValueError:
            pass
    return found
