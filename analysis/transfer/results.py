"""The results of a transfer study as typed objects, written to and read from ``results.json``.

Like MDAnalysis' ``Results``: the study fills one :class:`TransferResults`; the report reads it
(:func:`~.report.write_report`), and :meth:`TransferResults.read` gives it back from a study folder's
``results.json``. The typed levels are the study, each molecule and each pooled distribution; the
tables inside (run summaries, stability metrics, comparisons, fine-tuning rows, uncertainty) stay
plain dicts with the keys documented where they are made (:mod:`.run_metrics`, :mod:`.finetune_curve`,
:func:`mlcalc.analysis.metrics.compare`, :func:`mlcalc.analysis.uncertainty.uncertainty_study`).
Optional parts that a study did not make are ``None`` here and absent from the JSON.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any, Optional

__all__ = ["SelectionSummary", "ModelInfo", "MoleculeResults", "TransferResults", "NVE_VERDICTS", "nve_verdict",
           "nve_counts"]

#: a run's NVE verdict: it passed the criterion, completed and failed it, or ended before its last step (blew up,
#: or stopped early: interrupted), which is no pass whatever its energy log until then says
NVE_VERDICTS = ("passed", "failed", "blew up", "stopped early")


def nve_verdict(conserved: bool, status: str) -> str:
    """One of :data:`NVE_VERDICTS` from the criterion on the energy log (``conserved``) and the run's ``status``
    ("completed", "blew_up", "running")."""
    if status == "blew_up":
        return "blew up"
    if status != "completed":
        return "stopped early"
    return "passed" if conserved else "failed"


def nve_counts(rows: list[dict]) -> dict[str, int]:
    """How many rows of :attr:`TransferResults.energy_conservation` have each verdict (older results without a
    ``nve`` key: from ``conserved`` and ``status``)."""
    counts = dict.fromkeys(NVE_VERDICTS, 0)
    for row in rows:
        counts[row.get("nve") or nve_verdict(row["conserved"], row["status"])] += 1
    return counts


@dataclass
class SelectionSummary:
    """One bond/angle selection's distribution, replicas pooled: mean, standard deviation (``unit``: Å or
    degrees) and the number of ``terms`` (bonds or angles matched) per frame."""

    mean: float
    std: float
    unit: str
    terms: list


@dataclass
class ModelInfo:
    """The study's model: file, kind and the test metrics of its manifest."""

    path: str
    kind: Optional[str]
    test: dict[str, Any] = field(default_factory=dict)


@dataclass
class MoleculeResults:
    """One molecule of the study (its label is the key in :attr:`TransferResults.molecules`).

    ``md``: run (reference, model, model-unoptimised) -> each replica's run summary; ``starts``: the
    conformer turns and pre-optimisation of each replica's start; ``metrics``: stability, h(r) and spectrum
    per run against the reference runs ({} without reference runs); ``distributions``: run -> selection ->
    pooled distribution; ``replica_means``: run -> selection -> each replica's mean; ``means_beyond_noise``:
    run -> selection -> whether the mean differs from the reference's beyond replica noise;
    ``model_errors``: the model's energy and force errors on the reference frames.
    """

    role: str
    file: str
    formula: str
    n_atoms: int
    md: dict[str, list[dict]]
    starts: dict[str, Any]
    metrics: dict[str, Any] = field(default_factory=dict)
    distributions: dict[str, dict[str, SelectionSummary]] = field(default_factory=dict)
    replica_means: dict[str, dict[str, list[float]]] = field(default_factory=dict)
    means_beyond_noise: Optional[dict[str, dict[str, dict]]] = None
    model_errors: Optional[dict[str, Any]] = None

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "MoleculeResults":
        data = dict(data)
        data["distributions"] = {run: {name: SelectionSummary(**d) for name, d in sels.items()}
                                 for run, sels in data.get("distributions", {}).items()}
        return cls(**data)


@dataclass
class TransferResults:
    """Everything a transfer study found; ``molecules`` by label, the source first."""

    name: str
    config: dict[str, Any]
    model: ModelInfo
    source: str
    molecules: dict[str, MoleculeResults] = field(default_factory=dict)
    #: molecule -> the selections of the config that it does not have
    missing_selections: dict[str, list[str]] = field(default_factory=dict)
    #: ``model_vs_reference`` (molecule -> selection -> comparison) and ``source_vs_target`` (model/reference ->
    #: target -> selection -> comparison)
    comparisons: dict[str, Any] = field(default_factory=dict)
    #: one row per run: the NVE criterion (:func:`mlcalc.md.energy_conservation`), the run's status and its verdict
    #: ``nve`` (:func:`nve_verdict`; ``conserved`` is true only for a run that passed: completed and conserving)
    energy_conservation: list[dict] = field(default_factory=list)
    #: frames of -> uncertainty against force error (an ensemble as the model, or ``uncertainty_model``)
    uncertainty: Optional[dict[str, Any]] = None
    uncertainty_model: Optional[str] = None
    #: target -> the fine-tuning curve's rows
    finetune: Optional[dict[str, list[dict]]] = None
    #: figure title -> file, relative to the study folder
    figures: dict[str, str] = field(default_factory=dict)
    wall_time_s: float = 0.0

    def to_dict(self) -> dict[str, Any]:
        """The JSON form: plain dicts and lists, ``None`` optional parts left out."""
        return _without_none(asdict(self))

    def write(self, path: str | os.PathLike) -> Path:
        path = Path(path)
        path.write_text(json.dumps(self.to_dict(), indent=2))
        return path

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TransferResults":
        data = dict(data)
        data["model"] = ModelInfo(**data["model"])
        data["molecules"] = {label: MoleculeResults.from_dict(entry) for label, entry in data["molecules"].items()}
        return cls(**data)

    @classmethod
    def read(cls, path: str | os.PathLike) -> "TransferResults":
        """The results in ``path`` (a results.json, or the study folder holding one)."""
        path = Path(path)
        return cls.from_dict(json.loads((path / "results.json" if path.is_dir() else path).read_text()))


_OPTIONAL = {f.name for cls in (TransferResults, MoleculeResults) for f in fields(cls) if f.default is None}


def _without_none(data: dict[str, Any]) -> dict[str, Any]:
    """``data`` without the optional parts that are None, at the study and the molecule level."""
    out = {k: v for k, v in data.items() if not (k in _OPTIONAL and v is None)}
    if "molecules" in out:
        out["molecules"] = {label: {k: v for k, v in entry.items() if not (k in _OPTIONAL and v is None)}
                            for label, entry in out["molecules"].items()}
    return out
