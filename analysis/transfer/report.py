"""The transfer-study report: the same tables and figures as Markdown (report.md) and HTML (report.html).

Read from the study's :class:`~.results.TransferResults` (``TransferResults.read(folder)`` for a finished one)."""

from __future__ import annotations

import html
from pathlib import Path
from typing import Any

from .results import TransferResults, nve_counts, nve_verdict

__all__ = ["write_report", "report_tables", "nve_console_lines"]


def _f(value, fmt: str) -> str:
    return "–" if value is None else format(value, fmt)


def report_tables(results: TransferResults) -> list[tuple[str, list[str], list[list[str]], str]]:
    """The report's tables as (title, header, rows, note)."""
    tables = []
    has_ref = bool(results.config.get("reference"))
    rows = []
    for molecule, entry in results.molecules.items():
        model, ref = entry.md.get("model", []), entry.md.get("reference", [])
        errors = entry.model_errors or {}
        rows.append([molecule, entry.role, entry.formula,
                     _f(errors.get("forces_mae_meV_per_A"), ".1f"),
                     _f(errors.get("energy_mae_offset_removed_meV_per_atom"), ".2f"),
                     _f(errors.get("energy_offset_meV"), ".0f"),
                     _statuses(model),
                     _f(_mean(model, "drift_meV_per_atom_per_ps"), "+.3f"),
                     _f(_mean(ref, "drift_meV_per_atom_per_ps"), "+.3f"),
                     _f(_mean(model, "kinetic_std_meV_per_atom"), ".2f"),
                     _f(_mean(model, "ms_per_step"), ".2f"), _f(_mean(ref, "ms_per_step"), ".2f")])
    tables.append((
        "Per molecule",
        ["molecule", "role", "formula", "force MAE (meV/Å)", "energy MAE, offset removed (meV/atom)",
         "energy offset (meV)", "model MD", "NVE drift model (meV/atom/ps)", "NVE drift reference (meV/atom/ps)",
         "Ekin std model (meV/atom)", "ms/step model", "ms/step reference"],
        rows,
        (f"Model errors on {results.config['error_frames']} frames of each molecule's reference MD. "
         "The energy offset is the mean model − reference energy (a constant shift; it does not change forces "
         "or MD).") if has_ref else "No reference runs in this study."))

    if any(entry.metrics for entry in results.molecules.values()):
        tables.append(_stability_table(results))
    if results.energy_conservation:
        tables.append(_conservation_table(results.energy_conservation))
    starts = _starts_table(results)
    if starts:
        tables.append(starts)
    if results.uncertainty:
        title, header, rows, note = _uncertainty_table(results.uncertainty, results.config["error_frames"])
        if results.uncertainty_model:
            note = (f"The ensemble {Path(results.uncertainty_model).name} (not the study's model): its uncertainty "
                    "against its own force error. " + note)
        tables.append((title, header, rows, note))
    for target, rows in (results.finetune or {}).items():
        tables.append(_finetune_table(target, rows))
    comparisons = results.comparisons
    if comparisons.get("model_vs_reference"):
        rows = []
        for molecule, sels in comparisons["model_vs_reference"].items():
            for name, c in sels.items():
                unit = results.molecules[molecule].distributions["model"][name].unit
                noise = (results.molecules[molecule].means_beyond_noise or {}).get("model", {}).get(name, {})
                rows.append([molecule, name, f"{c['mean_b']:.3f} ± {c['std_b']:.3f} {unit}",
                             f"{c['mean_a']:.3f} ± {c['std_a']:.3f} {unit}", f"{c['mean_diff']:+.4f}",
                             _f(noise.get("noise"), ".4f"), _yes_no(noise.get("exceeds")),
                             f"{c['wasserstein']:.4f}", f"{c['jensen_shannon']:.3f}"])
        tables.append(("Model vs reference, per bond/angle",
                       ["molecule", "selection", "model mean ± std", "reference mean ± std", "Δmean (model − ref)",
                        "replica noise", "beyond noise", "W1", "JS divergence"], rows,
                       "Replicas pooled. Replica noise: 2·√(sem_model² + sem_reference²) of the replicas' means; "
                       "'beyond noise': |Δmean| exceeds it (– with one replica). W1: Wasserstein-1 distance (in the "
                       "selection's unit); JS: Jensen-Shannon divergence, base 2 (0 identical, 1 disjoint), on "
                       "common bins."))
    for calc_name, per_target in comparisons.get("source_vs_target", {}).items():
        rows = []
        for molecule, sels in per_target.items():
            for name, c in sels.items():
                rows.append([molecule, name, f"{c['mean_a']:.3f} ± {c['std_a']:.3f}",
                             f"{c['mean_b']:.3f} ± {c['std_b']:.3f}", f"{c['mean_diff']:+.4f}",
                             f"{c['wasserstein']:.4f}", f"{c['jensen_shannon']:.3f}"])
        tables.append((f"Source ({results.source}) vs target, {calc_name} MD",
                       ["target", "selection", "source mean ± std", "target mean ± std", "Δmean", "W1", "JS divergence"],
                       rows, "The paper's comparison: how a bond or angle shifts from the source molecule to a target."))
    missing = {m: s for m, s in results.missing_selections.items() if s}
    if missing:
        tables.append(("Selections absent from a molecule", ["molecule", "selections"],
                       [[m, ", ".join(s)] for m, s in missing.items()], ""))
    return tables


