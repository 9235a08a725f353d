"""Analysis of trajectories and models (distributions, transfer studies, reports): grows in later issues."""
