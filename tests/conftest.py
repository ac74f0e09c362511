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


def _centered_problem(*args, **kwargs):
    """Rows and dictionary of ``make_concept_embeddings(*args, **kwargs)``,
    each centred and scaled to unit norm, as the solver sees them."""
    X, vocabulary, _, _ = make_concept_embeddings(*args, **kwargs)
    dictionary = vocabulary.embeddings - vocabulary.embeddings.mean(0)
    dictionary /= np.linalg.norm(dictionary, axis=1, keepdims=True)
    Z = X - X.mean(0)
    Z /= np.linalg.norm(Z, axis=1, keepdims=True)
    return Z.astype(np.float64), dictionary.astype(np.float64)


@pytest.fixture(scope="session")
def centered_problem():
    """60 rows over 300 atoms in 64 dimensions, about 10 active per row."""
    return _centered_problem(60, 300, 64, n_active=10, n_clusters=30, random_state=1)


@pytest.fixture(scope="session")
def dense_centered_problem():
    """20 rows over 600 atoms in 256 dimensions: small penalties activate
    hundreds of atoms per row."""
    return _centered_problem(20, 600, 256, n_active=30, n_clusters=60, random_state=2)


def pytest_configure(config):
    # One torch thread per test process: the tests run many tiny kernels,
    # which slow down several-fold when threads contend for a shared 2-core
    # machine (and under pytest-xdist each worker already has a core).
    import torch

    torch.set_num_threads(1)
