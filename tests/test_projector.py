"""Tests for FineTunedConceptProjector and its torch core (_projector)."""

import os
import subprocess
import sys
import textwrap

import joblib
import numpy as np
import pandas as pd
import pytest
import torch
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV, train_test_split
from sklearn.pipeline import make_pipeline

from sklearn_audioconcepts import ConceptDecomposer
from sklearn_audioconcepts._planted import make_planted_task, random_subspace_rotation
from sklearn_audioconcepts._projector import (
    ConceptBottleneck,
    CosineToTarget,
    LinearProjector,
    SymmetricInfoNCE,
    effective_rank,
    lipschitz_constant,
    unrolled_nonnegative_lasso,
)
from sklearn_audioconcepts._solvers import nonnegative_lasso
from sklearn_audioconcepts.projector import FineTunedConceptProjector

# -- fixtures ----------------------------------------------------------------


@pytest.fixture(scope="module")
def aligned():
    return make_planted_task(
        240, 120, 24, n_classes=3, misalignment=0.0, random_state=0
    )


@pytest.fixture(scope="module")
def misaligned():
    return make_planted_task(
        480, 160, 32, n_classes=3, misalignment=1.0, random_state=1
    )


def _projector(task, l1_penalty=0.05, **params):
    defaults = dict(
        class_embeddings=task.class_embeddings,
        max_epochs=5,
        batch_size=64,
        device="cpu",
        progress=False,
        random_state=0,
    )
    defaults.update(params)
    decomposer = ConceptDecomposer(task.vocabulary, l1_penalty=l1_penalty)
    return FineTunedConceptProjector(decomposer, **defaults)


@pytest.fixture(scope="module")
def fitted(aligned):
    return _projector(aligned).fit(aligned.X, aligned.y)


# -- torch core ----------------------------------------------------------------


@pytest.mark.parametrize("rank", [None, 3])
def test_linear_projector_starts_at_identity_and_learns(rank):
    generator = torch.Generator().manual_seed(0)
    projector = LinearProjector(8, rank=rank, generator=generator)
    z = torch.randn(5, 8, generator=generator)
    torch.testing.assert_close(projector(z), z)
    torch.testing.assert_close(projector.weight(), torch.eye(8))
    # Gradients reach the parameters from the first step (no saddle at W = I).
    target = torch.randn(5, 8, generator=generator)
    ((projector(z) - target) ** 2).sum().backward()
    grads = [p.grad for p in projector.parameters() if p.grad is not None]
    assert any(float(g.abs().sum()) > 0 for g in grads)
    if rank is not None:
        assert projector.delta().shape == (8, 8)
        assert torch.linalg.matrix_rank(projector.up @ projector.down.T) <= rank


def test_unrolled_lasso_converges_to_the_exact_solution(centered_problem):
    Z, dictionary = centered_problem
    Z, D = torch.as_tensor(Z[:10]), torch.as_tensor(dictionary)
    weights = unrolled_nonnegative_lasso(Z, D, 0.05, n_steps=2000)
    exact = nonnegative_lasso(Z.numpy(), D.numpy(), 0.05, dtype=torch.float64).codes
    np.testing.assert_allclose(weights.numpy(), exact.toarray(), atol=2e-4)


def test_unrolled_lasso_is_differentiable_and_nonnegative(centered_problem):
    Z, dictionary = centered_problem
    z = torch.as_tensor(Z[:4]).requires_grad_(True)
    D = torch.as_tensor(dictionary)
    weights = unrolled_nonnegative_lasso(z, D, 0.05, n_steps=20)
    assert bool((weights >= 0).all())
    (weights @ D).sum().backward()
    assert torch.isfinite(z.grad).all() and float(z.grad.abs().sum()) > 0


def test_lipschitz_constant_bounds_the_largest_eigenvalue(centered_problem):
    _, dictionary = centered_problem
    D = torch.as_tensor(dictionary)
    largest = float(torch.linalg.eigvalsh(D.T @ D)[-1])
    assert largest <= lipschitz_constant(D) <= 1.06 * largest


