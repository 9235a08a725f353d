"""Hyperparameter search with DeepHyper (``mlcalc tune``): CBO or random search over a training config.

Each trial trains the config with the trial's values (dotted keys, see
:mod:`.tune_config`) into ``out_dir/trials/<job>/`` and returns minus its validation MAE
(DeepHyper maximises). A trial that raises or ends with a non-finite MAE is recorded as
failed (objective ``F_error`` / ``F_nan``, the message in ``m:error``) and the search goes
on. Results are DeepHyper's ``out_dir/results.csv``, written after every finished trial;
``resume=True`` reloads it (DeepHyper's ``checkpoint_restart``), so finished trials are
neither lost nor repeated (the resumed search draws from a new random state) and the
search runs to ``max_evals`` trials in all. :func:`retrain_best` trains the best trial's
configuration to a ``.mlc``.
"""

from __future__ import annotations

import csv
import json
import logging
import math
import os
import time
from pathlib import Path
from typing import Any, Callable

from .config import TrainConfig, load_config
from .tune_config import ParamRange, TuneConfig

__all__ = ["run_search", "check_space", "evaluator_kwargs", "run_trial", "read_results", "best_trial", "retrain_best", "trial_config", "hp_problem"]

RESULTS = "results.csv"


def hp_problem(space: dict) -> Any:
    """A DeepHyper ``HpProblem`` of ``space`` (name -> :class:`ParamRange` / :class:`ParamChoices`)."""
    from deephyper.hpo import HpProblem

    problem = HpProblem()
    for name, spec in space.items():
        if isinstance(spec, ParamRange):
            low, high = (int(spec.low), int(spec.high)) if spec.integer else (float(spec.low), float(spec.high))
            problem.add_hyperparameter((low, high, "log-uniform") if spec.log else (low, high), name)
        else:
            problem.add_hyperparameter(list(spec.choices), name)
    return problem


def _plain(value: Any) -> Any:
    """A numpy scalar from DeepHyper as the Python value (YAML/JSON-ready)."""
    return value.item() if hasattr(value, "item") else value


def trial_config(base: dict[str, Any], values: dict[str, Any], out_dir: Path, name: str,
                 trial_minutes: float | None = None) -> TrainConfig:
    """The training config ``base`` (validated JSON) with ``values`` (dotted keys) set, into ``out_dir``."""
    raw = json.loads(json.dumps(base))
    for dotted, value in values.items():
        node = raw
        *parents, leaf = dotted.split(".")
        for key in parents:
            node = node.setdefault(key, {})
        node[leaf] = _plain(value)
    raw.update(out_dir=str(out_dir), name=name, progress=False)
    if trial_minutes is not None:
        raw.setdefault("optim", {})["max_minutes"] = trial_minutes
    return TrainConfig.model_validate(raw)


def check_space(base: dict[str, Any], space: dict, train: str | os.PathLike) -> None:
    """ValueError naming the first key of ``space`` that the training config ``base`` (validated JSON,
    read from ``train``) does not have, or one of whose values (range ends, choices) it refuses."""
    from pydantic import ValidationError

    from mlcalc.model.registry import accepts_hyperparameter, hyperparameter_names, model_class

    config = TrainConfig.model_validate(base)
    for key, spec in space.items():
        *parents, leaf = key.split(".")
        if parents == ["model", "hyperparameters"]:
            if not accepts_hyperparameter(config.model.kind, leaf):
                known = hyperparameter_names(model_class(config.model.kind))
                raise ValueError(f"space: {key} is not a hyperparameter of {config.model.kind!r} (training config "
                                 f"{train}); valid: {', '.join(known)}")
            continue
        parent = config
        for name in parents:
            parent = getattr(parent, name, None)
        fields = list(type(parent).model_fields) if hasattr(type(parent), "model_fields") else []
        if leaf not in fields or key in ("name", "out_dir"):
            where = ".".join(parents) or "the top level"
            valid = ", ".join(f"{'.'.join([*parents, f])}" for f in fields if f not in ("name", "out_dir"))
            raise ValueError(f"space: {key} is not a setting the search can vary in the training config {train}"
                             + (f"; valid keys of {where}: {valid}" if valid else ""))
        for value in ([spec.low, spec.high] if isinstance(spec, ParamRange) else list(spec.choices)):
            try:
                trial_config(base, {key: value}, Path(base["out_dir"]), base["name"])
            except ValidationError as err:
                problem = err.errors()[0]
                raise ValueError(f"space: {key} = {value!r} is refused by the training config {train}: "
                                 f"{problem['msg']}") from None


