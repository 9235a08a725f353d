"""What ``mlcalc info`` and ``mlcalc models`` say about how a model was made and how good it is.

:func:`recipe` is the command that made a model file, from the records of its manifest: ``foundation``
(``mlcalc import``), ``finetune`` (``mlcalc finetune``) or ``training`` (``mlcalc train``: the config in
``configs/`` whose validated form matches the recorded one in ``model`` and ``data``, plus ``--set`` for each
other value that differs; a checkout's ``configs/`` only; ``data.generate`` is not compared). :func:`headline_metric` is the one test error a listing shows.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

__all__ = ["CONFIGS", "recipe", "headline_metric", "matching_config"]

#: the repository's training configs (present in a checkout or an editable install, not in a wheel)
CONFIGS = Path(__file__).resolve().parents[2] / "configs"
#: training keys that name or place a run but do not change the model, and how the data file is made when it
#: is missing (its units changed once; the manifest's data sha256 says which frames were used)
_IGNORED = ("name", "out_dir", "progress", "data.generate.")


def headline_metric(manifest: dict[str, Any]) -> str:
    """The model's headline test error: force MAE for an energy model, each target's MAE for a property model
    (``homo MAE 0.0641 eV``), with the size of the test set; "" when the manifest has no test metrics."""
    test = (manifest.get("metrics") or {}).get("test") or {}
    count = test.get("frames", test.get("structures"))
    size = f" ({count} test {'frames' if 'frames' in test else 'structures'})" if count is not None else ""
    if "forces_mae_meV_per_A" in test:
        return f"force MAE {test['forces_mae_meV_per_A']:.1f} meV/Å{size}"
    parts = []
    for target, prop in (manifest.get("properties") or {}).items():
        key = next((k for k in test if k.startswith(f"{target}_mae_")), None)
        if key is not None and isinstance(test[key], (int, float)):
            parts.append(f"{target} MAE {test[key]:.3g} {prop.get('unit', '')}".rstrip())
    return ", ".join(parts) + size if parts else ""


def recipe(manifest: dict[str, Any], configs: Optional[Path] = CONFIGS) -> Optional[str]:
    """The command that made the model (see the module docstring); None if the manifest records none."""
    if manifest.get("foundation"):
        record = manifest["foundation"]
        return f"mlcalc import {record.get('package')}:{record.get('checkpoint')} --out FILE.mlc"
    if manifest.get("finetune"):
        record = manifest["finetune"]
        settings, parent = record.get("settings", {}), record.get("parent", {})
        return (f"mlcalc finetune {parent.get('name') or parent.get('path')} FRAMES --k {record['frames']['count']} "
                f"--steps {settings.get('steps')} --lr {settings.get('lr')} --batch-size {settings.get('batch_size')} "
                f"--seed {settings.get('seed')} --out DIR" + (" --scratch" if record.get("mode") == "scratch" else "")
                + f"   (FRAMES: {record['frames'].get('source') or 'the frames'}, sha256 "
                f"{str(record['frames'].get('sha256'))[:12]}…)")
    training = manifest.get("training")
    if not training:
        return None
    match = matching_config(training, configs) if configs is not None and configs.is_dir() else None
    if match is None:
        return ("mlcalc train CONFIG, with the training config recorded in this file "
                "(mlcalc info MODEL --json: key training)")
    path, differences = match
    shown = path.relative_to(configs.parent) if configs.parent in path.parents else path
    return " ".join([f"mlcalc train {shown}"] + [f"--set {key}={_yaml_value(value)}"
                                                   for key, value in differences.items()])


def matching_config(training: dict[str, Any], configs: Path) -> Optional[tuple[Path, dict[str, Any]]]:
    """The config of ``configs/*.yaml`` with the recorded ``model`` and ``data`` that differs from ``training``
    in the fewest values, and those values (dotted key -> recorded value); None if no config has them."""
    import yaml

    from mlcalc.potentials.training.config import TrainConfig
    from mlcalc.yaml_config import dotted_leaves

    recorded = dotted_leaves(training)
    best = None
    for path in sorted(configs.glob("*.yaml")):
        raw = yaml.safe_load(path.read_text())
        if not isinstance(raw, dict) or "data" not in raw or ("model" not in raw and "init_from" not in raw):
            continue
        try:
            validated = dotted_leaves(TrainConfig.model_validate(raw).model_dump(mode="json"))
        except ValueError:  # a config this installation cannot validate (a missing folder, an unknown kind)
            continue
        common = [k for k in recorded if k in validated and not k.startswith(_IGNORED)]
        if any(recorded[k] != validated[k] for k in common if k.startswith(("model.", "data."))):
            continue
        differences = {k: recorded[k] for k in common if recorded[k] != validated[k]}
        rank = (len(differences), raw.get("name") != training.get("name"))
        if best is None or rank < best[0]:
            best = (rank, path, differences)
    return None if best is None else (best[1], best[2])


def _yaml_value(value: Any) -> str:
    import yaml

    return yaml.safe_dump(value, default_flow_style=True).strip().removesuffix("...").strip()