def test_bottleneck_without_steps_returns_the_projected_embedding(centered_problem):
    Z, dictionary = centered_problem
    bottleneck = ConceptBottleneck(torch.as_tensor(dictionary), 0.05, n_steps=0)
    bottleneck = bottleneck.to(torch.float64)
    z = torch.as_tensor(Z[:3])
    torch.testing.assert_close(bottleneck(z), z / z.norm(dim=1, keepdim=True))


def test_symmetric_infonce_prefers_matching_pairs():
    generator = torch.Generator().manual_seed(0)
    text = torch.randn(16, 8, generator=generator, dtype=torch.float64)
    loss = SymmetricInfoNCE(temperature=0.1)
    matched = loss(
        text + 0.01 * torch.randn(16, 8, generator=generator, dtype=torch.float64), text
    )
    shuffled = loss(text[torch.randperm(16, generator=generator)], text)
    assert float(matched) < 0.1 < float(shuffled)
    # Symmetric: swapping the modalities gives the same loss.
    audio = torch.randn(16, 8, generator=generator, dtype=torch.float64)
    torch.testing.assert_close(loss(audio, text), loss(text, audio))


def test_effective_rank():
    rng = np.random.default_rng(0)
    u, v = rng.standard_normal(6), rng.standard_normal(6)
    assert effective_rank(np.outer(u, v)) == pytest.approx(1.0, abs=1e-6)
    assert effective_rank(np.eye(6)) == pytest.approx(6.0)
    assert effective_rank(np.zeros((6, 6))) == 0.0


def test_planted_rotation_is_orthogonal_and_partial():
    rotation = random_subspace_rotation(10, 0.6, np.pi / 2, random_state=0)
    np.testing.assert_allclose(rotation @ rotation.T, np.eye(10), atol=1e-12)
    # Identity on a 4-dim complement: 4 eigenvalues equal to one.
    eigenvalues = np.linalg.eigvals(rotation)
    assert np.sum(np.isclose(eigenvalues, 1.0)) == 4
    assert np.allclose(
        random_subspace_rotation(10, 0.6, 0.0, random_state=0), np.eye(10)
    )


# -- the estimator ---------------------------------------------------------------


def test_untuned_projector_is_the_plain_decomposition(aligned):
    projector = _projector(aligned, max_epochs=0).fit(aligned.X, aligned.y)
    plain = ConceptDecomposer(aligned.vocabulary, l1_penalty=0.05, device="cpu")
    expected = plain.fit(aligned.X).transform(aligned.X)
    np.testing.assert_allclose(projector.transform(aligned.X), expected, atol=1e-5)
    np.testing.assert_array_equal(projector.projection_, np.eye(aligned.X.shape[1]))
    assert projector.n_iter_ == 0
    assert projector.projection_change()["relative_frobenius"] == 0.0


def test_fine_tuning_fixes_a_misaligned_task(misaligned):
    X_train, X_test, y_train, y_test = train_test_split(
        misaligned.X, misaligned.y, test_size=0.5, stratify=misaligned.y, random_state=0
    )
    untuned = _projector(misaligned, max_epochs=0).fit(X_train, y_train)
    tuned = _projector(misaligned, max_epochs=40, lr=3e-3).fit(X_train, y_train)
    untuned_accuracy = untuned.score(X_test, y_test)
    tuned_accuracy = tuned.score(X_test, y_test)
    assert tuned_accuracy >= untuned_accuracy + 0.15, (untuned_accuracy, tuned_accuracy)
    assert tuned.projection_change()["relative_frobenius"] > 0


def test_fit_outputs(fitted, aligned):
    weights = fitted.transform(aligned.X)
    assert weights.shape == (len(aligned.X), len(aligned.vocabulary))
    assert weights.dtype == np.float32 and (weights >= 0).all()
    proba = fitted.predict_proba(aligned.X)
    np.testing.assert_allclose(proba.sum(axis=1), 1.0, rtol=1e-5)
    assert set(fitted.predict(aligned.X)) <= set(fitted.classes_)
    np.testing.assert_array_equal(fitted.classes_, np.unique(aligned.y))
    assert 0 <= fitted.score(aligned.X, aligned.y) <= 1
    assert fitted.n_iter_ == len(fitted.history_) >= 1
    assert {"train_loss", "valid_loss"} <= set(fitted.history_[0])
    np.testing.assert_array_equal(
        fitted.get_feature_names_out(), aligned.vocabulary.names
    )
    table = fitted.explain(aligned.X[:2], top_k=3)
    assert table.columns.tolist() == ["sample", "rank", "concept", "weight"]