def _objective_key(config: TrainConfig, objective: str | None) -> str:
    if objective:
        return objective
    if config.data.source == "qm9":
        from mlcalc.data.qm9 import QM9_UNITS

        from .property_data import metric_key

        target = config.data.targets[0]
        return metric_key(target, QM9_UNITS[target][0], "mae")
    return "forces_mae_meV_per_A"


def run_trial(job: Any, base: dict[str, Any], out_dir: str, objective: str | None = None,
              trial_minutes: float | None = None, wandb: dict[str, Any] | None = None) -> dict[str, Any]:
    """One trial (a DeepHyper run function): train with ``job.parameters``; objective = -validation MAE.

    Never raises: a failure is returned as DeepHyper's failed objective with the message.
    """
    number = str(job.id).split(".")[-1]
    start = time.perf_counter()
    try:
        import torch

        torch.set_num_threads(int(os.environ.get("OMP_NUM_THREADS", "1") or 1))
        for name in ("lightning.pytorch", "lightning.fabric"):  # one line per trial, not Lightning's banner
            logging.getLogger(name).setLevel(logging.WARNING)
        from .train import train

        cfg = trial_config(base, dict(job.parameters), Path(out_dir) / "trials" / number,
                           f"{base['name']}-trial{number}", trial_minutes)
        key = _objective_key(cfg, objective)
        result = train(cfg, wandb=dict(wandb, name=f"trial-{number}") if wandb else None)
        val = result.metrics["val"].get(key)
        if val is None:
            raise ValueError(f"objective {key!r} is not a validation metric; known: {', '.join(result.metrics['val'])}")
        metadata = {"val_mae": val, "test_mae": result.metrics["test"].get(key), "epochs": result.metrics["epochs"],
                    "trial_wall_time_s": round(time.perf_counter() - start, 1), "model": str(result.model_path)}
        if not math.isfinite(val):
            print(f"trial {number} failed: validation {key} is {val}", flush=True)
            return {"objective": "F_nan", "metadata": {**metadata, "error": f"validation {key} is {val}"}}
        print(f"trial {number}: validation {key} {val:.5g} ({metadata['trial_wall_time_s']:.0f} s)", flush=True)
        return {"objective": -float(val), "metadata": metadata}
    except Exception as err:  # a failed trial must not stop the search
        message = f"{type(err).__name__}: {err}".splitlines()[0][:300]
        print(f"trial {number} failed: {message}", flush=True)
        return {"objective": "F_error", "metadata": {"error": message,
                                                     "trial_wall_time_s": round(time.perf_counter() - start, 1)}}


def read_results(path: str | os.PathLike) -> list[dict[str, str]]:
    """The rows of a DeepHyper results CSV (``out_dir/results.csv`` or the file itself)."""
    path = Path(path)
    path = path / RESULTS if path.is_dir() else path
    if not path.exists():
        raise FileNotFoundError(f"no search results at {path}")
    with open(path, newline="") as fh:
        return list(csv.DictReader(fh))


def _loss(row: dict[str, str]) -> float | None:
    """Validation MAE of a finished trial (minus its objective); None for a failed one."""
    try:
        value = -float(row["objective"])
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def best_trial(rows: list[dict[str, str]]) -> tuple[dict[str, Any], float]:
    """``(parameters, validation MAE)`` of the best finished trial."""
    scored = [(loss, row) for row in rows if (loss := _loss(row)) is not None]
    if not scored:
        errors = [row.get("m:error") for row in rows if row.get("m:error")]
        raise ValueError("no trial of the search finished successfully"
                         + (f" ({len(rows)} failed; the first: {errors[0]})" if errors else ""))
    loss, row = min(scored, key=lambda item: item[0])
    return {k[2:]: _parse(v) for k, v in row.items() if k.startswith("p:")}, loss


