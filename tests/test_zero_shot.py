"""ZeroShotClassifier and the retrieval metrics, on synthetic embeddings."""

import pickle

import numpy as np
import pytest
from sklearn.base import clone
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline

from sklearn_audioconcepts import ConceptDecomposer
from sklearn_audioconcepts.datasets import make_concept_embeddings
from sklearn_audioconcepts.retrieval import (
    mean_average_precision_at_k,
    recall_at_k,
    retrieval_scores,
)
from sklearn_audioconcepts.zero_shot import ZeroShotClassifier


class PromptEmbedder:
    """Text encoder stand-in: one fixed random direction per known prompt."""

    def __init__(self, directions):
        self.directions = directions
        self.seen = []

    def embed_text(self, texts):
        self.seen.extend(texts)
        return np.stack([self.directions[text] for text in texts])


@pytest.fixture(scope="module")
def labelled_embeddings():
    """Embeddings of 3 classes and a prototype direction per class."""
    X, vocabulary, _, y = make_concept_embeddings(
        300, 200, 32, n_active=8, n_clusters=20, n_classes=3, random_state=0
    )
    names = np.array(["dog", "rain", "engine"])
    labels = names[y]
    prototypes = np.stack([X[y == k].mean(axis=0) for k in range(3)])
    return X, vocabulary, labels, names, prototypes


def test_predicts_the_nearest_prompt(labelled_embeddings):
    X, _, labels, names, prototypes = labelled_embeddings
    clf = ZeroShotClassifier(names, text_embeddings=prototypes).fit(X)
    assert list(clf.classes_) == list(names) and clf.n_features_in_ == 32
    cosine = (X / np.linalg.norm(X, axis=1, keepdims=True)) @ (
        prototypes / np.linalg.norm(prototypes, axis=1, keepdims=True)
    ).T
    np.testing.assert_array_equal(clf.predict(X), names[cosine.argmax(axis=1)])
    np.testing.assert_allclose(clf.decision_function(X), cosine, atol=1e-6)
    assert clf.score(X, labels) > 0.5  # 3 classes: chance is 1/3


def test_probabilities_follow_the_logit_scale(labelled_embeddings):
    X, _, _, names, prototypes = labelled_embeddings
    sharp = ZeroShotClassifier(names, text_embeddings=prototypes).fit(X)
    soft = clone(sharp).set_params(logit_scale=1.0).fit(X)
    for clf in (sharp, soft):
        proba = clf.predict_proba(X)
        np.testing.assert_allclose(proba.sum(axis=1), 1)
        np.testing.assert_array_equal(names[proba.argmax(axis=1)], clf.predict(X))
    logits = soft.decision_function(X)
    expected = np.exp(logits) / np.exp(logits).sum(axis=1, keepdims=True)
    np.testing.assert_allclose(soft.predict_proba(X), expected)
    assert (
        sharp.predict_proba(X).max(axis=1).mean()
        > soft.predict_proba(X).max(axis=1).mean()
    )
    # A huge scale must not overflow.
    assert np.isfinite(
        clone(sharp).set_params(logit_scale=1e6).fit(X).predict_proba(X)
    ).all()


def test_prompts_come_from_the_embedder(labelled_embeddings):
    X, _, labels, names, prototypes = labelled_embeddings
    template = "the sound of {}"
    directions = {template.format(n): p for n, p in zip(names, prototypes)}
    embedder = PromptEmbedder(directions)
    clf = ZeroShotClassifier(names, template=template, embedder=embedder).fit(X)
    assert clf.prompts_ == [f"the sound of {n}" for n in names]
    assert embedder.seen == clf.prompts_
    direct = ZeroShotClassifier(names, text_embeddings=prototypes).fit(X)
    np.testing.assert_array_equal(clf.predict(X), direct.predict(X))
    restored = pickle.loads(pickle.dumps(clf))
    np.testing.assert_array_equal(restored.predict_proba(X), clf.predict_proba(X))


