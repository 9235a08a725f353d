"""Figures of a transfer study: distributions in the style of the paper's figure 7, and energies vs time."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np


from mlcalc.analysis.distributions import Distribution
from mlcalc.analysis.metrics import bin_count, common_bins
from mlcalc.md import read_energy_log
from mlcalc.md.files import LOG, SUMMARY

__all__ = ["plot_selection", "plot_energies", "plot_finetune", "plot_structure"]


def _pyplot():
    import matplotlib

    matplotlib.use("Agg", force=False)
    import matplotlib.pyplot as plt

    return plt


def plot_selection(name: str, per_molecule: dict[str, dict[str, Distribution]], source: str,
                   path: str | os.PathLike, n_bins: int = 80) -> Path:
    """One selection: left, the model's distribution for every molecule (source in black);
    then one panel per molecule with the model (filled) against the reference (line).

    ``per_molecule``: molecule -> {"model": Distribution, "reference": Distribution (optional)}.
    """
    plt = _pyplot()
    present = {m: d for m, d in per_molecule.items() if d}
    samples = [dist.samples for d in present.values() for dist in d.values()]
    edges = common_bins(*samples, n_bins=bin_count(min(x.size for x in samples), n_bins))
    centres = 0.5 * (edges[1:] + edges[:-1])
    first = next(iter(next(iter(present.values())).values()))
    xlabel = f"{name} ({first.unit})"
    fig, axes = plt.subplots(1, 1 + len(present), figsize=(4.2 * (1 + len(present)), 3.4), squeeze=False)
    axes = axes[0]
    colours = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for k, (molecule, dists) in enumerate(present.items()):
        if "model" not in dists:
            continue
        style = {"color": "black", "lw": 2.0} if molecule == source else {"color": colours[k % len(colours)], "lw": 1.4}
        axes[0].plot(centres, dists["model"].histogram(edges), label=molecule, **style)
    axes[0].set_title(f"{name}: model MD, all molecules", fontsize=10)
    for ax, (molecule, dists) in zip(axes[1:], present.items()):
        if "model" in dists:
            ax.fill_between(centres, dists["model"].histogram(edges), step=None, alpha=0.45, label="model")
        if "reference" in dists:
            ax.plot(centres, dists["reference"].histogram(edges), color="black", lw=1.3, label="GFN2-xTB reference")
        ax.set_title(f"{molecule}", fontsize=10)
    for ax in axes:
        ax.set_xlabel(xlabel)
        ax.legend(fontsize=8, frameon=False)
    axes[0].set_ylabel("probability density")
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_energies(runs: dict[str, Path], path: str | os.PathLike) -> Path:
    """Total energy minus its start value (meV/atom) against time for each MD run folder in ``runs``."""
    plt = _pyplot()
    fig, ax = plt.subplots(figsize=(7, 3.6))
    for label, folder in runs.items():
        log = read_energy_log(Path(folder) / LOG)
        if len(log["step"]) == 0:
            continue
        n_atoms = _n_atoms(Path(folder))
        ax.plot(log["time_ps"], (log["total_eV"] - log["total_eV"][0]) * 1000 / n_atoms, lw=0.8, label=label)
    ax.set_xlabel("time (ps)")
    ax.set_ylabel("E_total − E_total(0) (meV/atom)")
    ax.legend(fontsize=7, frameon=False, ncol=2)
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_finetune(target: str, rows: list[dict], path: str | os.PathLike) -> Path:
    """The fine-tuning curve of one target: force MAE, stability time (mean ± std over replicas) and the
    bonds' W1 against the number of target frames k, fine-tuned and from scratch (k = 0: the source model)."""
    plt = _pyplot()
    panels = (("forces_mae_meV_per_A", "force MAE (meV/Å)"), ("stable_ps", "stable for (ps)"),
              ("mean_w1_bonds_A", "W1 of bond lengths (Å)"))
    fig, axes = plt.subplots(1, 3, figsize=(12, 3.4))
    source = [r for r in rows if r["kind"] == "source"]
    for ax, (key, ylabel) in zip(axes, panels):
        for kind, style in (("finetuned", {"marker": "o"}), ("scratch", {"marker": "s", "ls": "--"}),
                            ("on-the-fly", {"marker": "*", "ls": "none", "markersize": 10})):
            mine = source + [r for r in rows if r["kind"] == kind] if kind == "finetuned" else \
                [r for r in rows if r["kind"] == kind]
            ks, ys, errs = [], [], []
            for r in mine:
                value = r.get(key)
                mean, std = (value.get("mean"), value.get("std")) if isinstance(value, dict) else (value, None)
                if mean is None:
                    continue
                ks.append(r["k"])
                ys.append(mean)
                errs.append(std or 0.0)
            if ks:
                ax.errorbar(ks, ys, yerr=errs, capsize=3, label=kind, **style)
        ax.set_xscale("symlog", linthresh=10)
        ticks = sorted({r["k"] for r in rows})
        ax.set_xticks(ticks, [str(k) for k in ticks])
        ax.minorticks_off()
        ax.set_xlabel(f"k frames of {target}")
        ax.set_ylabel(ylabel)
        if key != "stable_ps":
            ax.set_yscale("log")
    axes[0].legend(fontsize=8, frameon=False)
    fig.suptitle(f"How much {target} data fixes transfer", fontsize=10)
    fig.tight_layout()
    return _save(fig, plt, path)


def plot_structure(per_molecule: dict[str, dict[str, dict]], path: str | os.PathLike, r_max: float = 10.0) -> Path:
    """Per molecule, h(r) (top) and the vibrational spectrum (bottom) of each run kind's pooled replicas.

    ``per_molecule``: molecule -> run ("reference", "model", ...) -> statistics with ``h`` [bins] and
    ``spectrum`` (wavenumber cm⁻¹, intensity) (:func:`.run_metrics.reference_statistics`).
    """
    plt = _pyplot()
    present = {m: runs for m, runs in per_molecule.items() if runs}
    fig, axes = plt.subplots(2, len(present), figsize=(4.4 * len(present), 6.2), squeeze=False)
    styles = {"reference": {"color": "black", "lw": 1.3}, "model": {"color": "C0", "lw": 1.1},
              "model-unoptimised": {"color": "C3", "lw": 0.9, "ls": "--"}}
    for col, (molecule, runs) in enumerate(present.items()):
        for run, stats in runs.items():
            style = styles.get(run, {"lw": 1.0})
            h = stats["h"]
            r = (np.arange(len(h)) + 0.5) * r_max / len(h)
            axes[0, col].plot(r, h, label=run, **style)
            if stats.get("spectrum") is not None:
                wavenumber, intensity = stats["spectrum"]
                keep = wavenumber <= 4000
                axes[1, col].plot(wavenumber[keep], intensity[keep], label=run, **style)
        axes[0, col].set_title(molecule, fontsize=10)
        axes[0, col].set_xlabel("r (Å)")
        axes[0, col].set_xlim(0, 6)
        axes[1, col].set_xlabel("wavenumber (cm⁻¹)")
        axes[0, col].legend(fontsize=7, frameon=False)
    axes[0, 0].set_ylabel("h(r) (1/Å)")
    axes[1, 0].set_ylabel("VACF spectrum (1/cm⁻¹)")
    fig.tight_layout()
    return _save(fig, plt, path)


def _n_atoms(folder: Path) -> int:
    import json

    return int(json.loads((folder / SUMMARY).read_text())["n_atoms"])


def _save(fig, plt, path) -> Path:
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=110)
    plt.close(fig)
    return path


