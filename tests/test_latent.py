"""Latent spaces: descriptor autoencoder/VAE, their latents in the kernel models, the SMILES tokeniser and VAE."""

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from mlcalc.potentials.autoencoder import load_autoencoder, save_autoencoder
from mlcalc.potentials.smiles_vae import SmilesTokenizer, SmilesVAE
from mlcalc.potentials.training.autoencoder_fit import AutoencoderFit, fit_autoencoder
from mlcalc.testing import forbid_unpickling


def _low_rank(n=240, features=24, rank=3, seed=0):
    rng = np.random.default_rng(seed)
    return np.tanh(rng.normal(size=(n, rank)) @ rng.normal(size=(rank, features))) * 3.0 + 5.0


def test_autoencoder_reconstruction_falls_with_training():
    x = _low_rank()
    model, history = fit_autoencoder(x[:200], AutoencoderFit(latent=3, hidden=[32], epochs=30, batch_size=32, lr=3e-3,
                                                             seed=0), val=x[200:])
    assert history["recon"][-1] < 0.3 * history["recon"][0]
    assert model.reconstruction_error(x[200:]) < 0.2  # standardised units: 1.0 is predicting the mean
    assert model.latents(x).shape == (240, 3)


def test_pca_is_the_linear_autoencoder():
    from sklearn.decomposition import PCA

    from mlcalc.potentials.autoencoder import pca_encoder

    x = _low_rank()
    z = (x - x[:200].mean(axis=0)) / x[:200].std(axis=0)
    ref = PCA(n_components=3).fit(z[:200])
    model = pca_encoder(x[:200], 3)
    np.testing.assert_allclose(model.latents(x[200:]), ref.transform(z[200:]), atol=1e-4)
    assert abs(model.reconstruction_error(x[:200]) - (1 - ref.explained_variance_ratio_.sum())) < 1e-4


def test_vae_kl_and_sampling_shapes():
    x = _low_rank()
    model, history = fit_autoencoder(x, AutoencoderFit(latent=4, variational=True, hidden=[32], epochs=8,
                                                       batch_size=32, seed=1))
    assert all(k > 0 for k in history["kl"]) and len(history["kl"]) == 8
    samples = model.sample(7, generator=torch.Generator().manual_seed(0))
    assert samples.shape == (7, 24) and np.isfinite(samples).all()
    mu, logvar = model.encode(model.standardise(torch.as_tensor(x[:5])))
    assert mu.shape == logvar.shape == (5, 4)
    model.train()
    recon, kl = model.losses(model.standardise(torch.as_tensor(x[:16])))
    assert recon > 0 and kl > 0


@pytest.mark.parametrize("variational", [False, True])
def test_checkpoint_resume_equals_one_run_and_loads_without_pickle(tmp_path, monkeypatch, variational):
    x = _low_rank(n=64)
    settings = dict(latent=2, variational=variational, hidden=[8], batch_size=16, seed=3)
    straight, h1 = fit_autoencoder(x, AutoencoderFit(epochs=6, **settings))
    fit_autoencoder(x, AutoencoderFit(epochs=3, **settings), checkpoint=tmp_path / "ae.safetensors")
    resumed, h2 = fit_autoencoder(x, AutoencoderFit(epochs=6, **settings), checkpoint=tmp_path / "ae.safetensors")
    np.testing.assert_allclose(h1["recon"], h2["recon"], rtol=1e-6)
    np.testing.assert_allclose(straight.latents(x), resumed.latents(x), rtol=1e-5, atol=1e-6)
    forbid_unpickling(monkeypatch)
    save_autoencoder(tmp_path / "final.safetensors", resumed, {"note": "x"})
    loaded, info = load_autoencoder(tmp_path / "final.safetensors")
    assert info == {"note": "x"} and loaded.variational == variational
    np.testing.assert_array_equal(loaded.latents(x), resumed.latents(x))
    with pytest.raises(ValueError, match="other settings"):
        fit_autoencoder(x, AutoencoderFit(epochs=6, **{**settings, "seed": 4}), checkpoint=tmp_path / "ae.safetensors")


