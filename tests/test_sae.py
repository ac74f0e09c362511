"""Tests for the TopK sparse autoencoder (estimator and torch core)."""

import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
import torch
from scipy.optimize import minimize
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import GridSearchCV
from sklearn.pipeline import make_pipeline
from sklearn.utils._param_validation import InvalidParameterError

from sklearn_audioconcepts import _sae
from sklearn_audioconcepts.sae import TopKSparseAutoencoder


def make_planted(n_samples, n_atoms, n_features, n_active, *, offset=0.0, seed=0):
    """Rows that are sparse nonnegative combinations of planted unit atoms."""
    rng = np.random.default_rng(seed)
    atoms = rng.standard_normal((n_atoms, n_features))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    codes = np.zeros((n_samples, n_atoms))
    for row in codes:
        row[rng.choice(n_atoms, n_active, replace=False)] = rng.uniform(
            0.5, 1.5, n_active
        )
    return codes @ atoms + offset, atoms


@pytest.fixture(scope="module")
def planted():
    return make_planted(2000, 48, 32, 3, offset=0.3)


# The autoencoder the planted-data tests fit (each variant changes one thing).
PLANTED_PARAMS = dict(
    n_latents=96,
    k=3,
    lr=4e-3,
    max_epochs=30,
    batch_size=128,
    device="cpu",
    progress=False,
    random_state=0,
)


@pytest.fixture(scope="module")
def fitted(planted):
    X, _ = planted
    return TopKSparseAutoencoder(**PLANTED_PARAMS).fit(X)


def small_sae(**params):
    options = dict(
        n_latents=32,
        k=3,
        max_epochs=3,
        batch_size=64,
        device="cpu",
        progress=False,
        random_state=0,
    )
    options.update(params)
    return TopKSparseAutoencoder(**options)


# ------------------------------------------------------------ torch core


@pytest.mark.parametrize(
    "points, expected",
    [
        # In one dimension the geometric median is the ordinary median.
        ([[0.0], [1.0], [10.0], [11.0], [100.0]], [10.0]),
        # Vertices of an equilateral triangle: the centre (Fermat point).
        ([[0.0, 0.0], [1.0, 0.0], [0.5, np.sqrt(3) / 2]], [0.5, np.sqrt(3) / 6]),
        # A square: its centre.
        ([[0, 0], [2, 0], [0, 2], [2, 2]], [1.0, 1.0]),
    ],
)
def test_geometric_median_known_cases(points, expected):
    median = _sae.geometric_median(torch.tensor(points, dtype=torch.float64))
    np.testing.assert_allclose(median.numpy(), expected, atol=1e-6)


def test_geometric_median_minimises_sum_of_distances_and_resists_outliers():
    rng = np.random.default_rng(0)
    X = rng.standard_normal((200, 5))
    X[:20] += 50.0  # 10% far outliers drag the mean, not the median
    median = _sae.geometric_median(torch.from_numpy(X)).numpy()

    def total(m):
        return np.linalg.norm(X - m, axis=1).sum()

    reference = minimize(
        total,
        X.mean(0),
        method="Nelder-Mead",
        options={"xatol": 1e-10, "fatol": 1e-10, "maxiter": 20000},
    )
    assert total(median) <= reference.fun + 1e-6
    assert np.linalg.norm(median) < 1.0 < np.linalg.norm(X.mean(0))


def dense_reference_loss(model, x, indices, aux_indices, mse_scale, aux_coef):
    """The same loss through dense autograd (zeros + scatter + matmul)."""
    pre = (x - model.pre_bias) @ model.encoder_weight.T + model.encoder_bias
    code = torch.zeros_like(pre).scatter(1, indices, pre.gather(1, indices).relu())
    reconstruction = code @ model.decoder_weight + model.pre_bias
    loss = ((reconstruction - x) ** 2).mean() * mse_scale
    aux_code = torch.zeros_like(pre).scatter(
        1, aux_indices, pre.gather(1, aux_indices).relu()
    )
    target = x - reconstruction.detach()
    aux = ((aux_code @ model.decoder_weight - target) ** 2).mean()
    aux = aux / ((target - target.mean(0)) ** 2).mean()
    return loss + aux_coef * aux


