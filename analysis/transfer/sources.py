"""Several source models in one transfer study, side by side (``source_models``).

The study runs once per model, each in ``out_dir/sources/<model>/`` (a complete study with
its own report), and every one of them shares the reference runs and fine-tuning frames in
``out_dir/reference/``: the reference MD, the expensive part, is made once. Then
``out_dir/sources.json``, ``sources.md`` and ``sources.html`` put, per molecule and per model,
the force error, the energy error (with and without its constant offset), stability, h(r),
the NVE verdicts and the fine-tuning curve next to each other.
"""

from __future__ import annotations

import html
import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable

from .config import SourceConfig, TransferConfig
from .report import _yes_no
from .results import TransferResults

__all__ = ["SourceComparison", "run_source_comparison", "source_rows", "source_folder"]


@dataclass
class SourceComparison:
    """Per molecule (label) the row of each source model (:func:`source_rows`), and each model's study folder."""

    name: str
    models: list[str]
    folders: dict[str, str]
    molecules: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    finetune: dict[str, list[dict[str, Any]]] = field(default_factory=dict)
    wall_time_s: float = 0.0

    def write(self, path: Path) -> None:
        path.write_text(json.dumps(asdict(self), indent=1, default=float))

    @classmethod
    def read(cls, path: Path) -> "SourceComparison":
        return cls(**json.loads(Path(path).read_text()))


def source_folder(out_dir: Path, model: str) -> Path:
    """``out_dir/sources/<model>``: a model file's stem or a shipped name."""
    stem = Path(model).stem if Path(model).suffix == ".mlc" else model
    return Path(out_dir) / "sources" / "".join(c if c.isalnum() or c in "-_." else "_" for c in stem)


def run_source_comparison(config: TransferConfig, echo: Callable[[str], None] = print, progress: bool = True,
                          overwrite: bool = False) -> SourceComparison:
    """Run the study of ``config`` once per model of ``config.source_models`` and compare them.

    ``out_dir`` is locked meanwhile. ``overwrite`` clears each model's study and, once before the first model
    runs, what the models share: ``out_dir/reference/`` (a ``reference_dir`` given in the config is kept: it may
    serve other studies) and the comparison's files.
    """
    from mlcalc.locks import FolderLock

    out = Path(config.out_dir)
    folders = {m: source_folder(out, m) for m in config.source_models}
    if len(set(folders.values())) != len(folders):
        raise ValueError(f"source_models {config.source_models} share a folder name: give files with distinct names")
    with FolderLock(out, "transfer study"):
        if overwrite:
            _clear_shared(out, config.reference_dir is None)
        return _compare_sources(config, out, folders, echo, progress, overwrite)


_COMPARISON_FILES = ("sources.json", "sources.md", "sources.html")


def _clear_shared(out: Path, reference: bool) -> None:
    """Delete the comparison's files in ``out`` and, if ``reference``, the shared reference runs ``out/reference``."""
    import shutil

    if reference and (out / "reference").is_dir():
        shutil.rmtree(out / "reference")
    for name in _COMPARISON_FILES:
        (out / name).unlink(missing_ok=True)


def _compare_sources(config: TransferConfig, out: Path, folders: dict[str, Path], echo: Callable[[str], None],
                     progress: bool, overwrite: bool) -> SourceComparison:
    from .study import run_transfer

    start = time.perf_counter()
    results: dict[str, TransferResults] = {}
    for k, model in enumerate(config.source_models, 1):
        echo(f"source model {k} of {len(folders)}: {model} -> {folders[model]}")
        single = config.model_copy(update={
            "source": SourceConfig(molecule=config.source.molecule, model=model), "source_models": [],
            "out_dir": folders[model], "reference_dir": config.reference_dir or out / "reference"})
        results[model] = run_transfer(single, echo=echo, progress=progress, overwrite=overwrite)
    comparison = SourceComparison(name=config.name, models=list(config.source_models),
                                  folders={m: str(f.relative_to(out)) for m, f in folders.items()})
    for label in results[config.source_models[0]].molecules:
        comparison.molecules[label] = [source_rows(model, results[model], label) for model in config.source_models]
        if config.finetune or config.learn:
            comparison.finetune[label] = [{**row, "source": model} for model in config.source_models
                                          for row in (results[model].finetune or {}).get(label, [])]
    comparison.wall_time_s = round(time.perf_counter() - start, 1)
    comparison.write(out / "sources.json")
    write_source_report(comparison, out)
    return comparison


def source_rows(model: str, results: TransferResults, label: str) -> dict[str, Any]:
    """One model's numbers on one molecule: errors on the reference frames, stability, h(r), NVE."""
    molecule = results.molecules[label]
    errors = molecule.model_errors or {}
    summary = (molecule.metrics.get("model") or {}).get("summary", {})
    verdicts = [row for row in results.energy_conservation
                if row["molecule"] == label and row["run"].split("-r")[0] == "model"]
    return {"model": model, "kind": results.model.kind, "role": molecule.role,
            "forces_mae_meV_per_A": errors.get("forces_mae_meV_per_A"),
            "energy_mae_meV": errors.get("energy_mae_meV"),
            "energy_mae_offset_removed_meV_per_atom": errors.get("energy_mae_offset_removed_meV_per_atom"),
            "stable_ps": (summary.get("stable_ps") or {}).get("mean"),
            "h_mae": (summary.get("h_mae") or {}).get("mean"),
            "broke": summary.get("broke"), "runs": summary.get("runs"),
            "nve_conserved": sum(bool(r["conserved"]) and r["status"] == "completed" for r in verdicts),
            "nve_runs": len(verdicts)}