def _yes_no(value) -> str:
    return "–" if value is None else ("yes" if value else "no")


def _stats(stats: dict | None, fmt: str) -> str:
    """'mean ± std' of replica statistics (just the mean for one replica; – for none)."""
    if not stats or stats.get("mean") is None:
        return "–"
    return format(stats["mean"], fmt) + ("" if stats.get("std") is None else " ± " + format(stats["std"], fmt))


def _stability_table(results: TransferResults) -> tuple[str, list[str], list[list[str]], str]:
    rows = []
    for molecule, entry in results.molecules.items():
        metrics = entry.metrics
        for run in ("model", "model-unoptimised", "reference"):
            if run not in metrics:
                continue
            summary, noise = metrics[run]["summary"], metrics[run].get("beyond_noise", {})
            rows.append([molecule, run if run != "reference" else "reference (vs other replicas)",
                         f"{summary['broke']}/{summary['runs']}", _stats(summary["stable_ps"], ".2f"),
                         _stats(summary["h_mae"], ".3f"), _yes_no(noise.get("h_mae", {}).get("exceeds")),
                         _stats(summary["spectrum_w1_cm1"], ".0f"),
                         _yes_no(noise.get("spectrum_w1_cm1", {}).get("exceeds"))])
    return ("Stability and structure (Fu et al. 2023), mean ± std over replicas",
            ["molecule", "runs", "a bond broke", "stable for (ps)", "h(r) MAE", "h(r) beyond noise",
             "spectrum W1 (cm⁻¹)", "spectrum beyond noise"], rows,
            "Stable for: time until any bond (ASE natural cutoffs on the molecule as given) leaves its mean length in "
            "the reference runs by more than 0.5 Å (the run's length if none does). h(r): histogram of all "
            "interatomic distances (500 bins, 0-10 Å); MAE = ∫|h − h_ref| dr against the reference runs pooled (0 "
            "identical, 2 disjoint). Spectrum: Fourier transform of the mass-weighted velocity autocorrelation; W1 "
            "distance to the reference's in cm⁻¹. Reference rows score each reference replica against the others: "
            "the noise a model run is measured against ('beyond noise': the model's mean exceeds the reference's by "
            "more than 2·√(sem² + sem²)).")


def _verdict(row: dict) -> str:
    return row.get("nve") or nve_verdict(row["conserved"], row["status"])


def _conservation_title(rows_in: list[dict]) -> str:
    """'Runs that do not pass the NVE energy criterion (3 of 11: 1 fails it, 2 blew up or stopped early)'."""
    counts = nve_counts(rows_in)
    unfinished = counts["blew up"] + counts["stopped early"]
    not_passed = len(rows_in) - counts["passed"]
    return (f"Runs that do not pass the NVE energy criterion ({not_passed} of {len(rows_in)}: "
            f"{counts['failed']} completed and failed it, {unfinished} blew up or stopped early)")


