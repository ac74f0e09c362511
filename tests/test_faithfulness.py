"""Faithfulness scores on hand-made cases."""

import numpy as np
import pandas as pd
import pytest
import scipy.sparse as sp

from sklearn_audioconcepts import ConceptDecomposer, ConceptVocabulary
from sklearn_audioconcepts.faithfulness import (
    concept_correctness,
    factor_recall,
    faithfulness_scores,
    precision_at_k,
    sparsity_sweep,
)

FACTORS = pd.DataFrame(
    {
        "source": ["bell", "siren", "speech"],
        "pitch": ["high", "low", "mid"],
        "language": ["none", "none", "English"],
    }
)
CONCEPTS = ["bell", "siren", "high-pitched bell", "low-pitched sound", "dog", "vague"]
ASSERTED = {
    "bell": {"source": "bell"},
    "siren": {"source": "siren"},
    "high-pitched bell": {"source": "bell", "pitch": "high"},
    "low-pitched sound": {"pitch": "low"},
    "dog": {"source": "dog"},  # a value no clip has
    "vague": {},  # asserts nothing: never right
}


def test_correctness_needs_every_asserted_value():
    right = concept_correctness(CONCEPTS, ASSERTED, FACTORS)
    expected = np.array(
        [
            [True, False, True, False, False, False],
            [False, True, False, True, False, False],
            [False, False, False, False, False, False],
        ]
    )
    np.testing.assert_array_equal(right, expected)
    # A concept missing from the mapping asserts nothing either.
    right = concept_correctness(["unknown"], ASSERTED, FACTORS)
    assert not right.any()


def test_precision_at_k_counts_only_active_top_concepts():
    right = concept_correctness(CONCEPTS, ASSERTED, FACTORS)
    weights = np.array(
        [
            [0.9, 0.0, 0.5, 0.0, 0.7, 0.0],  # top 3: bell, dog, hp bell -> 2/3
            [0.0, 0.2, 0.0, 0.0, 0.0, 0.0],  # one active, right -> 1
            [0.0, 0.0, 0.0, 0.0, 0.0, 0.0],  # nothing active -> 0
        ]
    )
    assert precision_at_k(weights, right, k=3) == pytest.approx((2 / 3 + 1 + 0) / 3)
    assert precision_at_k(weights, right, k=1) == pytest.approx((1 + 1 + 0) / 3)
    # Sparse weights give the same answer.
    assert precision_at_k(sp.csr_matrix(weights), right, k=3) == pytest.approx(
        (2 / 3 + 1 + 0) / 3
    )


def test_recall_credits_values_named_by_right_active_concepts():
    right = concept_correctness(CONCEPTS, ASSERTED, FACTORS)
    weights = np.array(
        [
            [0.0, 0.0, 0.5, 0.0, 0.0, 0.0],  # hp bell: source+pitch of 2 -> 1
            [0.0, 0.3, 0.0, 0.0, 0.0, 0.0],  # siren: 1 of 2 -> 0.5
            [0.4, 0.0, 0.0, 0.0, 0.0, 0.0],  # bell is wrong: 0 of 3
        ]
    )
    recall = factor_recall(weights, right, ASSERTED, CONCEPTS, FACTORS)
    assert recall == pytest.approx((1 + 0.5 + 0) / 3)
    scores = faithfulness_scores(weights, CONCEPTS, ASSERTED, FACTORS, k=3)
    assert scores == {
        "precision_at_k": pytest.approx(2 / 3),
        "recall": pytest.approx(0.5),
        "mean_active": 1.0,
        "k": 3,
    }


def test_bad_input_is_named():
    right = concept_correctness(CONCEPTS, ASSERTED, FACTORS)
    with pytest.raises(ValueError, match="shape"):
        precision_at_k(np.zeros((3, 2)), right)
    with pytest.raises(ValueError, match="nonnegative"):
        precision_at_k(-np.ones((3, 6)), right)
    with pytest.raises(ValueError, match="k must be"):
        precision_at_k(np.zeros((3, 6)), right, k=0)
    with pytest.raises(TypeError, match="DataFrame"):
        concept_correctness(CONCEPTS, ASSERTED, FACTORS.to_numpy())
    with pytest.raises(ValueError, match="not columns"):
        concept_correctness(CONCEPTS, {"x": {"colour": "red"}}, FACTORS)
    with pytest.raises(TypeError, match="dict"):
        concept_correctness(CONCEPTS, [("bell", "bell")], FACTORS)


def test_sparsity_sweep_on_planted_concepts():
    """Embeddings that are exactly one concept each: every penalty recovers it."""
    rng = np.random.default_rng(0)
    atoms = np.linalg.qr(rng.standard_normal((16, 16)))[0][:4]
    names = ["bell", "siren", "high-pitched bell", "dog"]
    vocabulary = ConceptVocabulary(names, atoms)
    factors = pd.DataFrame({"source": ["bell", "siren"] * 10, "pitch": ["high"] * 20})
    X = atoms[[2, 1] * 10] + 0.01 * rng.standard_normal((20, 16))
    decomposer = ConceptDecomposer(
        vocabulary, center=False, device="cpu", progress=False
    ).fit(X)
    sweep = sparsity_sweep(
        decomposer, X, [0.01, 0.1], concept_factors=ASSERTED, factors=factors, k=1
    )
    assert list(sweep["l1_penalty"]) == [0.01, 0.1]
    assert (sweep["precision_at_k"] == 1.0).all()
    assert sweep["mean_active"].iloc[0] >= sweep["mean_active"].iloc[1]
