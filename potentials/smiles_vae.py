"""A SMILES tokeniser and a GRU variational autoencoder on token sequences (Gómez-Bombarelli et al. 2018 style).

Tokens: bracket atoms (``[NH3+]``), two-letter halogens (Cl, Br) and single characters
(atoms, bonds, branches, ring digits), plus ``<pad>`` (0), ``<bos>``, ``<eos>`` and ``<unk>``.
The encoder reads the tokens with a GRU; its last hidden state gives μ and log σ² of the
latent z [latent]. The decoder GRU starts from a hidden state made from z and reads the
previous token with z appended at every step (teacher forcing while training). Loss per
molecule: cross entropy summed over its tokens + β·KL(q(z|x) ‖ N(0, I)). Greedy decoding
turns latents back into strings. Saved with :mod:`mlcalc.potentials.network_file`
(the vocabulary is a hyperparameter: JSON, no pickle).
"""

from __future__ import annotations

import re
from typing import Optional, Sequence

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["SmilesTokenizer", "SmilesVAE", "SPECIALS", "KIND"]

KIND = "smiles-vae"
SPECIALS = ("<pad>", "<bos>", "<eos>", "<unk>")
PAD, BOS, EOS, UNK = range(4)
_TOKEN = re.compile(r"\[[^\]]*\]|Cl|Br|%\d\d|.")


class SmilesTokenizer:
    """SMILES <-> token ids over a fixed vocabulary (``tokens``: the non-special ones, ids after the specials)."""

    def __init__(self, tokens: Sequence[str]):
        self.tokens = list(SPECIALS) + [t for t in tokens if t not in SPECIALS]
        self.index = {t: k for k, t in enumerate(self.tokens)}

    @staticmethod
    def split(smiles: str) -> list[str]:
        """The tokens of one SMILES string; ValueError for an empty or non-string input."""
        if not isinstance(smiles, str) or not smiles.strip():
            raise ValueError(f"a SMILES string must be non-empty text, got {smiles!r}")
        tokens = _TOKEN.findall(smiles)
        if "".join(tokens) != smiles:  # pragma: no cover - the pattern matches any character
            raise ValueError(f"cannot tokenise SMILES {smiles!r}")
        return tokens

    @classmethod
    def fit(cls, smiles: Sequence[str]) -> "SmilesTokenizer":
        """Vocabulary of all tokens in ``smiles`` (sorted, so the same strings give the same ids)."""
        return cls(sorted({t for s in smiles for t in cls.split(s)}))

    def __len__(self) -> int:
        return len(self.tokens)

    def encode(self, smiles: str) -> list[int]:
        """``<bos>`` + token ids + ``<eos>`` (unknown tokens become ``<unk>``)."""
        return [BOS, *(self.index.get(t, UNK) for t in self.split(smiles)), EOS]

    def decode(self, ids: Sequence[int]) -> str:
        """Token ids -> SMILES: stops at ``<eos>``, skips ``<bos>``/``<pad>``; ``<unk>`` is written as ``?``."""
        out = []
        for k in ids:
            k = int(k)
            if k == EOS:
                break
            if k in (BOS, PAD):
                continue
            out.append("?" if k == UNK or k >= len(self.tokens) else self.tokens[k])
        return "".join(out)

    def batch(self, smiles: Sequence[str], max_len: int) -> torch.Tensor:
        """Padded ids [n, max_len] (int64); ValueError naming a string longer than ``max_len`` tokens."""
        out = torch.full((len(smiles), max_len), PAD, dtype=torch.long)
        for row, s in enumerate(smiles):
            ids = self.encode(s)
            if len(ids) > max_len:
                raise ValueError(f"SMILES {s!r} has {len(ids) - 2} tokens, more than max_len - 2 = {max_len - 2}")
            out[row, :len(ids)] = torch.tensor(ids)
        return out