def test_dense_and_concept_reconstructions_compare_on_equal_terms(
    labelled_embeddings,
):
    X, vocabulary, labels, names, prototypes = labelled_embeddings
    clf = ZeroShotClassifier(names, text_embeddings=prototypes).fit(X)
    decomposer = ConceptDecomposer(vocabulary, l1_penalty=0.05, device="cpu").fit(X)
    reconstructed = decomposer.inverse_transform(decomposer.transform(X))
    dense_accuracy = clf.score(X, labels)
    concept_accuracy = clf.score(reconstructed, labels)
    assert dense_accuracy > 0.5 and concept_accuracy > 0.5  # chance is 1/3
    assert abs(concept_accuracy - dense_accuracy) < 0.1
    # The same classifier object scores both forms: nothing is refitted.
    assert clf.predict(reconstructed).shape == labels.shape


def test_grid_search_over_the_template(labelled_embeddings):
    X, _, labels, names, prototypes = labelled_embeddings
    good = {f"a {n}": p for n, p in zip(names, prototypes)}
    bad = {f"no {n}": p for n, p in zip(names, prototypes[::-1])}
    embedder = PromptEmbedder({**good, **bad})
    search = GridSearchCV(
        make_pipeline(ZeroShotClassifier(names, embedder=embedder)),
        {"zeroshotclassifier__template": ["a {}", "no {}"]},
        cv=3,
    ).fit(X, labels)
    assert search.best_params_ == {"zeroshotclassifier__template": "a {}"}


def test_errors(labelled_embeddings):
    X, _, _, names, prototypes = labelled_embeddings
    with pytest.raises(ValueError, match="not in class_names"):
        ZeroShotClassifier(names, text_embeddings=prototypes).fit(X, ["cat"] * len(X))
    with pytest.raises(ValueError, match="embed_text"):
        ZeroShotClassifier(names).fit(X)
    with pytest.raises(ValueError, match=r"expected \(3, 32\)"):
        ZeroShotClassifier(names, text_embeddings=prototypes[:, :5]).fit(X)
    with pytest.raises(ValueError, match="at least 2 class names"):
        ZeroShotClassifier(["dog"], text_embeddings=prototypes[:1]).fit(X)
    with pytest.raises(ValueError, match="duplicates"):
        ZeroShotClassifier(["a", "a", "b"], text_embeddings=prototypes).fit(X)
    embedder = PromptEmbedder({})
    with pytest.raises(ValueError, match="one '\\{\\}'"):
        ZeroShotClassifier(names, embedder=embedder, template="x").fit(X)
    clf = ZeroShotClassifier(names, text_embeddings=prototypes).fit(X)
    with pytest.raises(ValueError, match="features"):
        clf.predict(X[:, :5])


# -- retrieval metrics -----------------------------------------------------------


def _brute_force(similarity, relevant, k):
    recalls, aps = [], []
    for sim, rel in zip(similarity, relevant):
        order = sorted(range(len(sim)), key=lambda i: (-sim[i], i))[:k]
        hits, precision_sum = 0, 0.0
        for rank, item in enumerate(order, start=1):
            if rel[item]:
                hits += 1
                precision_sum += hits / rank
        recalls.append(hits > 0)
        aps.append(precision_sum / min(k, rel.sum()))
    return float(np.mean(recalls)), float(np.mean(aps))


@pytest.mark.parametrize("k", [1, 5, 10])
def test_metrics_match_a_direct_count(k):
    rng = np.random.default_rng(k)
    similarity = rng.standard_normal((30, 25))
    relevant = rng.random((30, 25)) < 0.15
    relevant[np.arange(30), rng.integers(0, 25, 30)] = True
    recall, average_precision = _brute_force(similarity, relevant, k)
    assert recall_at_k(similarity, relevant, k) == pytest.approx(recall)
    assert mean_average_precision_at_k(similarity, relevant, k) == pytest.approx(
        average_precision
    )


