"""``mlcalc latent``: autoencoders on QM9 descriptors feeding the kernel models, and a SMILES VAE.

The machinery lives in :mod:`mlcalc.analysis.latent.descriptor_study` and :mod:`mlcalc.analysis.latent.smiles_study`;
it is imported when a command runs. Errors reach the ``mlcalc`` group's handler (one line).
"""

from __future__ import annotations

from pathlib import Path

import click

_out = click.option("--out", type=click.Path(file_okay=False, path_type=Path), required=True,
                    help="output folder (a rerun resumes the training in it)")
_seed = click.option("--seed", type=int, default=0, show_default=True, help="seed of the networks and shuffles")


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
def latent() -> None:
    """Latent spaces: descriptor autoencoder/VAE latents for KRR, and a SMILES VAE on QM9."""


@latent.command()
@_out
@click.option("--descriptor", type=click.Choice(["soap", "coulomb_matrix", "acsf"]), default="soap", show_default=True)
@click.option("--latent-size", type=click.IntRange(min=1), default=16, show_default=True)
@click.option("--hidden", type=click.IntRange(min=1), default=256, show_default=True, help="hidden layer width")
@click.option("--epochs", type=click.IntRange(min=1), default=60, show_default=True)
@click.option("--beta", type=click.FloatRange(min=0), default=1.0, show_default=True, help="VAE KL weight")
@click.option("--train", "n_train", type=click.IntRange(min=10), default=4000, show_default=True,
              help="KRR training molecules (first of the split's 16,000; the autoencoders use all 16,000)")
@click.option("--target", default="homo", show_default=True, help="QM9 property of the KRR and the colours")
@click.option("--gammas", default="0.01,0.03,0.1,0.3,1", show_default=True,
              help="RBF widths tried on validation, in units of 1/n_features")
@click.option("--alphas", default="1e-3,1e-1", show_default=True, help="ridge values tried on validation")
@_seed
def descriptors(out: Path, descriptor: str, latent_size: int, hidden: int, epochs: int, beta: float, n_train: int,
                target: str, gammas: str, alphas: str, seed: int) -> None:
    """Train an autoencoder and a VAE on QM9 descriptors (the GNNs' split), then KRR on raw vs latent features."""
    from mlcalc.analysis.latent.descriptor_study import descriptor_latent_study, parse_floats

    descriptor_latent_study(out, descriptor, latent_size, hidden, epochs, beta, n_train, target,
                            parse_floats(gammas, "--gammas"), parse_floats(alphas, "--alphas"), seed, echo=click.echo)


@latent.command()
@_out
@click.option("--steps", type=click.IntRange(min=1), default=4000, show_default=True, help="training steps in all")
@click.option("--minutes", type=click.FloatRange(min=0, min_open=True), default=None,
              help="stop this call after so many minutes (checkpointed; rerun to resume)")
@click.option("--latent-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option("--hidden", type=click.IntRange(min=1), default=256, show_default=True, help="GRU width")
@click.option("--beta", type=click.FloatRange(min=0), default=0.5, show_default=True, help="KL weight after warm-up")
@click.option("--eval", "n_eval", type=click.IntRange(min=1), default=2000, show_default=True,
              help="held-out molecules to reconstruct and map")
@click.option("--samples", type=click.IntRange(min=1), default=1000, show_default=True,
              help="strings decoded from the prior")
@click.option("--target", default="homo", show_default=True, help="QM9 property colouring the latent map")
@_seed
def smiles(out: Path, steps: int, minutes: float | None, latent_size: int, hidden: int, beta: float, n_eval: int,
           samples: int, target: str, seed: int) -> None:
    """Train (or resume) a GRU SMILES VAE on QM9, then reconstruction, RDKit validity of prior samples, latent map."""
    from mlcalc.analysis.latent.smiles_study import smiles_vae_study

    smiles_vae_study(out, steps, minutes, n_eval, samples, seed, latent_size, hidden, beta, target, echo=click.echo)
