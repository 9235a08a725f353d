"""``mlcalc import``: convert a foundation package's pretrained checkpoint, once, into a ``.mlc`` model file.

The machinery is :mod:`mlcalc.potentials.foundation.importer` (the ``foundation`` extra), imported
when the command runs; errors reach the ``mlcalc`` group's handler (one line).
"""

from __future__ import annotations

from pathlib import Path

import click


@click.command("import")
@click.argument("source")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="the .mlc file to write (safetensors + manifest; loading it never unpickles)")
@click.option("--overwrite", is_flag=True, help="replace an existing --out file")
def import_model(source: str, out: Path, overwrite: bool) -> None:
    """Convert SOURCE, PACKAGE:CHECKPOINT (sevenn:SevenNet-0, chgnet:0.3.0, or a file: sevenn:/path/x.pth), to a model.

    This is the one command that unpickles: the package's own loader reads the checkpoint
    (from the installed package's files or the path given), only when asked here.
    """
    from mlcalc.cli.options import refuse_existing_file
    from mlcalc.potentials.foundation.importer import import_model as convert

    refuse_existing_file(out, overwrite)
    click.echo(str(convert(source, out)))
