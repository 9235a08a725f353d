"""The one MD settings schema (units: fs, K, 1/fs; ``interval`` in steps), validated once at the edge.

:class:`MDSettings` is what ``mlcalc md``, :func:`mlcalc.md.run_md`, the transfer-study
config and reference data take. Each field's type and valid range are declared once, as
an ``Annotated`` alias below; a use with other defaults subclasses :class:`MDSettings` and
re-declares a field with the same alias and a new default (validation unchanged).
:class:`ReferenceSettings` (reference data: Langevin at 500 K) adds ``frames`` and
``thermalise``. :class:`LearnSettings` is how an MD run learns on the fly (``mlcalc md --learn``;
the loop is :mod:`mlcalc.potentials.training.on_the_fly`). Bad values raise a one-line ``ValueError``
that names the field and what it must be. Only pydantic is imported here (the CLI builds its options
from these fields).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal, Optional, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, Field, ValidationError, ValidationInfo, field_validator, model_validator
from pydantic_core import PydanticCustomError

__all__ = ["ENSEMBLES", "CELL_ENSEMBLES", "ENGINES", "LEARN_REFERENCES", "MDSettings", "ReferenceSettings",
           "LearnSettings", "describe_errors"]


def _field(description: str, unit: str = "", **checks: Any) -> Any:
    return Field(description=description, json_schema_extra={"unit": unit}, allow_inf_nan=False, **checks)


Ensemble = Literal["nve", "langevin", "nose-hoover", "npt"]
#: the ensembles MD runs in: NVE velocity Verlet, NVT Langevin, NVT Nose-Hoover chain, NPT (MTK, isotropic);
#: each has an entry in each engine's integrator table (mlcalc.md.stepper, mlcalc.md.torchsim_stepper)
ENSEMBLES: tuple[str, ...] = get_args(Ensemble)
#: ensembles that change the cell: periodic systems with a model that gives stress only
CELL_ENSEMBLES: tuple[str, ...] = ("npt",)
Engine = Literal["ase", "torchsim"]
#: what steps the systems: ASE (one system per model call, any calculator) or TorchSim (batched)
ENGINES: tuple[str, ...] = get_args(Engine)

Steps = Annotated[int, Field(ge=1, strict=True, description="number of MD steps")]
Timestep = Annotated[float, _field("time step", "fs", gt=0, le=5)]
Temperature = Annotated[float, _field("initial Maxwell-Boltzmann velocities; Langevin bath", "K", ge=0)]
EnsembleField = Annotated[Ensemble, Field(description=(
    "nve: velocity Verlet; langevin: NVT Langevin; nose-hoover: NVT Nose-Hoover chain; "
    "npt: Nose-Hoover chain thermostat and isotropic MTK barostat (periodic systems, a model with stress)"))]
EngineField = Annotated[Engine, Field(description=(
    "ase: one system per model call, any calculator; torchsim: many systems in one model call per step "
    "(mlcalc energy models)"))]
Friction = Annotated[float, _field("Langevin friction", "1/fs", gt=0)]
ThermostatTime = Annotated[float, _field("Nose-Hoover thermostat time constant (nose-hoover, npt)", "fs", gt=0)]
Pressure = Annotated[float, _field("npt target pressure", "GPa")]
BarostatTime = Annotated[float, _field("npt barostat time constant", "fs", gt=0)]
Seed = Annotated[int, Field(ge=0, strict=True, description="seed of the initial velocities and the Langevin noise")]
Interval = Annotated[int, Field(ge=1, strict=True, description="steps between saved frames and log rows",
                                json_schema_extra={"unit": "steps"})]
Extxyz = Annotated[bool, Field(strict=True, description="also write the frames as extended XYZ")]
MaxForce = Annotated[Optional[float], _field("a larger force on an atom stops the run as a blow-up", "eV/Å", gt=0)]
BondStretch = Annotated[Optional[float], _field("a bond longer than this factor of its starting length stops the run",
                                                gt=1)]
MaxUncertainty = Annotated[Optional[float], _field(
    "ensemble models: a larger force uncertainty (mean per-atom norm of the members' force std) stops or flags "
    "the run (uncertainty_action)", "eV/Å", gt=0)]
UncertaintyAction = Annotated[Literal["stop", "flag"], Field(
    description="with max_uncertainty: stop the run, or flag: go on and count the steps above the limit "
                "(energy log column, run summary)")]
Frames = Annotated[int, Field(ge=1, strict=True, description="frames to keep")]
Thermalise = Annotated[int, Field(ge=0, strict=True, description="steps discarded before the first kept frame",
                                  json_schema_extra={"unit": "steps"})]


class CheckedSettings(BaseModel):
    """A frozen settings schema whose refusals are one line naming the field and what it must be
    (:func:`describe_errors`); the base of :class:`MDSettings` and :class:`LearnSettings`."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    def __init__(self, **settings: Any):
        try:
            super().__init__(**settings)
        except ValidationError as err:
            raise ValueError(describe_errors(err, known=list(type(self).model_fields))) from None

    # Only a direct call goes through this __init__; as a field of a config the settings are validated by
    # pydantic as usual, so that errors keep their dotted location (md.timestep).
    __init__.__pydantic_base_init__ = True  # type: ignore[attr-defined]

    @field_validator("*", mode="wrap")
    @classmethod
    def _explain(cls, value: Any, handler, info: ValidationInfo) -> Any:
        """Replace pydantic's message by one that names the field and what it must be."""
        try:
            return handler(value)
        except ValidationError:
            message = _must_be(cls, info.field_name, value)
            if message is None:
                raise
            raise PydanticCustomError("md_setting", "{message}", {"message": message}) from None

    def to_dict(self) -> dict[str, Any]:
        return self.model_dump()

    def differences(self, other: CheckedSettings, ignore: tuple[str, ...] = ("steps",)) -> list[str]:
        """Names of the settings that differ from ``other`` (except those in ``ignore``)."""
        a, b = self.to_dict(), other.to_dict()
        return [k for k in a if k not in ignore and a[k] != b.get(k)]