def test_float64(aligned):
    # l1_penalty=0.1: at 0.05 one row of these 24-d embeddings (23 active
    # concepts) needs ~11,000 iterations to certify in float64, with the plain
    # ConceptDecomposer too.
    projector = _projector(aligned, l1_penalty=0.1, dtype="float64", max_epochs=2)
    projector.fit(aligned.X.astype(np.float64), aligned.y)
    assert projector.transform(aligned.X).dtype == np.float64
    assert projector.predict_proba(aligned.X).dtype == np.float64


def test_random_state_reproducible(aligned):
    first = _projector(aligned, rank=2, max_epochs=3).fit(aligned.X, aligned.y)
    second = _projector(aligned, rank=2, max_epochs=3).fit(aligned.X, aligned.y)
    np.testing.assert_array_equal(first.projection_, second.projection_)
    other = _projector(aligned, rank=2, max_epochs=3, random_state=1)
    assert not np.allclose(
        other.fit(aligned.X, aligned.y).projection_, first.projection_
    )


def test_low_rank_change_has_bounded_rank(aligned):
    projector = _projector(aligned, rank=2, max_epochs=3).fit(aligned.X, aligned.y)
    delta = projector.projection_ - np.eye(aligned.X.shape[1])
    assert np.linalg.matrix_rank(delta, tol=1e-6) <= 2
    assert 0 < projector.projection_change()["effective_rank"] <= 2 + 1e-9


def test_identity_penalty_keeps_the_projector_closer(aligned):
    free = _projector(
        aligned, max_epochs=4, validation_fraction=None, lr=1e-2, identity_penalty=0.0
    )
    pulled = clone(free).set_params(identity_penalty=10.0)
    distance = [
        p.fit(aligned.X, aligned.y).projection_change()["relative_frobenius"]
        for p in (free, pulled)
    ]
    assert distance[1] < 0.5 * distance[0]


def test_concept_shift_reports_mean_weight_changes(fitted, aligned):
    table = fitted.concept_shift(aligned.X, aligned.y, top_k=3)
    assert table.columns.tolist() == [
        "class",
        "concept",
        "weight_untuned",
        "weight_tuned",
        "change",
        "direction",
    ]
    assert set(table["class"]) <= set(aligned.y)
    assert (table.groupby(["class", "direction"]).size() <= 3).all()
    np.testing.assert_allclose(
        table["change"], table["weight_tuned"] - table["weight_untuned"], rtol=1e-6
    )
    assert ((table["change"] > 0) == (table["direction"] == "gained")).all()
    # Check one entry against a direct computation.
    row = table.iloc[0]
    rows = aligned.y == row["class"]
    column = list(aligned.vocabulary.names).index(row["concept"])
    tuned = fitted.transform(aligned.X[rows])[:, column].mean()
    untuned = fitted.base_decomposer_.transform(aligned.X[rows])[:, column].mean()
    assert row["weight_tuned"] == pytest.approx(tuned, rel=1e-5)
    assert row["weight_untuned"] == pytest.approx(untuned, rel=1e-5)
    overall = fitted.concept_shift(aligned.X, top_k=2)
    assert set(overall["class"]) == {"all"}


def test_projection_change_matches_definition(fitted, aligned):
    change = fitted.projection_change()
    delta = fitted.projection_ - np.eye(aligned.X.shape[1])
    assert change["relative_frobenius"] == pytest.approx(
        np.linalg.norm(delta) / np.sqrt(aligned.X.shape[1])
    )
    assert change["spectral_norm"] == pytest.approx(np.linalg.norm(delta, 2))


def test_pandas_output(fitted, aligned):
    projector = clone(fitted).set_output(transform="pandas").fit(aligned.X, aligned.y)
    frame = projector.transform(aligned.X[:4])
    assert isinstance(frame, pd.DataFrame)
    assert frame.columns.tolist() == list(aligned.vocabulary.names)