class SmilesVAE(nn.Module):
    """GRU encoder/decoder VAE over token ids [n, max_len] (``<bos>`` ... ``<eos>`` then ``<pad>``)."""

    def __init__(self, tokens: Sequence[str], latent: int = 32, embed: int = 48, hidden: int = 256, max_len: int = 32):
        super().__init__()
        if min(latent, embed, hidden) < 1 or max_len < 3:
            raise ValueError(f"SMILES VAE sizes must be positive (max_len >= 3): latent={latent}, embed={embed}, "
                             f"hidden={hidden}, max_len={max_len}")
        self.tokenizer = SmilesTokenizer(tokens)
        self.latent, self.embed_size, self.hidden, self.max_len = int(latent), int(embed), int(hidden), int(max_len)
        n = len(self.tokenizer)
        self.embed = nn.Embedding(n, self.embed_size, padding_idx=PAD)
        self.encoder = nn.GRU(self.embed_size, self.hidden, batch_first=True)
        self.to_latent = nn.Linear(self.hidden, 2 * self.latent)
        self.from_latent = nn.Linear(self.latent, self.hidden)
        self.decoder = nn.GRU(self.embed_size + self.latent, self.hidden, batch_first=True)
        self.out = nn.Linear(self.hidden, n)

    def hyperparameters(self) -> dict:
        return {"tokens": self.tokenizer.tokens[len(SPECIALS):], "latent": self.latent, "embed": self.embed_size,
                "hidden": self.hidden, "max_len": self.max_len}

    def encode(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Token ids [n, L] -> (μ, log σ²), each [n, latent]."""
        lengths = (ids != PAD).sum(dim=1).clamp(min=1).cpu()
        packed = nn.utils.rnn.pack_padded_sequence(self.embed(ids), lengths, batch_first=True, enforce_sorted=False)
        _, h = self.encoder(packed)
        mu, logvar = self.to_latent(h[-1]).chunk(2, dim=1)
        return mu, logvar.clamp(-12.0, 8.0)

    def logits(self, z: torch.Tensor, ids: torch.Tensor) -> torch.Tensor:
        """Teacher-forced next-token logits [n, L-1, vocab] given z [n, latent] and the true ids [n, L]."""
        inputs = self.embed(ids[:, :-1])
        inputs = torch.cat([inputs, z.unsqueeze(1).expand(-1, inputs.shape[1], -1)], dim=2)
        h0 = torch.tanh(self.from_latent(z)).unsqueeze(0)
        out, _ = self.decoder(inputs, h0)
        return self.out(out)

    def losses(self, ids: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(cross entropy per molecule, KL per molecule, token accuracy) of a batch; z sampled when training."""
        mu, logvar = self.encode(ids)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        logits = self.logits(z, ids)
        target = ids[:, 1:]
        ce = F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=PAD,
                             reduction="sum") / len(ids)
        kl = 0.5 * (mu.square() + logvar.exp() - 1.0 - logvar).sum(dim=1).mean()
        mask = target != PAD
        accuracy = ((logits.argmax(-1) == target) & mask).sum() / mask.sum()
        return ce, kl, accuracy

    @torch.no_grad()
    def generate(self, z: torch.Tensor) -> list[str]:
        """Greedy decoding of latents z [n, latent] -> SMILES strings (at most max_len - 2 tokens)."""
        n = len(z)
        h = torch.tanh(self.from_latent(z)).unsqueeze(0)
        token = torch.full((n,), BOS, dtype=torch.long)
        ids = []
        for _ in range(self.max_len - 1):
            step = torch.cat([self.embed(token), z], dim=1).unsqueeze(1)
            out, h = self.decoder(step, h)
            token = self.out(out[:, 0]).argmax(-1)
            ids.append(token)
        ids = torch.stack(ids, dim=1)
        return [self.tokenizer.decode(row.tolist()) for row in ids]

    @torch.no_grad()
    def latents(self, smiles: Sequence[str], batch_size: int = 1024) -> torch.Tensor:
        """μ of each SMILES, [n, latent]."""
        rows = [self.encode(self.tokenizer.batch(smiles[k:k + batch_size], self.max_len))[0]
                for k in range(0, len(smiles), batch_size)]
        return torch.cat(rows) if rows else torch.zeros(0, self.latent)

    @torch.no_grad()
    def reconstruct(self, smiles: Sequence[str], batch_size: int = 1024) -> list[str]:
        """Greedy decoding of each SMILES' μ."""
        return self.generate(self.latents(smiles, batch_size))

    @torch.no_grad()
    def sample(self, n: int, generator: Optional[torch.Generator] = None) -> list[str]:
        """``n`` strings greedily decoded from z ~ N(0, I) (not necessarily valid SMILES)."""
        return self.generate(torch.randn(n, self.latent, generator=generator))
