"""Settings of a broad GFN2-xTB data set (pydantic, validated once at the edge; units: K, fs, 1/fs, eV/Å)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from mlcalc.md.settings import describe_errors

__all__ = ["BroadSetSettings", "SAMPLINGS", "GROWABLE", "broad_set_settings"]

#: how frames are drawn around each relaxed molecule
SAMPLINGS = ("md", "normal-modes")
#: settings a resumed data set may change (the molecule sample is a prefix of one seeded order; included
#: molecules and SMILES come on top of it)
GROWABLE = ("molecules", "include", "smiles")


class BroadSetSettings(BaseModel):
    """What a broad data set holds and how its frames are made.

    ``molecules`` QM9 molecules (a seeded sample, held-out molecules excluded) are relaxed
    with ``method`` (BFGS to ``fmax`` eV/Å, at most ``relax_steps``), then for each
    temperature in ``temperatures`` (K) ``frames_per_temperature`` frames are drawn:
    ``sampling="md"``: Langevin MD (``timestep`` fs, ``friction`` 1/fs), ``thermalise`` steps
    at each new temperature, then a frame every ``interval`` steps, the ladder run as one
    trajectory; ``sampling="normal-modes"``: displacements drawn from the harmonic Boltzmann
    distribution of the relaxed molecule's normal modes at that temperature (ANI's idea;
    modes softer than ``min_wavenumber`` cm⁻¹ sampled as if that stiff). A molecule whose
    bonds change (relaxation or sampling) or whose SCF fails is recorded and skipped.
    ``exclude``: more SMILES to hold out besides :func:`mlcalc.data.held_out.held_out_molecules`.
    ``include``: SMARTS patterns; every QM9 molecule that matches one (and is not held out) is labelled
    too, on top of the sample: more of a chemistry the random sample holds little of (benzene rings are
    0.2 % of QM9). ``smiles``: molecules beyond QM9 (any size; neutral, closed-shell), each ``"SMILES"`` or
    ``"SMILES NAME"``, or a ``.smi``/``.txt`` file of such lines, read here (the settings keep the SMILES);
    embedded in 3-D by RDKit (seeded), then labelled like the rest. Held-out molecules among them are skipped.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    molecules: int = Field(1000, ge=0, strict=True, description="QM9 molecules to label (a seeded sample; 0: only "
                                                                "include and smiles molecules)")
    seed: int = Field(0, ge=0, strict=True, description="seed of the molecule sample and of every molecule's frames")
    method: Literal["GFN2-xTB"] = "GFN2-xTB"
    sampling: Literal["md", "normal-modes"] = Field("md", description="md: Langevin MD up the temperature ladder; normal-modes: harmonic Boltzmann displacements")
    temperatures: tuple[float, ...] = Field((300.0, 500.0, 800.0), min_length=1)
    frames_per_temperature: int = Field(8, ge=1, strict=True, description="frames per molecule and temperature")
    thermalise: int = Field(100, ge=0, strict=True, description="md: steps at each new temperature before its frames", json_schema_extra={"unit": "steps"})
    interval: int = Field(30, ge=1, strict=True, description="md: steps between frames", json_schema_extra={"unit": "steps"})
    timestep: float = Field(0.5, gt=0, le=2, description="md: time step", json_schema_extra={"unit": "fs"})
    friction: float = Field(0.02, gt=0, description="md: Langevin friction", json_schema_extra={"unit": "1/fs"})
    fmax: float = Field(0.05, gt=0, description="relaxation stops below this force", json_schema_extra={"unit": "eV/Å"})
    relax_steps: int = Field(300, ge=0, strict=True, description="most BFGS steps of the relaxation")
    min_wavenumber: float = Field(100.0, gt=0, description="normal-modes: softer modes are sampled as if this stiff", json_schema_extra={"unit": "cm^-1"})
    max_heavy_atoms: int = Field(9, ge=1, le=9, strict=True, description="largest molecules drawn (heavy atoms)")
    exclude: tuple[str, ...] = ()
    include: tuple[str, ...] = Field((), description="SMARTS: every QM9 molecule matching one is labelled too, "
                                     "on top of the random sample (e.g. c1ccccc1: all benzene rings)")
    smiles: tuple[str, ...] = Field((), description="molecules beyond QM9: SMILES (optionally a name after a space) "
                                    "or .smi/.txt files of them, one a line; embedded in 3-D by RDKit")

    @field_validator("temperatures")
    @classmethod
    def _positive(cls, temperatures: tuple[float, ...]) -> tuple[float, ...]:
        if any(not 0 < t <= 3000 for t in temperatures):
            raise ValueError(f"temperatures must lie in (0, 3000] K, got {list(temperatures)}")
        return temperatures

    @field_validator("include")
    @classmethod
    def _smarts(cls, patterns: tuple[str, ...]) -> tuple[str, ...]:
        from mlcalc.data.held_out import parse_smarts

        for pattern in patterns:
            parse_smarts(pattern)
        return patterns

    @field_validator("smiles")
    @classmethod
    def _smiles(cls, items: tuple[str, ...]) -> tuple[str, ...]:
        """Files read into their lines; every SMILES checked (one-line errors name the file and line)."""
        from mlcalc.data.smiles_molecules import SMILES_FILE_SUFFIXES, parse_smiles_entry, read_smiles_file

        entries: list[str] = []
        for item in items:
            if item.strip().lower().endswith(SMILES_FILE_SUFFIXES) or Path(item.strip()).is_file():
                entries.extend(read_smiles_file(item.strip()))
            else:
                parse_smiles_entry(item)
                entries.append(" ".join(item.split()))
        return tuple(entries)

    @model_validator(mode="after")
    def _something_to_label(self) -> "BroadSetSettings":
        if not (self.molecules or self.include or self.smiles):
            raise ValueError("nothing to label: molecules is 0 and neither include nor smiles is given")
        return self

    @property
    def frames_per_molecule(self) -> int:
        return self.frames_per_temperature * len(self.temperatures)

    def differences(self, other: "BroadSetSettings") -> list[str]:
        """Settings that differ from ``other``, except the ones a resume may change (:data:`GROWABLE`)."""
        a, b = self.model_dump(), other.model_dump()
        return [k for k in a if k not in GROWABLE and a[k] != b[k]]


def broad_set_settings(values: dict[str, Any]) -> BroadSetSettings:
    """``values`` validated; a bad one raises a one-line ValueError naming the setting (and the known ones)."""
    try:
        return BroadSetSettings.model_validate(values)
    except ValidationError as err:
        raise ValueError(describe_errors(err, known=list(BroadSetSettings.model_fields))) from None