def test_single_relevant_item_average_precision_is_reciprocal_rank():
    similarity = np.array([[0.1, 0.9, 0.5, 0.3]])  # item 2 ranks 2nd, item 0 4th
    assert mean_average_precision_at_k(similarity, [[0, 0, 1, 0]], 10) == 0.5
    assert mean_average_precision_at_k(similarity, [[1, 0, 0, 0]], 10) == 0.25
    assert mean_average_precision_at_k(similarity, [[1, 0, 0, 0]], 3) == 0.0
    assert recall_at_k(similarity, [[1, 0, 0, 0]], 3) == 0.0


def test_retrieval_scores_both_directions():
    rng = np.random.default_rng(0)
    audio = rng.standard_normal((12, 16))
    text_to_audio = np.repeat(np.arange(12), 2)  # two captions per clip
    texts = audio[text_to_audio] + 0.01 * rng.standard_normal((24, 16))
    perfect = retrieval_scores(audio, texts, text_to_audio)
    assert set(perfect) == {
        f"{d}_{m}"
        for d in ("text_to_audio", "audio_to_text")
        for m in ("R@1", "R@5", "R@10", "mAP@10")
    }
    assert all(value == pytest.approx(1.0) for value in perfect.values())

    shuffled = retrieval_scores(audio, rng.standard_normal((24, 16)), text_to_audio)
    similarity = (texts := rng.standard_normal((24, 16))) @ audio.T  # noqa: F841
    assert 0 <= shuffled["text_to_audio_R@1"] < 0.5
    assert shuffled["text_to_audio_R@10"] >= shuffled["text_to_audio_R@5"]


def test_retrieval_scores_match_the_metric_functions():
    rng = np.random.default_rng(1)
    audio, texts = rng.standard_normal((8, 6)), rng.standard_normal((16, 6))
    text_to_audio = np.repeat(np.arange(8), 2)
    scores = retrieval_scores(audio, texts, text_to_audio, ks=(1, 3))
    unit = lambda X: X / np.linalg.norm(X, axis=1, keepdims=True)  # noqa: E731
    similarity = unit(texts) @ unit(audio).T
    relevant = np.eye(8, dtype=bool)[text_to_audio]
    assert scores["text_to_audio_R@3"] == recall_at_k(similarity, relevant, 3)
    assert scores["audio_to_text_mAP@10"] == mean_average_precision_at_k(
        similarity.T, relevant.T, 10
    )


def test_retrieval_errors():
    audio, texts = np.eye(3, 4), np.eye(3, 4)
    with pytest.raises(ValueError, match="no caption"):
        retrieval_scores(audio, texts, [0, 0, 1])
    with pytest.raises(ValueError, match="outside"):
        retrieval_scores(audio, texts, [0, 1, 3])
    with pytest.raises(ValueError, match="same model"):
        retrieval_scores(audio, np.eye(3, 5), [0, 1, 2])
    with pytest.raises(ValueError, match="one integer clip index"):
        retrieval_scores(audio, texts, [0.0, 1.0, 2.0])
    with pytest.raises(ValueError, match="at least one relevant"):
        recall_at_k(np.ones((2, 2)), np.zeros((2, 2)), 1)
    with pytest.raises(ValueError, match="positive integer"):
        recall_at_k(np.ones((1, 2)), np.ones((1, 2)), 0)


@pytest.mark.parametrize("factor", [1e-300, 1e-200, 1e155, 1e200, 1e300])
def test_probabilities_do_not_depend_on_the_scale(labelled_embeddings, factor):
    """Before: 1e200 gave exactly uniform probabilities, 1e-200 an all-zero error."""
    X, _, _, names, prototypes = labelled_embeddings
    clf = ZeroShotClassifier(names, text_embeddings=prototypes).fit(X)
    scaled = X.astype(np.float64) * factor
    np.testing.assert_allclose(clf.predict_proba(scaled), clf.predict_proba(X))
    np.testing.assert_array_equal(clf.predict(scaled), clf.predict(X))
    scaled_prompts = prototypes.astype(np.float64) * factor
    tiny_prompts = ZeroShotClassifier(names, text_embeddings=scaled_prompts)
    np.testing.assert_allclose(
        tiny_prompts.fit(X).decision_function(X), clf.decision_function(X)
    )
