"""The torch core of MiniCLAP: log-mel features, the two towers, the CLAP loss.

Nothing here knows scikit-learn; :class:`sklearn_audioconcepts.MiniCLAP`
validates, stores the weights as NumPy arrays and calls these functions.
"""

import re
import zlib

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

SAMPLE_RATE = 16000  # the rate the audio tower works at
N_FFT = 1024
HOP_LENGTH = 256  # 16 ms frames
N_MELS = 64
F_MIN, F_MAX = 30.0, 8000.0
MIN_SAMPLES = 1600  # 0.1 s at SAMPLE_RATE: shorter clips have too few frames
PAD, UNK = 0, 1  # token ids reserved in the text vocabulary
_LOG_FLOOR = 1e-6
_MAX_LOGIT_SCALE = 100.0

_TOKEN = re.compile(r"[^\W\d_]+", re.UNICODE)


def tokenize(text):
    """Lower-cased words (letters only; hyphens and punctuation split)."""
    return _TOKEN.findall(text.lower())


def mel_filterbank(sample_rate=SAMPLE_RATE, n_fft=N_FFT, n_mels=N_MELS):
    """Triangular HTK-mel filters, shape (n_mels, n_fft // 2 + 1), float32."""

    def to_mel(hz):
        return 2595.0 * np.log10(1.0 + hz / 700.0)

    def to_hz(mel):
        return 700.0 * (10 ** (mel / 2595.0) - 1.0)

    edges = to_hz(np.linspace(to_mel(F_MIN), to_mel(F_MAX), n_mels + 2))
    freqs = np.linspace(0, sample_rate / 2, n_fft // 2 + 1)
    lower, centre, upper = edges[:-2, None], edges[1:-1, None], edges[2:, None]
    rising = (freqs - lower) / (centre - lower)
    falling = (upper - freqs) / (upper - centre)
    return np.clip(np.minimum(rising, falling), 0, None).astype(np.float32)


def log_mel(waveforms, filterbank):
    """Log-mel spectrogram of a batch of equal-length waveforms.

    Parameters
    ----------
    waveforms : torch.Tensor of shape (batch, n_samples), at SAMPLE_RATE
    filterbank : torch.Tensor of shape (N_MELS, N_FFT // 2 + 1)

    Returns
    -------
    torch.Tensor of shape (batch, N_MELS, n_frames)
    """
    window = torch.hann_window(N_FFT, dtype=waveforms.dtype, device=waveforms.device)
    spectrum = torch.stft(
        waveforms,
        N_FFT,
        hop_length=HOP_LENGTH,
        window=window,
        center=True,
        pad_mode="constant",
        return_complex=True,
    )
    power = spectrum.real**2 + spectrum.imag**2
    return torch.log(filterbank @ power + _LOG_FLOOR)


N_GROUPS = 8  # mel-band groups whose loudness envelopes are autocorrelated
N_LAGS = 24  # envelope autocorrelation lags, 16 ms to 384 ms (echoes, rhythm)
N_FEATURES = 4 * N_MELS + N_GROUPS * N_LAGS + 5


def summary_features(features):
    """Fixed-length description of a (batch, n_mels, T) log-mel spectrogram.

    Per mel band: mean, standard deviation, maximum and mean absolute
    frame-to-frame change over time (spectrum, its spread, its peaks, its
    transients). Per group of 8 bands: the autocorrelation of the loudness
    envelope at lags of 1 to 24 frames (echoes repeat the envelope 150-250 ms
    later; knocks, plucks and sirens have their own rhythms). Quantiles of the
    overall loudness envelope. Clips of any length map to the same width.
    """
    mean = features.mean(dim=2)
    std = features.std(dim=2, unbiased=False)
    peak = features.amax(dim=2)
    change = (features[:, :, 1:] - features[:, :, :-1]).abs().mean(dim=2)
    batch, n_mels, length = features.shape
    groups = features.reshape(batch, N_GROUPS, n_mels // N_GROUPS, length).mean(2)
    centred = groups - groups.mean(dim=2, keepdim=True)
    energy = (centred**2).sum(dim=2).clamp(min=1e-6)
    lags = []
    for lag in range(1, N_LAGS + 1):
        if lag < length:
            product = (centred[:, :, lag:] * centred[:, :, :-lag]).sum(dim=2)
        else:
            product = torch.zeros_like(energy)
        lags.append(product / energy)
    autocorrelation = torch.stack(lags, dim=2).reshape(batch, -1)
    envelope = features.mean(dim=1)
    quantiles = torch.quantile(
        envelope,
        torch.tensor([0.05, 0.25, 0.5, 0.75, 0.95], dtype=envelope.dtype),
        dim=1,
    ).T
    return torch.cat([mean, std, peak, change, autocorrelation, quantiles], dim=1)


class AudioTower(nn.Module):
    """A three-layer MLP on the log-mel summary features."""

    def __init__(self, n_features, width, hidden=512):
        super().__init__()
        self.hidden = nn.Sequential(
            nn.Linear(n_features, hidden),
            nn.LayerNorm(hidden),
            nn.GELU(),
            nn.Linear(hidden, hidden),
            nn.LayerNorm(hidden),
            nn.GELU(),
        )
        self.out = nn.Linear(hidden, width)

    def forward(self, features):
        return self.out(self.hidden(features))


class TextTower(nn.Module):
    """Mean of word embeddings, then a two-layer MLP."""

    def __init__(self, vocabulary_size, width, dim=128):
        super().__init__()
        self.embedding = nn.Embedding(vocabulary_size, dim, padding_idx=PAD)
        self.mlp = nn.Sequential(nn.Linear(dim, dim), nn.GELU(), nn.Linear(dim, width))

    def forward(self, tokens, extra_rows=None):
        """Embed token ids; ids past the vocabulary index ``extra_rows``."""
        weight = self.embedding.weight
        if extra_rows is not None:
            weight = torch.cat([weight, extra_rows.to(weight)])
        mask = (tokens != PAD).unsqueeze(-1).to(weight.dtype)
        summed = (F.embedding(tokens, weight) * mask).sum(dim=1)
        pooled = summed / mask.sum(dim=1).clamp(min=1.0)
        return self.mlp(pooled)


class MiniCLAPModule(nn.Module):
    def __init__(
        self, n_features, vocabulary_size, width, hidden=512, temperature=None
    ):
        super().__init__()
        self.audio = AudioTower(n_features, width, hidden)
        self.text = TextTower(vocabulary_size, width)
        # log of the inverse temperature: CLIP's initial 1 / 0.07, learned, or
        # a fixed value (not trained)
        learned = temperature is None
        initial = 0.07 if learned else temperature
        self.logit_scale = nn.Parameter(
            torch.tensor(float(np.log(1 / initial))), requires_grad=learned
        )


def clap_loss(module, features, tokens, duplicates=None):
    """Symmetric InfoNCE of a batch of matching (audio, caption) pairs.

    ``duplicates`` (batch, batch) bool marks pairs ``(i, j)``, ``i != j``,
    whose captions are identical: they are left out of each other's
    negatives.
    """
    audio = F.normalize(module.audio(features), dim=-1)
    text = F.normalize(module.text(tokens), dim=-1)
    scale = module.logit_scale.clamp(max=float(np.log(_MAX_LOGIT_SCALE))).exp()
    logits = scale * audio @ text.T
    if duplicates is not None and bool(duplicates.any()):
        logits = logits.masked_fill(duplicates, float("-inf"))
    target = torch.arange(len(logits), device=logits.device)
    return 0.5 * (F.cross_entropy(logits, target) + F.cross_entropy(logits.T, target))


def train(
    module,
    features,
    tokens,
    *,
    counts=None,
    max_epochs,
    batch_size,
    lr,
    generator,
    word_dropout=0.1,
    epochs=None,
):
    """Train with AdamW and a cosine learning rate; return one record per epoch.

    ``features`` (N, n_mels, T) and ``tokens`` (N, L) are on the module's
    device. Each batch replaces ``word_dropout`` of the caption words by the
    unknown-word token, so that no caption relies on a single word.
    """
    n = len(features)
    if counts is None:
        counts = torch.ones(n, dtype=torch.long)
    counts = counts.to(torch.long)
    offsets = torch.cumsum(counts, 0) - counts
    several = bool((counts > 1).any())
    batch_size = min(batch_size, n)
    steps_per_epoch = max(1, n // batch_size)  # drop the ragged last batch
    optimizer = torch.optim.AdamW(module.parameters(), lr=lr, weight_decay=1e-4)
    total = max_epochs * steps_per_epoch
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimizer,
        lambda step: (
            min(1.0, (step + 1) / steps_per_epoch)
            * 0.5
            * (1 + np.cos(np.pi * step / total))
        ),
    )
    history = []
    module.train()
    iterator = range(max_epochs) if epochs is None else epochs
    for _ in iterator:
        order = torch.randperm(n, generator=generator).to(features.device)
        losses = []
        for step in range(steps_per_epoch):
            rows = order[step * batch_size : (step + 1) * batch_size]
            if several:
                # One of each clip's captions, drawn afresh at every step.
                clips = rows.cpu()
                draw = torch.rand(len(clips), generator=generator)
                chosen = offsets[clips] + (draw * counts[clips]).long()
                batch_tokens = tokens[chosen.to(tokens.device)]
            else:
                batch_tokens = tokens[rows]
            # A caption that another pair of the batch has too (short
            # captions repeat) is not that pair's negative.
            same = (batch_tokens[:, None, :] == batch_tokens[None, :, :]).all(-1)
            same.fill_diagonal_(False)
            if word_dropout > 0:
                drop = (
                    torch.rand(batch_tokens.shape, generator=generator).to(
                        batch_tokens.device
                    )
                    < word_dropout
                )
                batch_tokens = torch.where(
                    drop & (batch_tokens != PAD), UNK, batch_tokens
                )
            loss = clap_loss(module, features[rows], batch_tokens, same)
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            schedule.step()
            losses.append(float(loss.detach()))
        temperature = float(
            1.0 / module.logit_scale.detach().clamp(max=np.log(_MAX_LOGIT_SCALE)).exp()
        )
        history.append(
            {
                "epoch": len(history) + 1,
                "loss": float(np.mean(losses)),
                "temperature": temperature,
            }
        )
    module.eval()
    return history


@torch.no_grad()
def embed_audio(module, features, batch_size):
    parts = [
        F.normalize(module.audio(features[start : start + batch_size]), dim=-1)
        for start in range(0, len(features), batch_size)
    ]
    return torch.cat(parts).double().cpu().numpy()


def unknown_word_rows(module, words):
    """A fixed pseudo-random embedding per unknown word, seeded by its spelling.

    Texts made of words the captions never used (a distractor such as "dog
    barking") then get directions of their own, unrelated to the training
    sounds and to each other, instead of all sharing the one unknown-word
    embedding (which word dropout trains to mean "any caption").
    """
    weight = module.text.embedding.weight.detach()
    scale = float(weight[2:].std()) if len(weight) > 2 else 1.0
    rows = []
    for word in words:
        generator = torch.Generator().manual_seed(zlib.crc32(word.encode()))
        rows.append(torch.randn(weight.shape[1], generator=generator) * scale)
    return torch.stack(rows) if rows else None


@torch.no_grad()
def embed_text(module, tokens, batch_size, extra_rows=None):
    parts = [
        F.normalize(module.text(tokens[start : start + batch_size], extra_rows), dim=-1)
        for start in range(0, len(tokens), batch_size)
    ]
    return torch.cat(parts).double().cpu().numpy()
