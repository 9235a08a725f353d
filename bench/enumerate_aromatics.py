"""Enumerate aromatic molecules for `mlcalc data broad --smiles`: ring scaffolds, each bare and with one substituent
at every symmetry-distinct aromatic C-H (and a methyl at every ring N-H); a seeded sample written as a .smi file.

    python bench/enumerate_aromatics.py fused 250 > configs/aromatics.smi.body        # the 537 of aromatics.smi
    python bench/enumerate_aromatics.py heteroaromatic 0 > configs/heteroaromatics.smi.body   # 0: all of them

Prints "SMILES name" lines (name: substituent, scaffold, the scaffold atom it sits on, RDKit index) sorted by
name; the count enumerated and drawn goes to stderr. Held-out molecules are not removed here: the data set skips
them when it is made.
"""
import argparse
import random
import sys

from rdkit import Chem

SCAFFOLDS = {
    "fused": {
        "naphthalene": "c1ccc2ccccc2c1", "quinoline": "c1ccc2ncccc2c1", "isoquinoline": "c1ccc2cnccc2c1",
        "quinoxaline": "c1ccc2nccnc2c1", "quinazoline": "c1ccc2ncncc2c1", "cinnoline": "c1ccc2nnccc2c1",
        "phthalazine": "c1ccc2cnncc2c1", "1,5-naphthyridine": "c1cc2ncccc2nc1",
        "1,8-naphthyridine": "c1cnc2ncccc2c1", "biphenyl": "c1ccc(-c2ccccc2)cc1",
        "2-phenylpyridine": "c1ccc(-c2ccccn2)cc1", "4-phenylpyrimidine": "c1ccc(-c2ccncn2)cc1",
        "2,2'-bipyridine": "c1ccc(-c2ccccn2)nc1", "azulene": "c1ccc2cccc2cc1", "tetralin": "C1CCc2ccccc2C1",
        "indole": "c1ccc2[nH]ccc2c1", "benzimidazole": "c1ccc2[nH]cnc2c1", "benzofuran": "c1ccc2occc2c1",
        "benzoxazole": "c1ccc2ocnc2c1", "2-quinolinone": "O=c1ccc2ccccc2[nH]1",
        "anthracene": "c1ccc2cc3ccccc3cc2c1", "phenanthrene": "c1ccc2c(c1)ccc1ccccc12",
    },
    # Six-membered N-heteroaromatics, their lactams (pyridones, pyrimidinones, uracil, cytosine) and five-membered
    # heteroaromatics: the chemistry of the uracil study's targets (pyrimidine, uracil are held out themselves).
    "heteroaromatic": {
        "pyridine": "c1ccncc1", "pyrazine": "c1cnccn1", "pyridazine": "c1ccnnc1", "pyrimidine": "c1cncnc1",
        "1,3,5-triazine": "c1ncncn1", "1,2,4-triazine": "c1cnncn1", "2-pyridone": "O=c1cccc[nH]1",
        "4-pyridone": "O=c1cc[nH]cc1", "2-pyrimidinone": "O=c1nccc[nH]1", "4-pyrimidinone": "O=c1ccnc[nH]1",
        "uracil": "O=c1cc[nH]c(=O)[nH]1", "cytosine": "Nc1cc[nH]c(=O)n1", "6-azauracil": "O=c1cn[nH]c(=O)[nH]1",
        "2-pyrazinone": "O=c1cncc[nH]1", "3-pyridazinone": "O=c1cccn[nH]1",
        "quinazolinedione": "O=c1[nH]c(=O)c2ccccc2[nH]1", "pyrrole": "c1cc[nH]c1", "imidazole": "c1c[nH]cn1",
        "pyrazole": "c1cc[nH]n1", "furan": "c1ccoc1", "oxazole": "c1cocn1", "isoxazole": "c1cnoc1",
        "1,2,4-triazole": "c1nc[nH]n1",
    },
}
SUBSTITUENTS = {
    "fused": {"methyl": "C", "hydroxy": "O", "amino": "N", "fluoro": "F", "cyano": "C#N"},
    "heteroaromatic": {"methyl": "C", "hydroxy": "O", "amino": "N", "fluoro": "F", "cyano": "C#N",
                       "methoxy": "OC", "formyl": "C=O", "ethyl": "CC"},
}


def _attach(mol, atom_index, group):
    """`mol` with `group` (SMILES, bonded by its first atom) on atom `atom_index` in place of one H."""
    combo = Chem.RWMol(Chem.CombineMols(mol, Chem.MolFromSmiles(group)))
    combo.AddBond(atom_index, mol.GetNumAtoms(), Chem.BondType.SINGLE)
    combo.GetAtomWithIdx(atom_index).SetNumExplicitHs(0)
    combo.GetAtomWithIdx(atom_index).SetNoImplicit(False)
    out = combo.GetMol()
    Chem.SanitizeMol(out)
    return Chem.MolToSmiles(out)


def variants(name, smiles, substituents, n_methyl):
    """(canonical SMILES, name) of the bare scaffold and every single substitution."""
    mol = Chem.MolFromSmiles(smiles)
    yield Chem.MolToSmiles(mol), name
    ranks = list(Chem.CanonicalRankAtoms(mol, breakTies=False))
    seen = set()
    for atom in mol.GetAtoms():
        if not atom.GetIsAromatic() or atom.GetTotalNumHs() != 1 or ranks[atom.GetIdx()] in seen:
            continue
        seen.add(ranks[atom.GetIdx()])
        if atom.GetSymbol() == "C":
            for sub_name, group in substituents.items():
                yield _attach(mol, atom.GetIdx(), group), f"{sub_name}-{name}-{atom.GetIdx()}"
        elif atom.GetSymbol() == "N" and n_methyl:
            yield _attach(mol, atom.GetIdx(), "C"), f"N-methyl-{name}-{atom.GetIdx()}"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("family", choices=sorted(SCAFFOLDS))
    parser.add_argument("sample", type=int, help="molecules to draw (random.Random(0)); 0: all")
    args = parser.parse_args()
    entries = {}
    for name, smiles in SCAFFOLDS[args.family].items():
        for canonical, label in variants(name, smiles, SUBSTITUENTS[args.family], args.family != "fused"):
            entries.setdefault(canonical, label.replace(" ", "_"))
    rows = sorted(entries.items())
    n = len(rows) if args.sample == 0 else min(args.sample, len(rows))
    sample = sorted(random.Random(0).sample(rows, n), key=lambda kv: kv[1])
    print(f"# {len(rows)} enumerated, {len(sample)} drawn", file=sys.stderr)
    for canonical, label in sample:
        print(canonical, label)


if __name__ == "__main__":
    main()