def test_sparse_backward_matches_dense_autograd():
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 12, generator=generator, dtype=torch.float64)
    model = _sae.TopKSAE(12, 30, 4, dtype=torch.float64)
    _sae.initialize_from_data(model, x, generator)
    with torch.no_grad():
        model.encoder_bias.copy_(torch.randn(30, generator=generator) * 0.1)
    model.samples_since_fired[::3] = 100  # every third latent "dead"
    options = dict(mse_scale=1.7, aux_k=5, aux_coef=0.25, dead_threshold=50)

    loss, *_ = _sae.compute_loss(model, x, **options)
    loss.backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()

    pre = model.pre_activations(x)
    indices = torch.topk(pre, 4, dim=1).indices
    aux_indices = _sae._aux_code(pre, model.samples_since_fired > 50, 5)
    assert set(aux_indices.unique().tolist()) <= set(range(0, 30, 3))
    reference = dense_reference_loss(model, x, indices, aux_indices, 1.7, 0.25)
    reference.backward()
    torch.testing.assert_close(loss, reference)
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(ours[name], parameter.grad, msg=name)


def test_training_step_keeps_decoder_unit_norm_and_counts_firing():
    generator = torch.Generator().manual_seed(1)
    x = torch.randn(32, 8, generator=generator)
    model = _sae.TopKSAE(8, 20, 2)
    _sae.initialize_from_data(model, x, generator)
    optimizer = _sae.make_optimizer(model, 1e-2)
    model.samples_since_fired.fill_(7)
    *_, fired = _sae.training_step(model, optimizer, x, mse_scale=1.0)
    torch.testing.assert_close(
        model.decoder_weight.norm(dim=1), torch.ones(20), atol=1e-6, rtol=0
    )
    assert fired.any()
    assert (model.samples_since_fired[fired] == 0).all()
    assert (model.samples_since_fired[~fired] == 7 + 32).all()


def test_decoder_gradient_projection_is_orthogonal_to_rows():
    model = _sae.TopKSAE(6, 10, 2, dtype=torch.float64)
    _sae.initialize_from_data(
        model, torch.randn(20, 6, dtype=torch.float64), torch.Generator().manual_seed(0)
    )
    model.decoder_weight.grad = torch.randn(10, 6, dtype=torch.float64)
    model.project_decoder_grad_()
    parallel = (model.decoder_weight.grad * model.decoder_weight).sum(1)
    torch.testing.assert_close(parallel, torch.zeros(10, dtype=torch.float64))


# -------------------------------------------------------------- estimator


def test_transform_shapes_sparsity_and_nonnegativity(fitted, planted):
    X, _ = planted
    codes = fitted.transform(X)
    assert codes.shape == (len(X), 96) and codes.dtype == np.float32
    assert (codes >= 0).all()
    assert ((codes > 0).sum(axis=1) <= 3).all()
    assert fitted.n_latents_ == 96 and fitted.n_features_in_ == 32
    assert fitted.get_feature_names_out()[[0, 95]].tolist() == ["latent_0", "latent_95"]


def test_recovers_planted_dictionary(fitted, planted):
    X, atoms = planted
    best_cosine = (atoms @ fitted.components_.T).max(axis=1)
    assert np.median(best_cosine) > 0.97 and (best_cosine > 0.9).mean() > 0.9
    assert fitted.score(X) > 0.9
    assert fitted.history_[-1]["nmse"] < fitted.history_[0]["nmse"]
    assert len(fitted.history_) == fitted.n_iter_ == 30
    assert set(fitted.history_[0]) == {
        "epoch",
        "loss",
        "nmse",
        "aux_loss",
        "dead_fraction",
        "n_samples",
        "n_steps",
    }


def test_decoder_rows_unit_norm_after_training(fitted):
    np.testing.assert_allclose(np.linalg.norm(fitted.components_, axis=1), 1, atol=1e-5)