def _parse(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


def run_search(config: TuneConfig, resume: bool = False, wandb: dict[str, Any] | None = None,
               echo: Callable[[str], None] = print) -> Path:
    """Run (or with ``resume`` continue) the search of ``config``; returns the results CSV path."""
    from deephyper.evaluator import Evaluator
    from deephyper.hpo import CBO

    base = load_config(config.train, config.overrides)
    check_space(json.loads(base.model_dump_json()), config.search_space, config.train)
    out = Path(config.out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    results = out / RESULTS
    settings = json.loads(config.model_dump_json())
    saved = out / "tune.json"
    if results.exists() and not resume:
        raise ValueError(f"{results} exists: continue that search with --resume, or choose another out_dir")
    if resume and saved.exists():
        before = json.loads(saved.read_text())
        changed = [k for k in ("train", "overrides", "space", "method", "seed", "objective")
                   if before.get(k) != settings.get(k)]
        if changed:
            raise ValueError(f"cannot resume the search in {out}: {', '.join(changed)} changed")
    saved.write_text(json.dumps(settings, indent=1))
    done = len(read_results(results)) if resume and results.exists() else 0
    if done >= config.max_evals:
        echo(f"the search in {out} has its {done} trials already")
        return results

    kwargs = {"base": json.loads(base.model_dump_json()), "out_dir": str(out), "objective": config.objective,
              "trial_minutes": config.trial_minutes, "wandb": wandb}
    evaluator = Evaluator.create(run_trial, method=config.evaluator, method_kwargs=evaluator_kwargs(config, kwargs))
    # a resumed search draws from a new random state, so it does not propose the finished trials again
    common = dict(random_state=config.seed + done, log_dir=str(out), checkpoint_restart=done > 0)
    if config.method == "cbo":
        search = CBO(hp_problem(config.search_space), surrogate_model="RF", acq_func="UCB",
                     acq_func_kwargs={"kappa": config.kappa}, n_initial_points=config.initial_points, **common)
    else:  # random search through the same machinery: CBO with the dummy (random) surrogate
        search = CBO(hp_problem(config.search_space), surrogate_model="DUMMY", **common)
    echo(f"{config.method} search of {config.train}: {config.max_evals - done} trials to go "
         f"({done} done), {config.workers} worker(s), results in {results}")
    # strict: exactly max_evals trials in all (DeepHyper counts the reloaded ones)
    if config.evaluator == "mpicomm":  # rank 0 searches, the other MPI ranks serve trials (untested here: no MPI)
        with evaluator:
            if evaluator.is_master:
                search.search(evaluator, max_evals=config.max_evals, max_evals_strict=True)
    else:
        try:
            search.search(evaluator, max_evals=config.max_evals, max_evals_strict=True)
        finally:
            if config.evaluator == "ray" and config.ray_address is None:  # the Ray this search started
                import ray

                ray.shutdown()
    return results


#: the package each cluster evaluator needs, and how to get it
_EVALUATOR_PACKAGES = {"ray": ("ray", "pip install 'mlcalc[cluster]'"),
                       "mpicomm": ("mpi4py", "pip install mpi4py (and an MPI library, e.g. apt install openmpi-bin)")}


def evaluator_kwargs(config: TuneConfig, run_kwargs: dict[str, Any]) -> dict[str, Any]:
    """DeepHyper's ``method_kwargs`` for ``config.evaluator``; a one-line ImportError if its package is missing."""
    import importlib.util

    if config.evaluator in _EVALUATOR_PACKAGES:
        package, how = _EVALUATOR_PACKAGES[config.evaluator]
        if importlib.util.find_spec(package) is None:
            raise ImportError(f"evaluator {config.evaluator!r} needs the {package} package, which is not installed: "
                              f"{how}; or use evaluator process")
    kwargs = {"num_workers": config.workers, "run_function_kwargs": run_kwargs}
    if config.evaluator == "ray":
        kwargs.update(address=config.ray_address, num_cpus_per_task=config.cpus_per_trial, include_dashboard=False)
        if config.ray_address is None:  # a local Ray with room for the workers
            kwargs["num_cpus"] = max(1, math.ceil(config.workers * config.cpus_per_trial))
    return kwargs


def retrain_best(config: TuneConfig, epochs: int | None = None):
    """Train the best trial's configuration into ``out_dir/best/`` and export it; returns the TrainResult."""
    from .train import train

    values, loss = best_trial(read_results(Path(config.out_dir)))
    if epochs is not None:
        values["optim.epochs"] = epochs
    base = load_config(config.train, config.overrides)
    cfg = trial_config(json.loads(base.model_dump_json()), values, Path(config.out_dir) / "best",
                       f"{base.name}-best")
    return train(cfg)
