"""Latent spaces (``mlcalc latent``): descriptor autoencoder/VAE latents as KRR features, and a SMILES VAE."""