def test_pre_bias_starts_at_geometric_median(planted):
    X, _ = planted
    sae = small_sae(normalize="none", lr=1e-12, max_epochs=1).fit(X)
    median = _sae.geometric_median(torch.from_numpy(X)).numpy()
    np.testing.assert_allclose(sae.pre_bias_, median, atol=1e-4)


def test_inverse_transform_and_reconstruct_agree(fitted, planted):
    X, _ = planted
    codes = fitted.transform(X[:50])
    np.testing.assert_allclose(
        fitted.inverse_transform(codes), fitted.reconstruct(X[:50]), atol=1e-5
    )
    np.testing.assert_allclose(
        fitted.inverse_transform(sp.csr_matrix(codes)),
        fitted.inverse_transform(codes),
        atol=1e-6,
    )


def test_dead_latents_are_those_that_never_fired():
    X, _ = make_planted(600, 40, 8, 2)
    # A negligible learning rate keeps the weights fixed, so the latents that
    # fired in the epoch are exactly those active in transform.
    sae = small_sae(n_latents=64, k=2, lr=1e-12, max_epochs=1, batch_size=600).fit(X)
    never_active = np.flatnonzero((sae.transform(X) > 0).sum(axis=0) == 0)
    np.testing.assert_array_equal(sae.dead_latents_, never_active)
    assert sae.history_[-1]["dead_fraction"] == pytest.approx(len(never_active) / 64)


def test_aux_loss_revives_dead_latents():
    # 512 atoms but 256 latents and a high learning rate: without AuxK about
    # a third of the latents die; with it most come back and fidelity improves.
    X, _ = make_planted(3000, 512, 32, 4)
    common = dict(
        n_latents=256,
        k=4,
        lr=3e-2,
        max_epochs=20,
        batch_size=100,
        dead_samples_threshold=1000,
    )
    without = small_sae(aux_k=0, **common).fit(X)
    with_aux = small_sae(aux_k=32, **common).fit(X)
    assert len(without.dead_latents_) > 50
    assert len(with_aux.dead_latents_) < len(without.dead_latents_) / 2
    assert with_aux.score(X) > without.score(X)
    assert with_aux.history_[-1]["aux_loss"] > 0
    assert without.history_[-1]["aux_loss"] == 0