_COLUMNS = (("model", "model", "{}"), ("forces_mae_meV_per_A", "force MAE (meV/Å)", "{:.1f}"),
            ("energy_mae_meV", "energy MAE (meV)", "{:.0f}"),
            ("energy_mae_offset_removed_meV_per_atom", "energy MAE, offset removed (meV/atom)", "{:.2f}"),
            ("stable_ps", "stable (ps, mean)", "{:.2f}"), ("broke", "runs that broke a bond", "{}"),
            ("h_mae", "h(r) MAE", "{:.4f}"), ("nve_conserved", "NVE criterion met", "{}"))


#: the fine-tuning curve's columns (key, header, format): each row is a model made from a source with k frames
_CURVE_COLUMNS = (("source", "source", "{}"), ("k", "k (frames; on-the-fly: reference calls)", "{}"),
                  ("kind", "kind", "{}"), ("forces_mae_meV_per_A", "force MAE (meV/Å)", "{:.1f}"),
                  ("stable_ps", "stable (ps, mean)", "{:.2f}"), ("broke", "runs that broke a bond", "{}"),
                  ("h_mae", "h(r) MAE", "{:.4f}"), ("h_beyond_noise", "h(r) beyond noise", "{}"))


def _cell(row: dict, key: str, form: str) -> str:
    value = row.get(key)
    if key == "h_beyond_noise":  # the verdict of a row with two or more runs (– with one)
        return _yes_no(row.get("beyond_noise", {}).get("h_mae", {}).get("exceeds"))
    if isinstance(value, dict):  # a statistic over runs (the fine-tuning curve's rows): its mean
        value = value.get("mean")
    if value is None:
        return "–"
    if key == "broke":
        return f"{value} of {row.get('runs')}"
    if key == "nve_conserved":
        return f"{value} of {row.get('nve_runs')}"
    return form.format(value)


def _tables(rows: list[dict], columns: tuple) -> tuple[list[str], str]:
    """``rows`` under ``columns`` ((key, header, format), ...) as Markdown lines and as one HTML table."""
    markdown = ["| " + " | ".join(h for _, h, _ in columns) + " |", "|" + "---|" * len(columns)]
    markdown += ["| " + " | ".join(_cell(r, k, f) for k, _, f in columns) + " |" for r in rows]
    table = ("<table><tr>" + "".join(f"<th>{html.escape(h)}</th>" for _, h, _ in columns) + "</tr>"
             + "".join("<tr>" + "".join(f"<td>{html.escape(_cell(r, k, f))}</td>" for k, _, f in columns) + "</tr>"
                       for r in rows) + "</table>")
    return markdown, table


def write_source_report(comparison: SourceComparison, out: Path) -> None:
    """``sources.md`` and ``sources.html``: one table per molecule, one row per model, links to each study.
    A model is named by its study's folder (a file's stem), not the path it was given."""
    short = {m: Path(f).name for m, f in comparison.folders.items()}
    lines = [f"# {comparison.name}: source models side by side", "",
             "Each model's own study (figures, distributions, runs): "
             + ", ".join(f"[{short[m]}]({f}/report.md)" for m, f in comparison.folders.items()), ""]
    parts = [f"<h1>{html.escape(comparison.name)}: source models side by side</h1><p>Each model's own study: "
             + ", ".join(f'<a href="{html.escape(f)}/report.html">{html.escape(short[m])}</a>'
                         for m, f in comparison.folders.items()) + "</p>"]
    for label, rows in comparison.molecules.items():
        role = rows[0]["role"] if rows else ""
        markdown, table = _tables([{**r, "model": short.get(r["model"], r["model"])} for r in rows], _COLUMNS)
        lines += [f"## {label} ({role})", "", *markdown]
        parts.append(f"<h2>{html.escape(label)} ({html.escape(role)})</h2>{table}")
        curve = comparison.finetune.get(label)
        if curve:
            curve = [{**r, "source": short.get(r["source"], r["source"])} for r in curve]
            markdown, table = _tables(curve, _CURVE_COLUMNS)
            lines += ["", "Fine-tuning curve and learning on the fly:", "", *markdown]
            parts.append(f"<h3>Fine-tuning curve and learning on the fly</h3>{table}")
        lines.append("")
    lines.append(f"Wall time {comparison.wall_time_s:.0f} s.")
    (out / "sources.md").write_text("\n".join(lines) + "\n")
    style = "<style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}td,th{border:1px solid #aaa;" \
            "padding:3px 8px;text-align:right}td:first-child{text-align:left}</style>"
    (out / "sources.html").write_text(f"<!doctype html><html><head><meta charset='utf-8'><title>"
                                      f"{html.escape(comparison.name)}</title>{style}</head><body>"
                                      + "".join(parts) + f"<p>Wall time {comparison.wall_time_s:.0f} s.</p></body></html>")
