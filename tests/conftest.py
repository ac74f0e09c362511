"""Shared fixtures: small coherent dictionaries and embeddings, made on the fly."""

import os

# laion-clap loads tokenizers from the Hugging Face hub when it is imported;
# offline, each load retries for minutes unless the hub is known to be off.
# Set before any test module imports transformers.
os.environ.setdefault("HF_HUB_OFFLINE", "1")

import numpy as np
import pytest

from sklearn_audioconcepts.datasets import make_concept_embeddings


@pytest.fixture(scope="session")
def clap_like():
    """CLAP-like embeddings (unit norm, modality gap) over a coherent vocabulary."""
    X, vocabulary, codes, y = make_concept_embeddings(
        240, 400, 64, n_active=10, n_clusters=40, n_classes=3, random_state=0
    )
    return X, vocabulary, codes, y


@pytest.fixture(scope="session")
def centered_problem():
    """A centred, unit-norm dictionary and rows, as the solver sees them."""
    X, vocabulary, _, _ = make_concept_embeddings(
        60, 300, 64, n_active=10, n_clusters=30, random_state=1
    )
    dictionary = vocabulary.embeddings - vocabulary.embeddings.mean(0)
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    Z = X - X.mean(0)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    return Z.astype(np.float64), dictionary.astype(np.float64)


def pytest_configure(config):
    # One torch thread per test process: the tests run many tiny kernels,
    # which slow down several-fold when threads contend for a shared 2-core
    # machine (and under pytest-xdist each worker already has a core).
    import torch

    torch.set_num_threads(1)