class MDSettings(CheckedSettings):
    """Settings of one MD run (units: fs, K, 1/fs).

    ``steps`` integration steps of ``timestep`` fs; velocities start Maxwell-Boltzmann at
    ``temperature`` K from ``seed``. ``ensemble``: ``"nve"`` (velocity Verlet) or
    ``"langevin"`` (NVT at ``temperature`` with ``friction`` in 1/fs), ``"nose-hoover"``
    (NVT, a Nose-Hoover chain of time constant ``thermostat_time`` fs) or ``"npt"`` (that
    thermostat and an isotropic MTK barostat at ``pressure`` GPa with time constant
    ``barostat_time`` fs; periodic systems with a model that gives stress). ``engine``: ``"ase"``
    (:func:`mlcalc.md.run_md`, any calculator) or ``"torchsim"`` (batched, mlcalc energy models:
    :func:`mlcalc.md.run_batched_md`; :func:`~mlcalc.md.run_md` hands such a run to it). A frame and a log
    row are written every ``interval`` steps (and after the last step); ``extxyz`` also
    writes the frames as extended XYZ. ``max_force`` (eV/Å) and ``bond_stretch`` (factor
    of a bond's starting length) stop a run that blows up; None disables a check.
    ``max_uncertainty`` (eV/Å, ensemble models only) stops a run whose force uncertainty
    exceeds it, or with ``uncertainty_action="flag"`` lets it go on and records the steps
    above it (per log row and in the summary); the uncertainty of every logged frame is in
    the energy log either way.
    """

    steps: Steps
    timestep: Timestep = 0.5
    temperature: Temperature = 300.0
    ensemble: EnsembleField = "nve"
    engine: EngineField = "ase"
    friction: Friction = 0.01
    thermostat_time: ThermostatTime = 50.0
    pressure: Pressure = 0.0
    barostat_time: BarostatTime = 500.0
    seed: Seed = 0
    interval: Interval = 10
    extxyz: Extxyz = False
    max_force: MaxForce = 50.0
    bond_stretch: BondStretch = 2.0
    max_uncertainty: MaxUncertainty = None
    uncertainty_action: UncertaintyAction = "stop"

    @property
    def duration_ps(self) -> float:
        return self.steps * self.timestep / 1000