def test_a_second_writer_of_a_study_folder_is_refused(tmp_path):
    from mlcalc.analysis.latent.descriptor_study import descriptor_latent_study
    from mlcalc.analysis.latent.smiles_study import smiles_vae_study
    from mlcalc.errors import FolderInUseError
    from mlcalc.locks import FolderLock

    with FolderLock(tmp_path, "test"):
        with pytest.raises(FolderInUseError):
            descriptor_latent_study(tmp_path)
        with pytest.raises(FolderInUseError):
            smiles_vae_study(tmp_path)


def test_a_wrong_file_is_one_line(tmp_path):
    (tmp_path / "junk.safetensors").write_bytes(b"not a file")
    with pytest.raises(ValueError, match="not a safetensors network file"):
        load_autoencoder(tmp_path / "junk.safetensors")
    with pytest.raises(ValueError, match=r"must be \[n, 24\]"):
        fit_autoencoder(_low_rank(), AutoencoderFit(latent=2, hidden=[4], epochs=1))[0].latents(np.zeros((3, 5)))


def test_latents_feed_a_kernel_model_through_mlcalc_and_its_file(tmp_path, monkeypatch):
    from mlcalc import MLCalc
    from mlcalc.analysis.latent.descriptor_study import kernel_predict
    from mlcalc.descriptors import featurise
    from mlcalc.modelfile import load_model, save_model
    from mlcalc.potentials.training.kernel_fit import PropertyKernelFit, fit_kernel_model
    from mlcalc.testing.property_models import small_molecules, smooth_targets

    soap = {"name": "soap", "r_cut": 4.0, "n_max": 2, "l_max": 1}
    mols = small_molecules((1, 6, 7, 8), max_atoms=12)
    y = smooth_targets(mols, 1, seed=2)
    raw = featurise(mols, soap, [1, 6, 7, 8], cache=False, progress=False)
    encoder, _ = fit_autoencoder(raw, AutoencoderFit(latent=4, hidden=[16], epochs=20, batch_size=16, seed=0))
    model = fit_kernel_model(mols[:-4], y[:-4], PropertyKernelFit(targets=["homo"], descriptor=soap, alpha=1e-6,
                                                                  gamma=0.2, cache=False,
                                                                  progress=False), encoder=encoder)
    assert model.train_x.shape[1] == 4
    calc = MLCalc(model, dtype=torch.float64)
    got = calc.predict(mols)["homo"]
    assert np.abs(got[:-4] - y[:-4, 0]).mean() < 0.05 * y[:, 0].std()  # small ridge: close to the labels
    n_atoms = np.array([len(m) for m in mols])
    np.testing.assert_allclose(kernel_predict(model, raw, n_atoms)[:, 0], got, atol=1e-8)
    forbid_unpickling(monkeypatch)
    save_model(tmp_path / "krr.mlc", model)
    loaded, manifest = load_model(tmp_path / "krr.mlc")
    assert manifest["hyperparameters"]["encoder"]["latent"] == 4
    np.testing.assert_allclose(MLCalc(loaded, dtype=torch.float64).predict(mols)["homo"], got, atol=1e-10)


SMILES = ["CC(=O)O", "C1=CC=CC=C1", "[NH3+]CC([O-])=O", "ClCCBr", "C#N", "OC1CC2CC1C2", "N#CC1=CN=CO1", "FC(F)F"]


def test_tokeniser_round_trip_and_unknown_tokens():
    tok = SmilesTokenizer.fit(SMILES)
    assert "[NH3+]" in tok.tokens and "Cl" in tok.tokens and "Br" in tok.tokens
    for s in SMILES:
        assert tok.decode(tok.encode(s)) == s
    assert tok.decode(tok.encode("CS")) == "C?"  # S is not in the vocabulary
    ids = tok.batch(SMILES, 16)
    assert ids.shape == (8, 16) and [tok.decode(row) for row in ids.tolist()] == SMILES
    with pytest.raises(ValueError, match="more than max_len"):
        tok.batch(["C" * 20], 16)
    with pytest.raises(ValueError, match="non-empty"):
        tok.encode("")


