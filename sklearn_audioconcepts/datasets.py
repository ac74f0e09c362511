"""Synthetic embeddings with a known concept structure.

Used by tests, examples and benchmarks.

Real CLAP checkpoints and audio corpora cannot be shipped; these generators
reproduce the geometry that matters for the decomposition: a vocabulary whose
text embeddings are coherent (a shared direction plus semantic clusters) and
audio embeddings that are sparse nonnegative mixtures of concepts seen through
a modality gap and noise.
"""

import numpy as np
from sklearn.utils import check_random_state

from .vocabulary import ConceptVocabulary

__all__ = ["make_concept_embeddings"]


def _unit_rows(array):
    return array / np.linalg.norm(array, axis=1, keepdims=True)


def _coherent_dictionary(
    rng, n_concepts, n_features, coherence, n_clusters, groups=None
):
    """Unit atoms with mean pairwise cosine ``coherence`` and clustered residuals."""
    shared = _unit_rows(rng.standard_normal((1, n_features)))
    if groups is None:
        membership = rng.randint(n_clusters, size=n_concepts)
    else:
        _, membership = np.unique(np.asarray(groups), return_inverse=True)
        n_clusters = membership.max() + 1
    centroids = _unit_rows(rng.standard_normal((n_clusters, n_features)))
    own = _unit_rows(rng.standard_normal((n_concepts, n_features)))
    # Half of what is not shared comes from the cluster: atoms in a cluster
    # are near-synonyms, as "dog barking" and "dog howling" are in CLAP space.
    residual = _unit_rows(centroids[membership] + own)
    atoms = np.sqrt(coherence) * shared + np.sqrt(1.0 - coherence) * residual
    return _unit_rows(atoms)


def make_concept_embeddings(
    n_samples=1000,
    n_concepts=2000,
    n_features=512,
    *,
    n_active=30,
    coherence=0.5,
    n_clusters=100,
    modality_gap=1.0,
    noise=0.25,
    n_classes=None,
    concept_names=None,
    concept_groups=None,
    random_state=None,
):
    """Generate unit-norm embeddings that are sparse mixtures of named concepts.

    Parameters
    ----------
    n_samples : int, default=1000
        Number of embeddings (rows of ``X``).
    n_concepts : int, default=2000
        Vocabulary size ``V``.
    n_features : int, default=512
        Embedding dimension ``d`` (512 for LAION-CLAP).
    n_active : int, default=30
        Number of concepts mixed into each embedding.
    coherence : float, default=0.5
        Mean pairwise cosine similarity of the concept embeddings before
        centring (about 0.5 for CLAP text embeddings of short audio phrases).
    n_clusters : int, default=100
        Number of groups of near-synonymous concepts.
    modality_gap : float, default=1.0
        Norm of the offset shared by all audio embeddings before
        normalisation; mean-centring removes it.
    noise : float, default=0.25
        Norm of the isotropic Gaussian noise added to each mixture, relative
        to the unit-norm mixture.
    n_classes : int or None, default=None
        When given, samples fall into this many classes, each drawing 70% of
        its concepts from its own pool of ``3 * n_active`` concepts, and ``y``
        holds the labels.
    concept_names : sequence of str of length n_concepts, default=None
        Names for the concepts; ``concept_0000``, ... when not given.
    concept_groups : array-like of length n_concepts, default=None
        Group label of each concept (e.g. its sound source); concepts of a
        group become near-synonyms. Overrides ``n_clusters``.
    random_state : int, RandomState instance or None, default=None
        Seed for reproducible output.

    Returns
    -------
    X : ndarray of shape (n_samples, n_features), dtype float32
        Unit-norm audio-like embeddings.
    vocabulary : ConceptVocabulary
        ``n_concepts`` concepts (named ``concept_0``, ... zero-padded to equal
        width, unless ``concept_names`` is given) with unit-norm embeddings.
    codes : ndarray of shape (n_samples, n_concepts)
        The planted nonnegative weights (before the gap and noise were added).
    y : ndarray of shape (n_samples,) or None
        Class labels when ``n_classes`` is given.

    Examples
    --------
    >>> from sklearn_audioconcepts.datasets import make_concept_embeddings
    >>> X, vocabulary, codes, _ = make_concept_embeddings(10, 200, 64, random_state=0)
    >>> X.shape, len(vocabulary), codes.shape
    ((10, 64), 200, (10, 200))
    """
    rng = check_random_state(random_state)
    if not 0 < n_active <= n_concepts:
        raise ValueError(
            f"n_active must be in [1, n_concepts={n_concepts}], got {n_active}."
        )
    atoms = _coherent_dictionary(
        rng, n_concepts, n_features, coherence, n_clusters, concept_groups
    )

    y = None
    if n_classes is None:
        pools = [np.arange(n_concepts)]
        labels = np.zeros(n_samples, dtype=int)
    else:
        y = labels = rng.randint(n_classes, size=n_samples)
        # Each class draws most concepts from a small signature pool, as clips
        # of one class share their dominant concepts.
        pool_size = min(3 * n_active, n_concepts // n_classes)
        order = rng.permutation(n_concepts)
        pools = [order[c * pool_size : (c + 1) * pool_size] for c in range(n_classes)]

    codes = np.zeros((n_samples, n_concepts))
    for i, label in enumerate(labels):
        pool = pools[label]
        n_own = min(len(pool), int(np.ceil(0.7 * n_active)))
        own = rng.choice(pool, n_own, replace=False)
        rest = np.setdiff1d(np.arange(n_concepts), own)
        shared = rng.choice(rest, n_active - n_own, replace=False)
        support = np.concatenate([own, shared])
        # Heavy-tailed weights: a few concepts dominate a clip, as "dog barking"
        # dominates a clip of a dog barking in a park.
        codes[i, support] = rng.exponential(1.0, len(support)) ** 2

    mixtures = _unit_rows(codes @ atoms)
    mixtures += noise * _unit_rows(rng.standard_normal((n_samples, n_features)))
    gap = modality_gap * _unit_rows(rng.standard_normal((1, n_features)))
    X = _unit_rows(mixtures + gap).astype(np.float32)

    if concept_names is None:
        width = len(str(n_concepts - 1))
        concept_names = [f"concept_{j:0{width}d}" for j in range(n_concepts)]
    names = list(concept_names)
    vocabulary = ConceptVocabulary(
        names, atoms.astype(np.float32), metadata={"source": "make_concept_embeddings"}
    )
    return X, vocabulary, codes, y