class _FakeTextEncoder:
    """Duck-typed text encoder: looks prompts up in a table."""

    def __init__(self, table):
        self.table = table
        self.seen = []

    def embed_text(self, texts):
        self.seen.extend(texts)
        return np.stack([self.table[text] for text in texts])


def test_text_encoder_with_template(aligned):
    table = {f"a {name}": value for name, value in aligned.class_embeddings.items()}
    encoder = _FakeTextEncoder(table)
    projector = _projector(
        aligned,
        class_embeddings=None,
        text_encoder=encoder,
        template="a {}",
        max_epochs=0,
    ).fit(aligned.X, aligned.y)
    reference = _projector(aligned, max_epochs=0).fit(aligned.X, aligned.y)
    assert sorted(encoder.seen) == sorted(table)
    np.testing.assert_allclose(projector.prompts_, reference.prompts_)


def test_class_embeddings_as_array_and_multiple_prompts(aligned):
    classes = np.unique(aligned.y)
    array = np.stack([aligned.class_embeddings[c] for c in classes])
    by_array = _projector(aligned, class_embeddings=array, max_epochs=0)
    reference = _projector(aligned, max_epochs=0).fit(aligned.X, aligned.y)
    np.testing.assert_allclose(
        by_array.fit(aligned.X, aligned.y).prompts_, reference.prompts_
    )
    doubled = {c: np.stack([v, v]) for c, v in aligned.class_embeddings.items()}
    by_prompts = _projector(aligned, class_embeddings=doubled, max_epochs=0)
    np.testing.assert_allclose(
        by_prompts.fit(aligned.X, aligned.y).prompts_, reference.prompts_, atol=1e-6
    )


def test_captions_training_improves_retrieval(misaligned):
    # Captions: text-side embeddings of each clip's planted concepts.
    atoms = misaligned.vocabulary.embeddings.astype(np.float64)
    rng = np.random.default_rng(0)
    captions = misaligned.codes @ atoms
    captions /= np.linalg.norm(captions, axis=1, keepdims=True)
    captions += 0.1 * rng.standard_normal(captions.shape) / np.sqrt(captions.shape[1])
    X_train, X_test, c_train, c_test = train_test_split(
        misaligned.X, captions, test_size=0.25, random_state=0
    )
    untuned = _projector(misaligned, class_embeddings=None, max_epochs=0)
    tuned = _projector(misaligned, class_embeddings=None, max_epochs=15, lr=1e-2)
    before = untuned.fit(X_train, c_train).score(X_test, c_test)
    after = tuned.fit(X_train, c_train).score(X_test, c_test)
    assert tuned.target_type_ == "captions"
    assert after > before + 0.05, (before, after)
    assert not hasattr(tuned, "predict") and not hasattr(tuned, "predict_proba")
    assert tuned.transform(X_test).shape == (len(X_test), len(misaligned.vocabulary))


# -- errors ----------------------------------------------------------------


def test_error_class_without_prompt(aligned):
    prompts = dict(aligned.class_embeddings)
    missing = sorted(prompts)[-1]
    del prompts[missing]
    with pytest.raises(ValueError, match=f"{missing}.*no prompt"):
        _projector(aligned, class_embeddings=prompts).fit(aligned.X, aligned.y)


def test_error_mismatched_lengths(aligned):
    with pytest.raises(ValueError, match="inconsistent numbers of samples"):
        _projector(aligned).fit(aligned.X, aligned.y[:-1])


def test_error_one_class(aligned):
    with pytest.raises(ValueError, match="at least 2 classes"):
        _projector(aligned).fit(aligned.X, np.full(len(aligned.X), "class_0"))


def test_error_dimension_mismatch_with_vocabulary(aligned):
    with pytest.raises(ValueError, match="vocabulary's concept embeddings have 24"):
        _projector(aligned).fit(np.hstack([aligned.X, aligned.X]), aligned.y)


