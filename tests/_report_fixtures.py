"""Inputs of the report tests: a small autoencoder, its embeddings and tiny clips."""

import numpy as np

from sklearn_audioconcepts import TopKSparseAutoencoder

N_CLIPS = 48
SR = 8000


def make_report_inputs(n_clips=N_CLIPS, n_features=12, n_latents=10, seed=0):
    """Embeddings where one language shifts a feature, waveforms and a fit SAE."""
    rng = np.random.default_rng(seed)
    language = np.array(["en", "es", "ru"])[np.arange(n_clips) % 3]
    X = rng.standard_normal((n_clips, n_features))
    X[:, 0] += 3.0 * (language == "es")
    t = np.arange(int(1.5 * SR)) / SR
    waves = [
        np.concatenate(
            [np.zeros(SR // 4), 0.3 * np.sin(2 * np.pi * (150 + 40 * i) * t)]
        ).astype(np.float32)
        for i in range(n_clips)
    ]
    sae = TopKSparseAutoencoder(
        n_latents=n_latents,
        k=3,
        max_epochs=20,
        device="cpu",
        progress=False,
        random_state=0,
    ).fit(X)
    return X, waves, language, sae