def test_partial_fit_streams_to_fit_quality(planted):
    X, _ = planted
    params = dict(n_latents=96, k=3, lr=4e-3, batch_size=128)
    fitted = small_sae(max_epochs=15, **params).fit(X)
    streamed = small_sae(**params)
    for _ in range(15):
        for chunk in np.array_split(X, 5):
            streamed.partial_fit(chunk)
    assert streamed.n_iter_ == 75 and len(streamed.history_) == 75
    assert streamed.n_steps_ == 15 * sum(
        -(-len(c) // 128) for c in np.array_split(X, 5)
    )
    assert streamed.score(X) > fitted.score(X) - 0.05


def test_partial_fit_keeps_optimizer_state_across_pickling(planted):
    X, _ = planted
    first, second = X[:1000], X[1000:]
    straight = small_sae().partial_fit(first).partial_fit(second)
    resumed = pickle.loads(pickle.dumps(small_sae().partial_fit(first)))
    resumed.partial_fit(second)
    np.testing.assert_array_equal(straight.components_, resumed.components_)
    np.testing.assert_array_equal(
        straight.samples_since_fired_, resumed.samples_since_fired_
    )


def test_reproducible_and_leaves_global_rng_alone(planted):
    X, _ = planted
    # The legacy global NumPy state is what random_state=None would draw from.
    torch_state = torch.get_rng_state()
    numpy_state = np.random.get_state()  # noqa: NPY002
    a = small_sae(random_state=3).fit(X)
    b = small_sae(random_state=3).fit(X)
    c = small_sae(random_state=4).fit(X)
    np.testing.assert_array_equal(a.components_, b.components_)
    np.testing.assert_array_equal(a.transform(X), b.transform(X))
    assert not np.allclose(a.components_, c.components_)
    assert torch.equal(torch.get_rng_state(), torch_state)
    assert np.array_equal(np.random.get_state()[1], numpy_state[1])  # noqa: NPY002


# --------------------------------------------------------------- steering


@pytest.mark.parametrize("normalize", ["scale", "layer_norm"])
def test_steering_semantics(planted, normalize):
    X, _ = planted
    X = X[:30]
    sae = small_sae(normalize=normalize, max_epochs=2).fit(planted[0])
    codes = sae.transform(X).astype(np.float64)
    if normalize == "layer_norm":
        row_scale = X.std(axis=1, ddof=1)[:, None] + 1e-5
    else:
        row_scale = sae.input_scale_
    direction = sae.components_[5].astype(np.float64) * row_scale
    cases = {
        "value": (dict(value=2.0), 2.0 - codes[:, 5]),
        "delta": (dict(delta=-0.5), np.full(len(X), -0.5)),
        "scale": (dict(scale=3.0), 2.0 * codes[:, 5]),
    }
    for edit, change in cases.values():
        steered = sae.steer(X, 5, **edit)
        np.testing.assert_allclose(steered - X, change[:, None] * direction, atol=1e-5)
        # The residual is kept: steered minus the steered decode is x - x_hat.
        residual = X - sae.reconstruct(X)
        np.testing.assert_allclose(
            steered - (sae.reconstruct(X) + change[:, None] * direction),
            residual,
            atol=1e-5,
        )
    np.testing.assert_allclose(sae.steer(X, 5, delta=0.0), X, atol=1e-6)
    np.testing.assert_allclose(sae.steer(X, [1, 2], scale=1.0), X, atol=1e-6)


def test_steering_several_latents_moves_only_their_span(fitted, planted):
    X = planted[0][:20]
    steered = fitted.steer(X, [3, 7], delta=[1.0, -2.0])
    moved = steered - X
    directions = fitted.components_[[3, 7]] * fitted.input_scale_
    np.testing.assert_allclose(
        moved, [1.0, -2.0] @ directions * np.ones((20, 1)), atol=1e-5
    )
    # Per-sample edits, shape (n_samples, n_latents).
    values = np.linspace(0, 1, 40).reshape(20, 2)
    steered = fitted.steer(X, [3, 7], value=values)
    codes = fitted.transform(X)[:, [3, 7]]
    np.testing.assert_allclose(steered - X, (values - codes) @ directions, atol=1e-5)


# ------------------------------------------------------ sklearn contract


def test_sparse_output_matches_dense(fitted, planted):
    X = planted[0][:100]
    dense = fitted.transform(X)
    sparse = clone(fitted).set_params(output="sparse")
    sparse.__dict__.update(
        {
            k: v
            for k, v in fitted.__dict__.items()
            if k.endswith("_") or k.startswith("_")
        }
    )
    codes = sparse.transform(X)
    assert sp.issparse(codes) and codes.format == "csr"
    assert np.diff(codes.indptr).max() <= 3
    np.testing.assert_array_equal(codes.toarray(), dense)


def test_float64(planted):
    X = planted[0]
    sae = small_sae(dtype="float64").fit(X)
    assert sae.transform(X).dtype == np.float64
    assert sae.components_.dtype == np.float64
    assert sae.inverse_transform(sae.transform(X[:3])).dtype == np.float64


def test_pipeline_grid_search_over_k_and_n_latents():
    rng = np.random.default_rng(0)
    X, _ = make_planted(300, 24, 8, 2)
    y = (X @ rng.standard_normal(8) > np.median(X @ rng.standard_normal(8))).astype(int)
    pipeline = make_pipeline(small_sae(max_epochs=2), LogisticRegression(max_iter=500))
    search = GridSearchCV(
        pipeline,
        {
            "topksparseautoencoder__k": [2, 4],
            "topksparseautoencoder__n_latents": [16, 32],
        },
        cv=2,
    )
    search.fit(X, y)
    assert set(search.best_params_) == {
        "topksparseautoencoder__k",
        "topksparseautoencoder__n_latents",
    }
    assert search.predict(X).shape == (300,)


def test_clone_and_joblib_round_trip(fitted, planted, tmp_path):
    X = planted[0][:50]
    copy = clone(fitted)
    assert copy.get_params() == fitted.get_params()
    assert not hasattr(copy, "components_")
    joblib.dump(fitted, tmp_path / "sae.joblib")
    loaded = joblib.load(tmp_path / "sae.joblib")
    assert "_model" not in loaded.__dict__
    np.testing.assert_array_equal(loaded.transform(X), fitted.transform(X))
    np.testing.assert_array_equal(
        loaded.steer(X, 1, value=1.0), fitted.steer(X, 1, value=1.0)
    )


def test_pickled_state_holds_only_cpu_tensors(fitted):
    state = fitted.__getstate__()
    tensors = []

    def collect(obj):
        if isinstance(obj, torch.Tensor):
            tensors.append(obj)
        elif isinstance(obj, dict):
            for value in obj.values():
                collect(value)
        elif isinstance(obj, list | tuple):
            for value in obj:
                collect(value)

    collect(state)
    assert all(t.device.type == "cpu" for t in tensors)
    assert not any(isinstance(v, torch.nn.Module) for v in state.values())


def test_pandas_output(fitted, planted):
    frame = clone(fitted).set_output(transform="pandas").fit(planted[0][:200])
    out = frame.transform(planted[0][:5])
    assert list(out.columns[:2]) == ["latent_0", "latent_1"] and out.shape == (5, 96)


# ------------------------------------------------------------------ errors


def test_errors(fitted, planted):
    X = planted[0]
    bad = X[:10].copy()
    bad[3, 2] = np.nan
    with pytest.raises(ValueError, match="NaN|infinity"):
        small_sae().fit(bad)
    bad[3, 2] = np.inf
    with pytest.raises(ValueError, match="NaN|infinity"):
        fitted.transform(bad)
    with pytest.raises(ValueError, match="32 features"):
        fitted.transform(X[:, :5])
    with pytest.raises(ValueError, match="cannot exceed n_latents=8"):
        small_sae(n_latents=8, k=9).fit(X)
    with pytest.raises(InvalidParameterError, match="'k' parameter"):
        small_sae(k=0).fit(X)
    with pytest.raises(ValueError, match="0 sample"):
        small_sae().fit(X[:0])
    with pytest.raises(ValueError, match="out of range: this autoencoder has 96"):
        fitted.steer(X[:2], 96, value=1.0)
    with pytest.raises(ValueError, match="out of range"):
        fitted.steer(X[:2], [-1], value=1.0)
    with pytest.raises(ValueError, match="exactly one of value"):
        fitted.steer(X[:2], 1, value=1.0, delta=1.0)
    with pytest.raises(ValueError, match="exactly one of value"):
        fitted.steer(X[:2], 1)
    with pytest.raises(NotFittedError):
        small_sae().transform(X)
    with pytest.raises(ValueError, match="shape \\(n_samples, 96\\)"):
        fitted.inverse_transform(np.ones((2, 5)))


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_absent_error(planted):
    with pytest.raises(RuntimeError, match="no CUDA device"):
        small_sae(device="cuda").fit(planted[0])


# -------------------------- extreme magnitudes and edits (issue 13, items 2, 10)


@pytest.mark.parametrize("factor", [1e-200, 1e-30, 1e30, 1e200])
def test_scale_normalisation_is_scale_free(planted, factor):
    """Before: 1e200 gave all-zero latents and score NaN, 1e-200 a ZeroDivisionError."""
    X = planted[0][:300]
    sae = small_sae(dtype="float64")
    reference = clone(sae).fit(X)
    scaled = clone(sae).fit(X * factor)
    np.testing.assert_allclose(
        scaled.transform(X * factor), reference.transform(X), rtol=1e-6, atol=1e-9
    )
    assert scaled.score(X * factor) == pytest.approx(reference.score(X), rel=1e-6)
    assert scaled.transform(X * factor).any()


def test_float32_outputs_beyond_float32_are_refused(planted):
    X = planted[0][:300] * 1e200
    sae = small_sae().fit(X)  # float32: codes are in normalised units, fine
    codes = sae.transform(X)
    assert codes.any() and np.isfinite(sae.score(X))
    with pytest.raises(ValueError, match="beyond what float32 holds"):
        sae.reconstruct(X)
    with pytest.raises(ValueError, match="beyond what float32 holds"):
        sae.inverse_transform(codes)
    with pytest.raises(ValueError, match="beyond what float32 holds"):
        sae.steer(X, 1, delta=1.0)


def test_layer_norm_at_large_magnitudes_and_its_epsilon(planted):
    X = planted[0][:300]
    sae = small_sae(normalize="layer_norm", dtype="float64")
    np.testing.assert_allclose(
        clone(sae).fit(X * 1e200).transform(X * 1e200),
        clone(sae).fit(X * 1e5).transform(X * 1e5),
        rtol=1e-6,
        atol=1e-9,
    )
    with pytest.raises(ValueError, match="standard deviation below that epsilon"):
        clone(sae).fit(X * 1e-8)


@pytest.mark.parametrize(
    "dtype, factor", [("float32", 1e30), ("float64", 1e200), ("float64", 1e-300)]
)
def test_unnormalised_training_out_of_range_is_refused(planted, dtype, factor):
    X = planted[0][:300] * factor
    with pytest.raises(ValueError, match=f"{dtype} training needs values below"):
        small_sae(normalize="none", dtype=dtype).fit(X)


def test_divergence_names_lr(planted):
    """Before: lr=1e6 trained to a loss of about 1e25 in silence."""
    with pytest.raises(ValueError, match=r"diverged.*lr=1000000\.0 is too large"):
        small_sae(lr=1e6).fit(planted[0][:300])


def test_fewer_samples_than_k_warns(planted):
    X = planted[0]
    with pytest.warns(UserWarning, match="2 sample.*k=3"):
        small_sae().fit(X[:2])
    with pytest.warns(UserWarning, match="1 sample"):
        small_sae(k=1).fit(X[:1])


def test_steering_to_negative_activations_is_refused(fitted, planted):
    X = planted[0][:5]
    with pytest.raises(ValueError, match="value must be nonnegative"):
        fitted.steer(X, 3, value=-5)
    with pytest.raises(ValueError, match="scale must be nonnegative"):
        fitted.steer(X, 3, scale=-1.0)
    # A negative delta is a displacement against the direction: allowed.
    assert np.isfinite(fitted.steer(X, 3, delta=-5.0)).all()
    codes = fitted.transform(X)
    codes[0, np.flatnonzero(codes[0])[0]] = -1.0
    with pytest.raises(ValueError, match="codes must be nonnegative"):
        fitted.inverse_transform(codes)


# ------------------------------------ BatchTopK and Matryoshka (issue 17)


def dense_variant_loss(model, x, code_mask, sizes, mse_scale):
    """Mean over prefixes of the normalised MSE, through dense autograd."""
    pre = (x - model.pre_bias) @ model.encoder_weight.T + model.encoder_bias
    code = pre.relu() * code_mask
    losses = []
    for size in sizes:
        prefix = code[:, :size] @ model.decoder_weight[:size] + model.pre_bias
        losses.append(((prefix - x) ** 2).mean() * mse_scale)
    return torch.stack(losses).mean()


@pytest.mark.parametrize(
    "sparsity, sizes", [("batch_topk", None), ("topk", [5, 12]), ("batch_topk", [3])]
)
def test_variant_sparse_backward_matches_dense_autograd(sparsity, sizes):
    generator = torch.Generator().manual_seed(0)
    x = torch.randn(40, 12, generator=generator, dtype=torch.float64)
    model = _sae.TopKSAE(
        12,
        30,
        4,
        sparsity=sparsity,
        matryoshka_sizes=None if sizes is None else [*sizes, 30],
        dtype=torch.float64,
    )
    _sae.initialize_from_data(model, x, generator)
    with torch.no_grad():
        model.encoder_bias.copy_(torch.randn(30, generator=generator) * 0.1)

    loss, _, _, latents, values = _sae.compute_loss(model, x, mse_scale=1.7)
    loss.backward()
    ours = {name: p.grad.clone() for name, p in model.named_parameters()}
    model.zero_grad()

    pre = model.pre_activations(x)
    if sparsity == "batch_topk":
        # The k * B largest of the whole batch: counts vary per sample.
        flat = torch.topk(pre.reshape(-1), 4 * 40).indices
        mask = torch.zeros(40 * 30, dtype=torch.float64)
        mask[flat] = 1.0
        mask = mask.reshape(40, 30)
        assert len(set(mask.sum(1).tolist())) > 1
    else:
        mask = torch.zeros_like(pre).scatter(1, torch.topk(pre, 4, dim=1).indices, 1.0)
    assert len(latents) == int(mask.sum())
    reference = dense_variant_loss(model, x, mask, [*(sizes or []), 30], 1.7)
    reference.backward()
    torch.testing.assert_close(loss, reference)
    for name, parameter in model.named_parameters():
        torch.testing.assert_close(ours[name], parameter.grad, msg=name)


def test_core_rejects_bad_variants():
    with pytest.raises(ValueError, match="sparsity"):
        _sae.TopKSAE(4, 8, 2, sparsity="jump")
    with pytest.raises(ValueError, match="increase and end at n_latents=8"):
        _sae.TopKSAE(4, 8, 2, matryoshka_sizes=[4, 6])


@pytest.fixture(scope="module")
def batch_topk(planted):
    X, _ = planted
    return TopKSparseAutoencoder(sparsity="batch_topk", **PLANTED_PARAMS).fit(X)


def test_batch_topk_mean_l0_near_k_and_varies(batch_topk, planted):
    X, _ = planted
    codes = batch_topk.transform(X)
    l0 = (codes > 0).sum(axis=1)
    # The threshold stands in for the batch selection: k on average.
    assert 2.5 <= l0.mean() <= 3.5
    assert l0.max() > 3  # rows that need more latents get more
    assert batch_topk.threshold_ > 0
    assert batch_topk.score(X) > 0.9
    # The threshold is applied: every nonzero activation lies above it.
    assert codes[codes > 0].min() > batch_topk.threshold_ * (1 - 1e-6)


def test_batch_topk_transform_is_per_sample(batch_topk, planted):
    X, _ = planted
    together = batch_topk.transform(X[:50])
    alone = np.vstack([batch_topk.transform(X[i : i + 1]) for i in range(50)])
    # Same codes (up to float32 rounding of differently blocked products).
    np.testing.assert_array_equal(together > 0, alone > 0)
    np.testing.assert_allclose(together, alone, rtol=1e-5, atol=1e-5)
    other_batches = clone_fitted(batch_topk).set_params(batch_size=7)
    np.testing.assert_allclose(
        other_batches.transform(X[:50]), together, rtol=1e-5, atol=1e-5
    )


def test_batch_topk_sparse_output_steer_and_names(batch_topk, planted):
    X, _ = planted
    dense = batch_topk.transform(X[:40])
    sparse = clone_fitted(batch_topk).set_params(output="sparse")
    codes = sparse.transform(X[:40])
    assert sp.issparse(codes) and codes.nnz == np.count_nonzero(dense)
    np.testing.assert_allclose(codes.toarray(), dense)
    latent = int(np.argmax((dense > 0).sum(0)))
    steered = batch_topk.steer(X[:40], latent, delta=0.5)
    moved = steered - X[:40]
    expected = 0.5 * batch_topk.components_[latent] * batch_topk.input_scale_
    np.testing.assert_allclose(moved, np.broadcast_to(expected, moved.shape), atol=1e-5)
    names = batch_topk.get_feature_names_out()
    assert len(names) == 96 and names[0] == "latent_0"


def prefix_fvu(sae, X, size):
    """Fraction of variance unexplained when only latents below ``size`` decode."""
    codes = sae.transform(X)
    codes[:, size:] = 0
    error = ((X - sae.inverse_transform(codes)) ** 2).sum()
    return error / ((X - X.mean(0)) ** 2).sum()


@pytest.fixture(scope="module")
def skewed():
    """Planted atoms used with Zipf-like frequencies: a few explain most."""
    rng = np.random.default_rng(0)
    atoms = rng.standard_normal((48, 32))
    atoms /= np.linalg.norm(atoms, axis=1, keepdims=True)
    frequency = 1.0 / np.arange(1, 49) ** 1.5
    codes = np.zeros((2000, 48))
    for row in codes:
        chosen = rng.choice(48, 3, replace=False, p=frequency / frequency.sum())
        row[chosen] = rng.uniform(0.5, 1.5, 3)
    return codes @ atoms + 0.3


@pytest.mark.parametrize("sparsity", ["topk", "batch_topk"])
def test_matryoshka_prefixes_each_reconstruct(skewed, sparsity):
    X = skewed
    params = dict(PLANTED_PARAMS, sparsity=sparsity)
    nested = TopKSparseAutoencoder(matryoshka_sizes=[4, 16, 48], **params).fit(X)
    plain = TopKSparseAutoencoder(**params).fit(X)
    np.testing.assert_array_equal(nested.matryoshka_sizes_, [4, 16, 48, 96])
    fvus = [prefix_fvu(nested, X, size) for size in (4, 16, 48, 96)]
    # Each prefix reconstructs on its own, better the larger it is (measured:
    # 0.67, 0.30, 0.12, 0.06 for topk); a plain model's first 16 latents are
    # no such summary (0.85), and the full code costs little (0.054).
    assert fvus[0] > fvus[1] > fvus[2] > fvus[3]
    assert fvus[1] < 0.4
    assert fvus[1] < 0.5 * prefix_fvu(plain, X, 16)
    assert fvus[3] < prefix_fvu(plain, X, 96) + 0.03
    assert all(np.isfinite(record["loss"]) for record in nested.history_)


def test_variants_partial_fit_continues(planted):
    X, _ = planted
    sae = small_sae(sparsity="batch_topk", matryoshka_sizes=[8], lr=4e-3)
    for chunk in np.array_split(X, 4):
        sae.partial_fit(chunk)
    first_threshold, first_updates = sae.threshold_, sae._threshold_updates
    assert first_updates == sum(len(range(0, len(c), 64)) for c in np.array_split(X, 4))
    restored = pickle.loads(pickle.dumps(sae))
    restored.partial_fit(X[:500])
    assert restored._threshold_updates == first_updates + 8
    assert restored.threshold_ != first_threshold
    assert restored.n_iter_ == 5
    np.testing.assert_array_equal(restored.matryoshka_sizes_, [8, 32])


def test_variant_parameter_errors(planted, batch_topk):
    X = planted[0][:200]
    with pytest.raises(InvalidParameterError, match="'sparsity' parameter"):
        small_sae(sparsity="jumprelu").fit(X)
    with pytest.raises(ValueError, match="strictly increasing.*got \\[8, 8\\]"):
        small_sae(matryoshka_sizes=[8, 8]).fit(X)
    with pytest.raises(ValueError, match="between 1 and n_latents=32, got \\[8, 40\\]"):
        small_sae(matryoshka_sizes=[8, 40]).fit(X)
    with pytest.raises(ValueError, match="between 1"):
        small_sae(matryoshka_sizes=[0, 8]).fit(X)
    with pytest.raises(ValueError, match="non-empty list of integers"):
        small_sae(matryoshka_sizes=[2.5]).fit(X)
    with pytest.raises(ValueError, match="non-empty list of integers"):
        small_sae(matryoshka_sizes=[]).fit(X)
    with pytest.raises(ValueError, match="sparsity was changed to 'topk'"):
        clone_fitted(batch_topk).set_params(sparsity="topk").transform(X)
    sae = small_sae(matryoshka_sizes=[8]).fit(X)
    with pytest.raises(ValueError, match="matryoshka_sizes was changed"):
        sae.set_params(matryoshka_sizes=[4]).partial_fit(X)
    # After unpickling too: the fitted k, not the parameter, builds the model.
    restored = pickle.loads(pickle.dumps(small_sae().fit(X)))
    with pytest.raises(ValueError, match="k was changed to 5"):
        restored.set_params(k=5).transform(X)


def clone_fitted(sae):
    return pickle.loads(pickle.dumps(sae))
