import numpy as np
import pytest

from sklearn_audioconcepts.datasets import make_concept_embeddings


def test_shapes_norms_and_reproducibility():
    X, vocabulary, codes, y = make_concept_embeddings(50, 300, 32, random_state=0)
    assert X.shape == (50, 32) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, rtol=1e-5)
    np.testing.assert_allclose(
        np.linalg.norm(vocabulary.embeddings, axis=1), 1, rtol=1e-5
    )
    assert ((codes > 0).sum(1) == 30).all() and y is None
    again = make_concept_embeddings(50, 300, 32, random_state=0)
    np.testing.assert_array_equal(again[0], X)


def test_coherence_matches_request():
    _, vocabulary, _, _ = make_concept_embeddings(
        5, 400, 128, coherence=0.5, random_state=0
    )
    cosines = vocabulary.embeddings @ vocabulary.embeddings.T
    off_diagonal = cosines[~np.eye(len(cosines), dtype=bool)]
    assert off_diagonal.mean() == pytest.approx(0.5, abs=0.05)


def test_classes_names_and_groups():
    names = [f"{g} {i}" for g in "abcd" for i in range(25)]
    groups = [g for g in "abcd" for _ in range(25)]
    X, vocabulary, codes, y = make_concept_embeddings(
        40,
        100,
        16,
        n_active=5,
        n_classes=3,
        concept_names=names,
        concept_groups=groups,
        random_state=1,
    )
    assert vocabulary.names == names
    assert set(y) <= {0, 1, 2}
    embeddings = vocabulary.embeddings
    same = embeddings[:25] @ embeddings[:25].T
    other = embeddings[:25] @ embeddings[25:50].T
    assert same[~np.eye(25, dtype=bool)].mean() > other.mean()


def test_rejects_bad_n_active():
    with pytest.raises(ValueError, match="n_active"):
        make_concept_embeddings(5, 10, 4, n_active=11)