class ReferenceSettings(MDSettings):
    """MD17-style reference data: Langevin MD at 500 K (friction 0.01/fs, 0.5 fs steps).

    The first ``thermalise`` steps are discarded; then the frame at every step that is a
    multiple of ``interval`` is kept until there are ``frames`` (40 steps of 0.5 fs: a
    frame every 20 fs). ``steps`` = ``thermalise + frames * interval`` and need not be given.
    ``extxyz`` has no effect (reference frames are written as extxyz anyway).
    """

    temperature: Temperature = 500.0
    ensemble: EnsembleField = "langevin"
    engine: Annotated[Literal["ase"], Field(description="reference calculators run on ASE")] = "ase"
    interval: Interval = 40
    frames: Frames = 1000
    thermalise: Thermalise = 2000

    @model_validator(mode="before")
    @classmethod
    def _steps(cls, data: Any) -> Any:
        if not isinstance(data, dict) or "steps" in data:
            return data
        n = [data.get(k, cls.model_fields[k].default) for k in ("thermalise", "frames", "interval")]
        steps = n[0] + n[1] * n[2] if all(type(x) is int for x in n) else 1  # a bad one is reported by its field
        return {**data, "steps": max(steps, 1)}

    @model_validator(mode="after")
    def _steps_match(self) -> ReferenceSettings:
        if self.steps != self.thermalise + self.frames * self.interval:
            raise PydanticCustomError("md_setting", "{message}", {"message": (
                f"steps must be thermalise + frames × interval = {self.thermalise + self.frames * self.interval}, "
                f"got {self.steps} (leave it out)")})
        return self


#: the methods that can label frames while an MD run learns on the fly: GFN2-/GFN1-xTB (tblite) and ASE's EMT
#: (effective medium theory: cheap, a stand-in where the reference does not matter, as in tests)
LearnReference = Literal["gfn2-xtb", "gfn1-xtb", "emt"]
LEARN_REFERENCES: tuple[str, ...] = get_args(LearnReference)


