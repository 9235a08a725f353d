"""Crystal data: element features, CGCNN graphs against pymatgen's neighbors, CGCNN folders, broken CIFs, CoRE MOF."""

import logging

import numpy as np
import pytest
import torch
from ase.build import bulk

from mlcalc import keys as K
from mlcalc.potentials.training.config import load_config
from mlcalc.crystal_graph import crystal_graph, nearest_edges
from mlcalc.data.cif_folder import folder_atom_features, load_cif_folder, read_id_prop
from mlcalc.data.elements import element_features, read_atom_init
from mlcalc.graph import edge_vectors

from crystal_data import random_crystals, volume_per_atom, write_cgcnn_folder


def test_element_features_are_binned_one_hot_and_tell_elements_apart():
    table = element_features()
    assert table.shape == (101, 91) and set(np.unique(table)) == {0.0, 1.0}
    assert (table[0] == 0).all()
    # H, C, O, Cu, Zn: every block present (9 ones); distinct rows up to Nd (some lanthanides share bins)
    assert [int(table[z].sum()) for z in (1, 6, 8, 29, 30)] == [9] * 5
    assert len({tuple(r) for r in table[1:60]}) == 59


def test_graph_keeps_the_nearest_neighbors_that_pymatgen_finds():
    """The 12 kept neighbors of each atom have the 12 shortest distances of pymatgen's get_all_neighbors."""
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = random_crystals(1, seed=3)[0] * (1, 2, 1)
    atoms.rattle(0.05, seed=1)
    graph = crystal_graph(atoms, radius=6.0, max_neighbors=12)
    vec = edge_vectors(torch.as_tensor(atoms.positions), torch.as_tensor(atoms.cell.array).unsqueeze(0),
                       torch.zeros(len(atoms), dtype=torch.long), graph[K.EDGE_INDEX], graph[K.EDGE_SHIFTS])
    r = torch.linalg.vector_norm(vec, dim=1).numpy()
    neighbors = AseAtomsAdaptor.get_structure(atoms).get_all_neighbors(6.0)
    for i, found in enumerate(neighbors):
        ours = np.sort(r[graph[K.EDGE_INDEX][1].numpy() == i])
        theirs = np.sort([n.nn_distance for n in found])[:12]
        np.testing.assert_allclose(ours, theirs, atol=1e-6)


def test_nearest_edges_keeps_at_most_k_per_atom_and_the_shortest():
    target = torch.tensor([0, 0, 0, 1, 1, 0])
    lengths = torch.tensor([3.0, 1.0, 2.0, 5.0, 4.0, 0.5])
    keep = nearest_edges(target, lengths, 2, 2)
    assert keep.tolist() == [5, 1, 4, 3]


@pytest.fixture()
def folder(tmp_path):
    structures = random_crystals(12, seed=0)
    return write_cgcnn_folder(tmp_path / "cg", structures, volume_per_atom(structures), broken=("broken-1",)), structures


def test_broken_cif_is_reported_by_name_and_skipped(folder, tmp_path, caplog):
    path, structures = folder
    with (path / "id_prop.csv").open("a") as fh:
        fh.write("missing-2,3.0\n")
    with caplog.at_level(logging.WARNING):
        crystals = load_cif_folder(path, radius=6.0, max_neighbors=12, cache=tmp_path / "cache", progress=False)
    assert len(crystals) == 12 and crystals.ids[0] == "mp-0000"
    assert [name for name, _ in crystals.skipped] == ["broken-1", "missing-2"]
    assert "broken-1" in caplog.text and "missing-2" in caplog.text
    np.testing.assert_allclose(crystals.targets, volume_per_atom(structures), rtol=1e-6)
    again = load_cif_folder(path, radius=6.0, max_neighbors=12, cache=tmp_path / "cache", progress=False)
    assert again.ids == crystals.ids and np.array_equal(again.edge_index, crystals.edge_index)
    assert crystals.atoms(3).get_volume() == pytest.approx(structures[3].get_volume(), rel=1e-6)


def test_id_prop_errors_name_the_line(tmp_path):
    (tmp_path / "id_prop.csv").write_text("a,1.0\nb,abc\n")
    with pytest.raises(ValueError, match="line 2: target 'abc' of 'b' is not a number"):
        read_id_prop(tmp_path)
    with pytest.raises(FileNotFoundError, match="no id_prop.csv"):
        read_id_prop(tmp_path / "nowhere")


def test_atom_init_json_is_read_as_a_feature_table(tmp_path):
    (tmp_path / "atom_init.json").write_text('{"1": [1, 0, 0.5], "29": [0, 1, 0.25]}')
    table = folder_atom_features(tmp_path)
    assert table.shape == (101, 3) and table[29].tolist() == [0, 1, 0.25] and (table[2] == 0).all()
    (tmp_path / "bad.json").write_text('{"1": [1, 0], "2": [1]}')
    with pytest.raises(ValueError, match="equally long"):
        read_atom_init(tmp_path / "bad.json")


def test_crystal_config_errors_name_the_options(tmp_path, folder):
    path, _ = folder
    raw = "name: x\nout_dir: {out}\ndata: {data}\nmodel: {{kind: {kind}}}\n"
    (tmp_path / "a.yaml").write_text(raw.format(out=tmp_path, kind="cgcnn", data="{source: coremof, target: XYZ}"))
    with pytest.raises(ValueError, match="unknown CoRE MOF property 'XYZ'; choose one of LCD, PLD"):
        load_config(tmp_path / "a.yaml")
    (tmp_path / "b.yaml").write_text(raw.format(out=tmp_path, kind="torchmdnet-et",
                                                data=f"{{source: cif_folder, path: {path}}}"))
    with pytest.raises(ValueError, match="energy model; data.source cif_folder needs one of"):
        load_config(tmp_path / "b.yaml")
    (tmp_path / "c.yaml").write_text(raw.format(out=tmp_path, kind="cgcnn", data=f"{{source: cif_folder, path: {tmp_path}}}"))
    with pytest.raises(ValueError, match="is not a CGCNN data folder"):
        load_config(tmp_path / "c.yaml")


def test_coremof_subset_comes_from_the_package_with_its_property_values(tmp_path):
    pytest.importorskip("CoRE_MOF")
    from mlcalc.data.coremof import coremof_properties, load_coremof

    crystals = load_coremof("2019-ASR", "LCD", subset=3, seed=1, radius=6.0, max_neighbors=12, max_atoms=120,
                            cache=tmp_path, progress=False)
    values = coremof_properties("2019-ASR", "LCD")
    assert len(crystals) == 3 and crystals.n_atoms.max() <= 120
    assert crystals.targets.tolist() == [values[name] for name in crystals.ids]
    assert all("max_atoms 120" in why for _, why in crystals.skipped)
    assert np.bincount(crystals.edge_index[1][:crystals.n_edges[0]]).max() == 12
