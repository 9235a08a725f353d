"""The ``mlcalc`` command line: one module per command group, registered on :data:`main` here.

``models`` (info, models, predict), ``evaluate`` (errors against labelled frames), ``train``, ``finetune``, ``kernel`` (kernel models fitted in closed form),
``data`` (reference data sets), ``md``, ``transfer`` (transfer, check-report), ``demo``, ``explain``,
``latent``, ``tune``, ``uncertainty``, ``import`` (a foundation checkpoint to a .mlc file). Options several commands share live in :mod:`.options`; errors are
formatted once, by the group (:mod:`.errors`). Command modules import only click and light core modules at
import time, and their machinery when the command runs (``mlcalc --help`` loads no torch).
"""

from __future__ import annotations

import click

from mlcalc.cli import (data, demo, evaluate, explain, finetune, import_model, kernel, latent, md, models, train,
                        transfer, tune, uncertainty)
from mlcalc.cli.errors import ErrorHandlingGroup

__all__ = ["main"]


@click.group(cls=ErrorHandlingGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="mlcalc")
@click.option("--debug", is_flag=True, help="show the traceback of an error (also: MLCALC_DEBUG=1)")
def main(debug: bool) -> None:
    """Machine-learned models of molecules and crystals as ASE calculators.

    Errors are one line on stderr (exit code 2 for bad input); --debug shows the traceback.
    """


for _command in (models.info, models.models, train.train, models.predict, data.data, md.md, transfer.transfer,
                 transfer.check_report, demo.demo, explain.explain, tune.tune, latent.latent, finetune.finetune,
                 kernel.kernel, uncertainty.uncertainty, import_model.import_model, evaluate.evaluate):
    main.add_command(_command)