class LearnSettings(CheckedSettings):
    """How an MD run learns on the fly (``mlcalc md --learn``; :func:`mlcalc.potentials.training.on_the_fly.run_learning_md`).

    A committee (the members of an ensemble file, or ``members`` copies of one model: the weights
    times 1 + N(0, ``spread``²), seeded per member, each then fitted for ``init_steps`` optimiser steps on
    the labelled start frame) drives the MD. A step whose force uncertainty exceeds the threshold is
    held: ``reference`` labels it, every member takes ``update_steps`` optimiser steps on all frames
    labelled so far (AdamW from ``lr`` down to ``lr``/100, batches of ``batch_size``; a member still above
    ``target_error`` on those frames takes ``update_steps`` more, up to ``max_update_steps``), and the MD goes
    on from the held state. ``threshold``: a force uncertainty (eV/Å), or ``auto``: the first ``calibration`` frames are
    labelled every ``calibration_interval`` steps, and the threshold is then the uncertainty at which the
    committee's force MAE is expected to reach ``target_error`` (a line through the origin fitted to
    the (uncertainty, error) pairs of the last ``calibration_window`` labelled frames, refitted at every
    label: it follows the committee as it learns). A system is labelled
    again only ``min_gap`` steps after its last label. A system without a label for ``audit`` steps is
    labelled anyway (an audit; the interval doubles while audits find the error at or below ``target_error``):
    the committee's error where it is sure of itself, which an uncertainty alone cannot show. A threshold
    label that finds the error at or below ``target_error`` (a false alarm) multiplies the system's gap to its
    next threshold label by ``gap_growth`` (at most ``audit``); one above brings it back to ``min_gap``. ``max_calls``
    reference calls at most (the start frame included); after that ``on_budget``: ``continue`` (the committee stays as it is) or ``stop``
    (a system ends at its first step that would need a label). ``update_energy`` (NVE) says what an update
    does to each system's total energy: ``anchor`` scales the momenta so that the total becomes the start
    state's (start geometry, step-0 kinetic energy) on the new model, as if the run had started on it
    (when the kinetic energy cannot pay for it the total stays, and the first later step that can pay is put on
    the anchor); ``conserve``
    scales them so that the total stays (the
    total of the start state on the untrained committee); ``jump``: the momenta stay and the total jumps
    by the potential-energy change. Either way the energy log's ``model_update_eV`` sums the jumps, and
    ``total_eV`` less it is what NVE conserves.
    """

    reference: Annotated[LearnReference, Field(description=(
        "the method that labels frames: gfn2-xtb, gfn1-xtb (tblite) or emt (ASE's EMT, a cheap stand-in)"))]
    max_calls: Annotated[int, Field(ge=1, strict=True, description="reference calls at most, the start frame's "
                                                                   "included")] = 100
    threshold: Annotated[Union[Literal["auto"], float], Field(description=(
        "force uncertainty above which a step is labelled, or auto (calibrated on the first labelled frames)"),
        json_schema_extra={"unit": "eV/Å"})] = "auto"
    on_budget: Annotated[Literal["continue", "stop"], Field(description=(
        "when max_calls are spent: continue without labels, or stop a system at its next step above the "
        "threshold"))] = "continue"
    members: Annotated[int, Field(ge=2, strict=True, description=(
        "committee size when MODEL is one model (an ensemble file brings its own members)"))] = 4
    # measured (bench/committee_spread.py, RESULTS): 0.05 and 100 steps put organic-xtb's committee at 3x its parent's
    # force error on iso-propanol; 0.01 and 20 steps start it at the parent's, and ethanol-bpnn's below its parent's
    spread: Annotated[float, _field("relative weight perturbation of the members made from one model", gt=0,
                                    le=1)] = 0.01
    init_steps: Annotated[int, Field(ge=1, strict=True, description=(
        "optimiser steps each member made from one model takes on the start frame"))] = 20
    update_steps: Annotated[int, Field(ge=1, strict=True, description=(
        "optimiser steps each member takes on all labelled frames after a label"))] = 50
    # measured (RESULTS, tenth session): after 100 labels the uracil BPNN's committee on naphthalene fitted its own
    # labelled frames to 54 meV/Å with 50 steps an update (35 with this): a source this far off under-fits its labels
    max_update_steps: Annotated[Optional[int], Field(ge=1, strict=True, description=(
        "a member whose force MAE on the labelled frames is still above target_error after update_steps takes "
        "update_steps more (a new cosine from lr), up to this many in all; none: update_steps only"))] = 200
    lr: Annotated[float, _field("first learning rate of each update (AdamW, cosine decay to lr/100)", gt=0)] = 5e-4
    batch_size: Annotated[int, Field(ge=1, strict=True, description="labelled frames per optimiser step")] = 16
    update_energy: Annotated[Literal["anchor", "conserve", "jump"], Field(description=(
        "NVE: after a model update scale the momenta so that the total energy is the start state's on the new "
        "model (anchor) or stays (conserve), or let it jump by the potential-energy change (jump)"))] = \
        "anchor"
    # measured (RESULTS, tenth session): from ethanol-bpnn on methyl ethyl ether, 10 steps spent the budget of 100 in
    # 0.5 ps (95 meV/Å at the end), 40 steps spread 70 labels over 2 ps (37 meV/Å); organic-xtb's calls did not change
    min_gap: Annotated[int, Field(ge=1, strict=True, description="steps between two labels of one system",
                                  json_schema_extra={"unit": "steps"})] = 40
    target_error: Annotated[float, _field("threshold auto: the force MAE the threshold aims at", "eV/Å",
                                          gt=0)] = 0.04
    calibration: Annotated[int, Field(ge=1, strict=True, description=(
        "threshold auto: frames labelled at a fixed interval before the threshold is fitted"))] = 3
    calibration_window: Annotated[int, Field(ge=1, strict=True, description=(
        "threshold auto: the last labelled frames whose uncertainty-error pairs set the threshold"))] = 5
    calibration_interval: Annotated[int, Field(ge=1, strict=True, description=(
        "threshold auto: steps between the calibration labels"), json_schema_extra={"unit": "steps"})] = 20
    # measured (RESULTS, the new defaults): without audits a confident committee is never checked again, and
    # organic-xtb's naphthalene run stopped labelling at 55 meV/Å after its 3 calibration labels
    audit: Annotated[int, Field(ge=0, strict=True, description=(
        "steps without a label after which a system is labelled anyway, however sure the committee is (an audit: "
        "its error where it is confident, which also refits an auto threshold); the interval doubles after an "
        "audit at or below target_error and returns to this after one above it; 0: no audits"),
        json_schema_extra={"unit": "steps"})] = 1000
    # measured (RESULTS, sixth session): with a fixed min_gap, organic-xtb's committee on methyl ethyl ether labelled
    # in bursts, a label every 10 steps at errors of 30-45 meV/Å (the target's own level)
    gap_growth: Annotated[float, _field(
        "after a threshold label that finds the committee's error at or below target_error (a false alarm), the "
        "system's gap to its next threshold label is multiplied by this (at most audit steps, when audits are on); "
        "one above target_error brings it back to min_gap; 1: always min_gap", ge=1)] = 2.0
    seed: Annotated[int, Field(ge=0, strict=True, description=(
        "seed of the members' perturbations and of their batches"))] = 0

    @field_validator("threshold", mode="before")
    @classmethod
    def _threshold(cls, value: Any) -> Any:
        """``auto`` or a number > 0 (a number may come as text, from the command line)."""
        number = value
        if isinstance(value, str) and value.strip().lower() != "auto":
            try:
                number = float(value)
            except ValueError:
                number = None
        elif isinstance(value, str):
            return "auto"
        if isinstance(number, bool) or not isinstance(number, (int, float)) or not 0 < number < float("inf"):
            raise PydanticCustomError("md_setting", "{message}", {
                "message": f"threshold must be auto or a number > 0 (eV/Å), got {value!r}"})
        return float(number)


