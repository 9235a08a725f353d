"""Interpretability: learned representations, ROGI roughness, atom attributions, the frames of a transfer study
mapped by a model's representation (``mlcalc explain``)."""
