"""``mlcalc kernel``: kernel models fitted in closed form over a (γ, α) grid, the best on validation kept.

The machinery is :mod:`mlcalc.potentials.training.kernel_search`, imported when a command runs.
"""

from __future__ import annotations

import click

_KERNELS = ("rbf", "laplacian", "linear")  # mlcalc.potentials.kernel.KERNELS, literal so that --help stays light


def _floats(text: str) -> list[float]:
    """'1e-3,1e-1' -> [0.001, 0.1]; anything else is refused in one line."""
    try:
        return [float(x) for x in text.split(",") if x.strip()]
    except ValueError:
        raise click.BadParameter(f"give numbers separated by commas, e.g. 1e-3,1e-1; got {text!r}") from None


def _grid_options(gammas: str, alphas: str):
    def decorate(command):
        command = click.option("--alphas", default=alphas, show_default=True,
                               help="ridge / GP jitter values tried (standardised units)")(command)
        return click.option("--gammas", default=gammas, show_default=True,
                             help="KRR kernel widths tried (a GP fits its own)")(command)
    return decorate


_method = click.option("--method", type=click.Choice(["krr", "gp"]), default="krr", show_default=True)
_raw = click.option("--raw-features", is_flag=True, help="do not standardise the descriptors")
_out = click.option("--out", type=click.Path(dir_okay=False), default=None, help="save the selected model here (.mlc)")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def kernel() -> None:
    """Kernel ridge regression and Gaussian processes on DScribe descriptors, chosen on validation."""


@kernel.command()
@click.option("--target", default="homo", show_default=True, help="QM9 property")
@click.option("--train", "n_train", type=click.IntRange(min=2), default=4000, show_default=True,
              help="training molecules (the first of the split's 16,000)")
@_method
@click.option("--kernel", "kernel_name", type=click.Choice(_KERNELS), default="laplacian", show_default=True)
@click.option("--descriptor", type=click.Choice(["coulomb_matrix", "soap"]), default="coulomb_matrix",
              show_default=True)
@_grid_options("0.003,0.01,0.03", "1e-6,1e-3,1e-1")
@_raw
@click.option("--encoder", default=None, help="descriptor autoencoder file (mlcalc latent descriptors): fit its latents")
@_out
def qm9(target: str, n_train: int, method: str, kernel_name: str, descriptor: str, gammas: str, alphas: str,
        raw_features: bool, encoder: str | None, out: str | None) -> None:
    """KRR / GP of a QM9 property on the GNNs' split: the test MAE of the best (γ, α) on validation."""
    from mlcalc.data.qm9 import check_targets
    from mlcalc.modelfile import save_model
    from mlcalc.potentials.training.kernel_fit import PropertyKernelFit
    from mlcalc.potentials.training.kernel_search import qm9_kernel_search

    check_targets([target])
    fit = PropertyKernelFit(targets=[target], descriptor={"name": descriptor, "n_atoms_max": 29}, method=method,
                            kernel=kernel_name, standardise_features=not raw_features, elements=[1, 6, 7, 8, 9],
                            progress=False)
    model, _ = qm9_kernel_search(fit, n_train, _floats(gammas), _floats(alphas), encoder, echo=click.echo)
    if out:
        click.echo(f"saved {save_model(out, model)}")


@kernel.command()
@click.argument("config", type=click.Path(exists=True, dir_okay=False))
@click.option("--train", "n_train", type=click.IntRange(min=2), default=None,
              help="training frames (default: all of the split's)")
@click.option("--descriptor", type=click.Choice(["soap", "acsf", "coulomb_matrix"]), default="soap", show_default=True)
@click.option("--r-cut", type=click.FloatRange(min=0, min_open=True), default=5.0, show_default=True,
              help="SOAP / ACSF cutoff, Å")
@click.option("--n-max", type=click.IntRange(min=1), default=4, show_default=True)
@click.option("--l-max", type=click.IntRange(min=0), default=3, show_default=True)
@_method
@click.option("--kernel", "kernel_name", type=click.Choice(_KERNELS), default="rbf", show_default=True)
@_grid_options("1e-3,3e-3,1e-2", "1e-8,1e-6")
@click.option("--force-weight", type=click.FloatRange(min=0), default=0.0, show_default=True,
              help="KRR: also fit the training forces, each component weighted this against one energy")
@_raw
@_out
def energy(config: str, n_train: int | None, descriptor: str, r_cut: float, n_max: int, l_max: int, method: str,
           kernel_name: str, gammas: str, alphas: str, force_weight: float, raw_features: bool,
           out: str | None) -> None:
    """KRR / GP energy models (forces from descriptor derivatives) on the data and split of a force-field CONFIG."""
    from mlcalc.modelfile import save_model
    from mlcalc.potentials.training.kernel_fit import EnergyKernelFit
    from mlcalc.potentials.training.kernel_search import energy_kernel_search

    fit = EnergyKernelFit(descriptor={"name": descriptor, "r_cut": r_cut, "n_max": n_max, "l_max": l_max,
                                      "permutation": "none"},
                          method=method, kernel=kernel_name, force_weight=force_weight,
                          standardise_features=not raw_features)
    model, metrics = energy_kernel_search(config, fit, n_train, _floats(gammas), _floats(alphas), echo=click.echo)
    if out:
        click.echo(f"saved {save_model(out, model, metrics={'test': metrics})}")