def test_smiles_vae_learns_its_training_strings(tmp_path):
    from mlcalc.potentials.training.smiles_vae_fit import SmilesVAEFit, load_smiles_vae, train_smiles_vae

    torch.manual_seed(0)
    init = SmilesVAE(SmilesTokenizer.fit(SMILES).tokens[4:], latent=8, embed=16, hidden=64, max_len=16).eval()
    ids = init.tokenizer.batch(SMILES, 16)
    with torch.no_grad():
        ce0 = float(init.losses(ids)[0])
    kwargs = dict(batch_size=8, lr=1e-2, beta=0.1, warmup=50, latent=8, embed=16, hidden=64, max_len=16, every=40)
    model, info = train_smiles_vae(SMILES, tmp_path / "vae.safetensors", SmilesVAEFit(steps=120, **kwargs))
    with torch.no_grad():
        ce = float(model.losses(ids)[0])
    assert ce < 0.3 * ce0 and info["step"] == 120
    assert sum(a == b for a, b in zip(model.reconstruct(SMILES), SMILES)) >= 4
    assert len(model.sample(5, generator=torch.Generator().manual_seed(0))) == 5
    loaded, _ = load_smiles_vae(tmp_path / "vae.safetensors")
    np.testing.assert_array_equal(loaded.latents(SMILES).numpy(), model.latents(SMILES).numpy())
    more, info = train_smiles_vae(SMILES, tmp_path / "vae.safetensors", SmilesVAEFit(steps=130, **kwargs))  # trains on
    assert info["step"] == 130 and info["history"]["step"][-1] == 130
    with pytest.raises(ValueError, match="other settings"):
        train_smiles_vae(SMILES, tmp_path / "vae.safetensors", SmilesVAEFit(steps=140, **{**kwargs, "lr": 1e-3}))


def test_sample_metrics_with_rdkit():
    pytest.importorskip("rdkit")
    from mlcalc.analysis.latent.smiles_study import reconstruction_accuracy, sample_quality

    assert reconstruction_accuracy(["CCO", "C#N"], ["CCO", "C#C"]) == {"exact": 0.5, "per_character": 5 / 6}
    q = sample_quality(["CCO", "OCC", "C1CC", "C(C"], training={"CC"})
    assert q == {"n": 4, "validity": 0.5, "uniqueness": 0.5, "novelty": 1.0}


def test_property_probe_finds_a_property_the_latents_hold():
    from mlcalc.analysis.latent.smiles_study import property_probe

    mu = np.random.default_rng(0).normal(size=(200, 4))
    held = property_probe(mu, np.sin(mu[:, 0]) + mu[:, 1])
    assert held["krr_mae"] < 0.3 * held["mean_mae"]
    noise = property_probe(mu, np.random.default_rng(1).normal(size=200))
    assert noise["krr_mae"] > 0.9 * noise["mean_mae"]


def test_qm9_smiles_from_a_qm9pack_folder(tmp_path):
    from mlcalc.data.qm9_smiles import load_qm9_smiles

    for k, part in enumerate(("qm9_part1.csv", "qm9_part2.csv", "qm9_part3.csv")):
        (tmp_path / part).write_text(f'Index,SMILES,N_atoms\n{k + 1},"{SMILES[k]}",3\n')
    got = load_qm9_smiles(cache=tmp_path / "cache", source=tmp_path)
    assert got.tolist() == SMILES[:3]
    assert load_qm9_smiles(cache=tmp_path / "cache", source=tmp_path / "gone").tolist() == SMILES[:3]  # cached


@pytest.mark.parametrize("args, words", [
    (["descriptors", "--out", "{d}/x", "--gammas", "1e-3,abc"], ["--gammas", "numbers"]),
    (["descriptors", "--out", "{d}/x", "--target", "homoo"], ["homoo", "QM9 labels"]),
    (["smiles", "--out", "{d}/y", "--target", "bandgap"], ["bandgap", "QM9 labels"]),
])
def test_bad_cli_input_is_one_line(tmp_path, args, words):
    from mlcalc.cli import main

    result = CliRunner().invoke(main, ["latent", *(a.format(d=tmp_path) for a in args)])
    assert result.exit_code == 2, result.output
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("Error: ") and "Traceback" not in result.stderr, result.stderr
    assert all(w in lines[0] for w in words), lines[0]
