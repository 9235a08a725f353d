"""A model manifest as readable text (``mlcalc info``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ase.data import chemical_symbols

__all__ = ["format_manifest"]


def _kv(d: dict[str, Any], indent: str = "  ") -> list[str]:
    return [f"{indent}{k}: {v}" for k, v in d.items()]


def format_manifest(m: dict[str, Any], path: str | Path = "") -> str:
    """Human-readable summary of a manifest."""
    lines = [f"mlcalc model {path}".rstrip(), f"  format version: {m['format_version']}",
             f"  kind: {m['kind']}", f"  cutoff: {m['cutoff']} Å",
             f"  elements: {', '.join(chemical_symbols[z] for z in m['elements'])}",
             f"  periodic: {m.get('periodic', False)}", "properties:"]
    lines += [f"  {name} [{p['unit']}] per {p['per']}" + (" (extensive)" if p.get("extensive") else "")
              for name, p in m["properties"].items()]
    members = m["hyperparameters"].get("members") or []
    lines += ["hyperparameters:"] + _kv({k: v for k, v in m["hyperparameters"].items() if k not in ("elements", "members")})
    lines += (["members:"] if members else []) + [
        f"  {k}: {member['kind']}, cutoff {member['hyperparameters'].get('cutoff')} Å" for k, member in enumerate(members)]
    if "data" in m:
        d = m["data"]
        lines += ["data:", f"  name: {d.get('name')}", f"  frames: {d.get('size')}  splits: {d.get('splits')}",
                  f"  split seed: {d.get('split_seed')}", f"  sha256: {d.get('sha256')}"]
        lines += [f"  {key}: {d[key]}" for key in ("subset", "targets") if key in d]
    if "metrics" in m:
        lines.append("metrics:")
        for stage in ("test", "val"):
            if stage in m["metrics"]:
                vals = ", ".join(f"{k} {v:.3g}" if isinstance(v, float) else f"{k} {v}"
                                 for k, v in m["metrics"][stage].items())
                lines.append(f"  {stage}: {vals}")
        rest = {k: v for k, v in m["metrics"].items() if k not in ("test", "val")}
        lines += _kv(rest)
    if "versions" in m:
        lines += ["versions:", "  " + ", ".join(f"{k} {v}" for k, v in m["versions"].items())]
    if "created" in m:
        lines.append(f"created: {m['created']}")
    lines.append(f"weights sha256: {m['weights_sha256']} (verified)" if m.get("weights_sha256")
                 else "weights sha256: none (a file written before checksums)")
    return "\n".join(lines)