def _conservation_table(rows_in: list[dict]) -> tuple[str, list[str], list[list[str]], str]:
    failing = [r for r in rows_in if _verdict(r) != "passed"]
    rows = [[r["molecule"], r["run"], _verdict(r), _f(r["change_over_run_eV"], "+.4f"), _f(r["ratio"], ".3f"),
             _f(r["span_ratio"], ".3f")] for r in failing]
    return (_conservation_title(rows_in),
            ["molecule", "run", "verdict", "drift × duration (eV)", "|drift × duration| / Ekin std",
             "total-energy span / Ekin std"], rows,
            "The criterion: the total energy's linear drift over the run stays below 5 % of the kinetic energy's "
            "standard deviation and its span below 20 %. A run passes only if it also completed: a run that blew "
            "up or stopped early has not passed, whatever its energy log until then says (its numbers here cover "
            "the steps it made). A run that fails the criterion without blowing up is not a trustworthy NVE "
            "trajectory either." + ("" if failing else " Every run passes."))


def nve_console_lines(rows_in: list[dict]) -> list[str]:
    """The NVE verdicts for the console: the report's title line, then one line per run that did not pass."""
    if not rows_in:
        return []
    title, header, rows, _ = _conservation_table(rows_in)
    if not rows:
        return [f"NVE energy criterion: all {len(rows_in)} runs pass"]
    widths = [max(len(str(x)) for x in column) for column in zip(header, *rows)]
    return [title] + ["  " + "  ".join(str(x).ljust(w) for x, w in zip(line, widths)).rstrip()
                      for line in [header, *rows]]


def _starts_table(results: TransferResults) -> tuple[str, list[str], list[list[str]], str] | None:
    rows = []
    for molecule, entry in results.molecules.items():
        for k, info in enumerate((entry.starts or {}).get("preoptimised") or []):
            rows.append([molecule, str(k), f"{info['energy_drop_eV']:.3f}", f"{info['rmsd_A']:.3f}",
                         str(info["steps"]), _yes_no(info["converged"])])
    if not rows:
        return None
    return ("Model starts relaxed on the model's own surface",
            ["molecule", "replica", "energy drop (eV)", "RMSD from the reference's start (Å)", "BFGS steps",
             "converged"], rows,
            "The model's runs ('model') start from these relaxed geometries; 'model-unoptimised' runs start where "
            "the reference does. A large energy drop means the model's surface is far from the reference's there: "
            "started unrelaxed, that energy heats the molecule.")


def _finetune_table(target: str, rows_in: list[dict]) -> tuple[str, list[str], list[list[str]], str]:
    rows = [[str(r["k"]), r["kind"], _f(r["forces_mae_meV_per_A"], ".1f"), f"{r['broke']}/{r['runs']}",
             _stats(r["stable_ps"], ".2f"), _stats(r["h_mae"], ".3f"),
             _yes_no(r.get("beyond_noise", {}).get("h_mae", {}).get("exceeds")), _f(r.get("mean_w1_bonds_A"), ".4f"),
             _f(r.get("mean_w1_angles_deg"), ".2f"), _f(r.get("train_wall_time_s"), ".0f")] for r in rows_in]
    steps = rows_in[0]["steps"] if rows_in else 0
    return (f"How much {target} data fixes transfer",
            ["k frames", "model", "force MAE (meV/Å)", "a bond broke", "stable for (ps)", "h(r) MAE",
             "h(r) beyond noise", "W1 bonds (Å)", "W1 angles (deg)", "training (s)"], rows,
            f"k GFN2-xTB frames of {target} from 500 K Langevin MD (not the scored frames); 'finetuned': the source "
            f"model trained further on them; 'scratch': the same kind of model trained on them alone; 'source': the "
            f"source model (k = 0); 'on-the-fly': the source model learning from the reference during its run of "
            f"{target} from the reference's starts (k: the reference calls it took, its replicas together; "
            f"training: its whole run). Each model's runs of {target}: {steps} steps per replica; 'h(r) beyond "
            "noise': as for the zero-shot runs (– with one run); W1: mean over the bonds and over the angles "
            "compared, against the reference runs pooled.")


def _mean(summaries: list[dict], key: str) -> float | None:
    """The mean of ``key`` over the replicas' run summaries that have it (None if none has)."""
    values = [s[key] for s in summaries if s.get(key) is not None]
    return sum(values) / len(values) if values else None


