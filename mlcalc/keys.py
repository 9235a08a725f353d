"""Names of the fields that travel through mlcalc in one graph/batch dict.

Every module reads and writes batches through these constants, never through
string literals, so a field has one name across data, models and training.
"""

#: atomic numbers, int64 [n_atoms]
Z = "z"
#: Cartesian positions in Å, float [n_atoms, 3]
POSITIONS = "pos"
#: graph index of every atom, int64 [n_atoms]
BATCH = "batch"
#: periodic cell per graph in Å (rows are lattice vectors; zero rows are non-periodic), float [n_graphs, 3, 3]
CELL = "cell"
#: periodic flags per graph, bool [n_graphs, 3]
PBC = "pbc"
#: number of atoms per graph, int64 [n_graphs]
N_ATOMS = "n_atoms"
#: neighbor pairs (source j, target i): messages flow from EDGE_INDEX[0] to EDGE_INDEX[1], int64 [2, n_edges]
EDGE_INDEX = "edge_index"
#: integer lattice shifts of the source atom, float [n_edges, 3] (edge vector = r_j + S·cell - r_i)
EDGE_SHIFTS = "edge_shifts"

#: optional one-hot element indicators over a property model's ``elements``, float [n_atoms, n_elements]
#: (replace the element lookup so outputs can be differentiated by them: atom attributions)
ELEMENT_WEIGHTS = "element_weights"

#: total energy per graph in eV, float [n_graphs]
ENERGY = "energy"
#: forces in eV/Å, float [n_atoms, 3]
FORCES = "forces"
#: stress in eV/Å³ (3x3, ASE sign convention), float [n_graphs, 3, 3]
STRESS = "stress"

#: reference values of a property model's targets, in the model's units, float [n_graphs, n_targets]
TARGETS = "targets"