def _must_be(schema: type[BaseModel], name: str, value: Any) -> str | None:
    """'timestep must be a number > 0 and ≤ 5 (fs), got 20' (None for a field that is no number, flag or choice)."""
    info = schema.model_fields[name]
    choices = get_args(info.annotation) if get_origin(info.annotation) is Literal else ()
    optional = type(None) in get_args(info.annotation)
    if choices:
        kind = "one of " + ", ".join(choices)
    elif info.annotation is bool:
        kind = "true or false"
    elif info.annotation in (int, float, Optional[float]):
        kind = ("an integer" if info.annotation is int else "a number") + _bounds(info.metadata)
    else:
        return None
    unit = (info.json_schema_extra or {}).get("unit")
    shown = f"{value:g}" if isinstance(value, float) and info.annotation is not int else repr(value)
    return f"{name} must be {kind}{f' ({unit})' if unit else ''}{' or none' if optional else ''}, got {shown}"


def _bounds(metadata: list) -> str:
    signs = {"gt": ">", "ge": "≥", "lt": "<", "le": "≤"}
    found = [f"{signs[k]} {getattr(m, k):g}" for m in metadata for k in signs if hasattr(m, k)]
    return (" " + " and ".join(found)) if found else ""


def describe_errors(err: ValidationError, known: list[str] | None = None) -> str:
    """A pydantic error as one line: each problem, named by its field, joined by '; '.

    ``known``: the valid field names, listed after an unknown one.
    """
    problems = []
    for e in err.errors():
        where = ".".join(str(x) for x in e["loc"]) or "settings"
        if e["type"] == "md_setting":
            problems.append(e["msg"])
        elif e["type"] == "missing":
            problems.append(f"{where} is required")
        elif e["type"] == "extra_forbidden":
            problems.append(f"unknown setting {where!r}" + (f"; known: {', '.join(known)}" if known else ""))
        elif e["type"] == "value_error":  # a validator's own sentence, without pydantic's "Value error, "
            problems.append(f"{where}: {e['ctx']['error']}" if e["loc"] else str(e["ctx"]["error"]))
        else:
            problems.append(f"{where}: {e['msg']}")
    return "; ".join(problems)