def _statuses(summaries: list[dict]) -> str:
    """'completed' or e.g. '2/3 completed, 1 blown up (1,200 steps)': the replicas' run statuses."""
    if not summaries:
        return "–"
    counts: dict[str, int] = {}
    for s in summaries:
        counts[s["status"]] = counts.get(s["status"], 0) + 1
    if len(summaries) == 1:
        return f"{summaries[0]['status']} ({summaries[0]['steps_done']} steps)"
    shortest = min(s["steps_done"] for s in summaries)
    return ", ".join(f"{n}/{len(summaries)} {status}" for status, n in counts.items()) + f" (≥ {shortest} steps)"


def _uncertainty_table(study: dict[str, Any], n_frames: int) -> tuple[str, list[str], list[list[str]], str]:
    """Ensemble uncertainty against the true force error on the reference frames (an ensemble source model)."""
    rows = []
    for group, s in study.items():
        rows.append([group, str(s["frames"]), _f(s["mean_uncertainty_eV_per_A"] * 1000, ".1f"),
                     _f(s["mean_force_error_eV_per_A"] * 1000, ".1f"), _f(s["frame"]["pearson"], ".2f"),
                     _f(s["frame"]["spearman"], ".2f"), _f(s["atom"]["pearson"], ".2f")])
    return ("Ensemble uncertainty against force error",
            ["frames of", "n", "mean uncertainty (meV/Å)", "mean force error (meV/Å)", "Pearson r (frame)",
             "Spearman ρ (frame)", "Pearson r (atom)"], rows,
            f"On the same {n_frames} reference frames per molecule. Uncertainty: mean over atoms of the norm of the "
            "force standard deviation across the ensemble's members; force error: mean over atoms of the norm of "
            "(mean prediction − reference force). 'all' pools every molecule's frames: a high r there means the "
            "uncertainty tells the molecules where the model fails to transfer apart.")


def _settings_line(results: TransferResults) -> str:
    md = results.config["md"]
    model = results.model
    test = model.test
    mae = f", test force MAE {test['forces_mae_meV_per_A']:.2f} meV/Å" if "forces_mae_meV_per_A" in test else ""
    return (f"Source: {results.source}; model {Path(model.path).name} ({model.kind}{mae}). "
            f"MD: {md['ensemble'].upper()}, {md['steps']} steps × {md['timestep']} fs "
            f"= {md['steps'] * md['timestep'] / 1000:g} ps from {md['temperature']:g} K (seed {md['seed']}, "
            f"{results.config['dtype']}); frames every {md['interval']} steps. "
            f"Reference: {results.config.get('reference')}. "
            f"Wall time {results.wall_time_s:.0f} s.")


def write_report(results: TransferResults, out: Path) -> tuple[Path, Path]:
    """Write ``report.md`` and ``report.html`` into ``out`` (figures referenced relatively)."""
    out = Path(out)
    tables = report_tables(results)
    title = f"Transfer study: {results.name}"
    lines = [f"# {title}", "", _settings_line(results), ""]
    for name, header, rows, note in tables:
        lines += [f"## {name}", "", "| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
        lines += ["| " + " | ".join(row) + " |" for row in rows]
        lines += ["", note, ""] if note else [""]
    lines += ["## Figures", ""]
    for name, rel in results.figures.items():
        lines += [f"### {name}", "", f"![{name}]({rel})", ""]
    md_path = out / "report.md"
    md_path.write_text("\n".join(lines))

    e = html.escape
    parts = [f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{e(title)}</title>",
             "<style>body{font-family:sans-serif;max-width:1200px;margin:2em auto}table{border-collapse:collapse;"
             "font-size:13px}td,th{border:1px solid #bbb;padding:3px 7px;text-align:right}"
             "th{background:#eee}img{max-width:100%}</style></head><body>",
             f"<h1>{e(title)}</h1><p>{e(_settings_line(results))}</p>"]
    for name, header, rows, note in tables:
        parts.append(f"<h2>{e(name)}</h2><table><tr>" + "".join(f"<th>{e(h)}</th>" for h in header) + "</tr>")
        parts += ["<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in rows]
        parts.append("</table>" + (f"<p>{e(note)}</p>" if note else ""))
    parts.append("<h2>Figures</h2>")
    for name, rel in results.figures.items():
        parts.append(f"<h3>{e(name)}</h3><img src='{e(rel)}' alt='{e(name)}'>")
    parts.append("</body></html>")
    html_path = out / "report.html"
    html_path.write_text("\n".join(parts))
    return md_path, html_path