def test_error_prompt_dimension(aligned):
    short = {c: v[:10] for c, v in aligned.class_embeddings.items()}
    with pytest.raises(ValueError, match=r"expected \(24,\)"):
        _projector(aligned, class_embeddings=short).fit(aligned.X, aligned.y)
    with pytest.raises(ValueError, match="n_classes=3"):
        _projector(aligned, class_embeddings=np.ones((2, 24))).fit(aligned.X, aligned.y)


def test_error_no_prompt_source(aligned):
    with pytest.raises(ValueError, match="class_embeddings.*text_encoder"):
        _projector(aligned, class_embeddings=None).fit(aligned.X, aligned.y)
    with pytest.raises(TypeError, match="embed_text"):
        _projector(aligned, class_embeddings=None, text_encoder=object()).fit(
            aligned.X, aligned.y
        )


def test_error_nan(aligned, fitted):
    X = aligned.X.copy()
    X[3, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _projector(aligned).fit(X, aligned.y)
    with pytest.raises(ValueError, match="NaN"):
        fitted.transform(X)
    captions = np.ones_like(aligned.X)
    captions[0, 0] = np.nan
    with pytest.raises(ValueError, match="NaN"):
        _projector(aligned, class_embeddings=None).fit(aligned.X, captions)


def test_error_missing_y(aligned):
    with pytest.raises(ValueError, match="requires y to be passed"):
        _projector(aligned).fit(aligned.X, None)


def test_error_unfitted_and_cuda_unavailable(aligned):
    from sklearn.exceptions import NotFittedError

    with pytest.raises(NotFittedError):
        _projector(aligned).transform(aligned.X)
    if not torch.cuda.is_available():
        with pytest.raises(RuntimeError, match="CUDA"):
            _projector(aligned, device="cuda").fit(aligned.X, aligned.y)


def test_small_data_trains_without_validation_split(aligned):
    X, y = aligned.X[:12], aligned.y[:12]
    with pytest.warns(UserWarning, match="too few for a validation split"):
        projector = _projector(aligned, max_epochs=2).fit(X, y)
    assert projector.n_iter_ == 2 and "valid_loss" not in projector.history_[0]


# -- scikit-learn contract ---------------------------------------------------


def test_pipeline_and_grid_search(aligned):
    pipeline = make_pipeline(
        _projector(aligned, max_epochs=2), LogisticRegression(max_iter=500)
    )
    prefix = "finetunedconceptprojector__"
    search = GridSearchCV(
        pipeline,
        [
            {prefix + "lr": [1e-3, 1e-2]},
            {prefix + "max_epochs": [0]},
            {prefix + "identity_penalty": [1.0]},
        ],
        cv=2,
    )
    search.fit(aligned.X, aligned.y)
    assert len(search.cv_results_["params"]) == 4
    assert np.isfinite(search.cv_results_["mean_test_score"]).all()
    assert search.predict(aligned.X[:5]).shape == (5,)
    # On its own the estimator is a classifier GridSearchCV can score.
    alone = GridSearchCV(
        _projector(aligned, max_epochs=1), {"decomposer__l1_penalty": [0.05, 0.1]}, cv=2
    ).fit(aligned.X, aligned.y)
    assert 0 <= alone.best_score_ <= 1
    assert (
        alone.best_estimator_.decomposer_.l1_penalty
        == alone.best_params_["decomposer__l1_penalty"]
    )


def test_clone_and_joblib_round_trip(fitted, aligned, tmp_path):
    cloned = clone(fitted)
    assert not hasattr(cloned, "projection_")
    assert cloned.get_params()["decomposer"] is not fitted.decomposer
    path = tmp_path / "projector.joblib"
    joblib.dump(fitted, path)
    loaded = joblib.load(path)
    np.testing.assert_array_equal(
        loaded.transform(aligned.X), fitted.transform(aligned.X)
    )
    np.testing.assert_array_equal(
        loaded.predict_proba(aligned.X), fitted.predict_proba(aligned.X)
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_fitted_on_cuda_loads_on_cpu(aligned, tmp_path):
    projector = _projector(aligned, device="cuda").fit(aligned.X, aligned.y)
    path = tmp_path / "cuda.joblib"
    joblib.dump(projector, path)
    np.save(tmp_path / "X.npy", aligned.X)
    projector.set_params(device="cpu")
    np.save(tmp_path / "expected.npy", projector.predict_proba(aligned.X))
    script = textwrap.dedent(
        f"""
        import joblib, numpy as np, torch
        assert not torch.cuda.is_available()
        model = joblib.load({str(path)!r}).set_params(device="cpu")
        X = np.load({str(tmp_path / "X.npy")!r})
        expected = np.load({str(tmp_path / "expected.npy")!r})
        np.testing.assert_allclose(model.predict_proba(X), expected, atol=1e-5)
        """
    )
    env = dict(os.environ, CUDA_VISIBLE_DEVICES="")
    subprocess.run([sys.executable, "-c", script], check=True, env=env)


# -- the paper's recipe ----------------------------------------------------------


def test_cosine_to_target_loss():
    prompts = torch.eye(3, 4)
    loss = CosineToTarget(prompts)
    assert float(loss(prompts * 2.0, torch.arange(3))) == pytest.approx(0.0)
    assert float(loss(-prompts, torch.arange(3))) == pytest.approx(2.0)
    captions = CosineToTarget()
    assert float(captions(prompts, prompts[[1, 2, 0]])) == pytest.approx(1.0)


def test_random_linear_projector_is_not_the_identity():
    generator = torch.Generator().manual_seed(0)
    projector = LinearProjector(16, generator=generator, init="random")
    weight = projector.weight().detach()
    assert float(weight.abs().max()) <= 1.0 / 4.0 + 1e-6
    assert not torch.allclose(weight, torch.eye(16))
    z = torch.randn(5, 16)
    torch.testing.assert_close(projector(z), z @ weight.T)
    with pytest.raises(ValueError, match="full rank"):
        LinearProjector(16, rank=2, init="random")


def test_paper_recipe_beats_untuned_on_held_out_rows(misaligned):
    X_train, X_test, y_train, y_test = train_test_split(
        misaligned.X, misaligned.y, test_size=0.5, stratify=misaligned.y, random_state=0
    )
    untuned = _projector(misaligned, max_epochs=0).fit(X_train, y_train)
    paper = _projector(misaligned, recipe="paper", max_epochs=40, lr=1e-2)
    paper.fit(X_train, y_train)
    untuned_accuracy = untuned.score(X_test, y_test)
    paper_accuracy = paper.score(X_test, y_test)
    assert paper_accuracy >= untuned_accuracy + 0.15, (untuned_accuracy, paper_accuracy)
    # transform still decomposes over the named concepts.
    weights = paper.transform(X_test)
    assert weights.shape == (len(X_test), len(misaligned.vocabulary))
    assert (weights >= 0).all() and (weights > 0).any()
    assert paper.history_[0]["train_loss"] > paper.history_[-1]["train_loss"]


def test_paper_recipe_starts_random_and_is_reproducible(aligned):
    untrained = _projector(aligned, recipe="paper", max_epochs=0)
    untrained.fit(aligned.X, aligned.y)
    assert not np.allclose(untrained.projection_, np.eye(aligned.X.shape[1]))
    first = _projector(aligned, recipe="paper", max_epochs=2).fit(aligned.X, aligned.y)
    second = _projector(aligned, recipe="paper", max_epochs=2).fit(aligned.X, aligned.y)
    np.testing.assert_array_equal(first.projection_, second.projection_)
    other = _projector(aligned, recipe="paper", max_epochs=2, random_state=1)
    assert not np.allclose(
        other.fit(aligned.X, aligned.y).projection_, first.projection_
    )


def test_paper_recipe_trains_on_captions(misaligned):
    captions = misaligned.codes @ misaligned.vocabulary.embeddings.astype(np.float64)
    projector = _projector(
        misaligned, class_embeddings=None, recipe="paper", max_epochs=3
    ).fit(misaligned.X, captions)
    assert projector.target_type_ == "captions"
    assert projector.history_[0]["train_loss"] > projector.history_[-1]["train_loss"]


def test_paper_recipe_rejects_rank(aligned):
    with pytest.raises(ValueError, match="recipe='paper'.*rank=None"):
        _projector(aligned, recipe="paper", rank=2).fit(aligned.X, aligned.y)
