"""TopK sparse autoencoder in PyTorch: model, initialisation and training steps.

The math follows Gao et al. (2024), "Scaling and evaluating sparse
autoencoders" (their reference code: ``openai/sparse_autoencoder``)::

    pre     = W_enc (x - b_pre) + b_enc
    z       = ReLU(TopK_k(pre))           # k largest pre-activations, others 0
    x_hat   = W_dec^T z + b_pre           # rows of W_dec are unit norm

* ``b_pre`` starts at the geometric median of (a sample of) the data.
* Decoder rows are random unit vectors; the encoder starts as their transpose,
  scaled so that reconstructions of random inputs have the inputs' norm.
* Loss: MSE normalised by the data variance, plus ``aux_coef`` times the AuxK
  loss: the ``aux_k`` largest pre-activations among dead latents (not fired
  for ``dead_threshold`` training samples) must reconstruct the residual
  ``x - x_hat``, normalised by the residual's variance.
* After each backward pass the gradient component parallel to each decoder row
  is projected out; after each Adam step the rows are renormalised.

Nothing here knows about scikit-learn: the estimator in ``sae.py`` is a thin
shell, and ``benchmarks/bench_sae.py`` times these functions directly.

Why a hand-written loop rather than skorch: each step must project the decoder
gradient, renormalise the decoder and update the dead-latent counters between
backward and the next forward, and ``partial_fit`` must keep the optimizer and
counters between calls. That is a dozen lines here; in skorch it would mean
overriding ``train_step`` and the optimizer plumbing, i.e. the same code plus
an indirection.

Why the encoder and decoder are sparse after TopK: only ``k`` of the ``L``
latents are nonzero per sample, so the selected pre-activations are recomputed
with gradient from the ``k`` gathered encoder rows (``B k d`` work instead of
the ``B L d`` of backpropagating through the dense pre-activations), and the
decoder is an ``embedding_bag`` over the ``k`` active rows instead of a dense
``(B, L) @ (L, d)`` product. The dense pre-activations are computed once,
without autograd, only to pick the top ``k``.
"""

import math

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

# Adam's epsilon in the reference implementation; tiny because the gradients
# of a normalised loss over many latents are small.
ADAM_EPS = 6.25e-10


# ------------------------------------------------------------------ median


def geometric_median(X, *, max_iter=500, tol=1e-10, eps=1e-12):
    """Geometric median of the rows of ``X`` by Weiszfeld's algorithm.

    Minimises ``sum_i ||x_i - m||``. Distances are floored at ``eps`` (times
    the data scale) so an iterate that lands on a data point stays finite.

    Parameters
    ----------
    X : torch.Tensor of shape (n_samples, n_features)
    max_iter : int
        Maximum Weiszfeld iterations.
    tol : float
        Stop when the step is below ``tol`` times the data scale.
    eps : float
        Relative floor on distances.

    Returns
    -------
    median : torch.Tensor of shape (n_features,), float64
    """
    X = torch.as_tensor(X).to(torch.float64)
    median = X.mean(dim=0)
    scale = float((X - median).norm(dim=1).mean()) or 1.0
    for _ in range(max_iter):
        distances = (X - median).norm(dim=1).clamp_min(eps * scale)
        weights = 1.0 / distances
        updated = (weights[:, None] * X).sum(dim=0) / weights.sum()
        step = float((updated - median).norm())
        median = updated
        if step <= tol * scale:
            break
    return median


# ------------------------------------------------------------------- model


class TopKSAE(nn.Module):
    """TopK sparse autoencoder (parameters, buffers and the forward math).

    Parameters
    ----------
    n_features : int
        Input dimension ``d``.
    n_latents : int
        Dictionary size ``L``.
    k : int
        Active latents per sample.
    dtype : torch.dtype
    device : torch.device or str
    """

    def __init__(self, n_features, n_latents, k, *, dtype=torch.float32, device="cpu"):
        super().__init__()
        options = {"dtype": dtype, "device": device}
        self.k = int(k)
        self.pre_bias = nn.Parameter(torch.zeros(n_features, **options))
        self.encoder_weight = nn.Parameter(
            torch.zeros(n_latents, n_features, **options)
        )
        self.encoder_bias = nn.Parameter(torch.zeros(n_latents, **options))
        # Rows are the latent directions: (L, d), so decoding is an
        # embedding_bag over active rows.
        self.decoder_weight = nn.Parameter(
            torch.zeros(n_latents, n_features, **options)
        )
        # Training samples seen since each latent last fired (Gao et al. count
        # steps; samples make the threshold independent of the batch size).
        self.register_buffer(
            "samples_since_fired",
            torch.zeros(n_latents, dtype=torch.long, device=device),
        )

    @property
    def n_latents(self):
        return self.encoder_weight.shape[0]

    @torch.no_grad()
    def pre_activations(self, x):
        """Dense pre-activations ``W_enc (x - b_pre) + b_enc``, without autograd."""
        return torch.addmm(self.encoder_bias, x - self.pre_bias, self.encoder_weight.T)

    @torch.no_grad()
    def encode(self, x, k=None):
        """Indices and values of the active latents: two (B, k) tensors.

        TopK on the pre-activations then ReLU, the order of the reference
        implementation (it equals ReLU then TopK: ReLU is monotone). Values
        may be zero when fewer than ``k`` pre-activations are positive.
        """
        values, indices = torch.topk(self.pre_activations(x), k or self.k, dim=1)
        return indices, values.clamp_min_(0.0)

    def decode(self, indices, values):
        """``W_dec^T z + b_pre`` from the sparse code, as an embedding bag."""
        decoded = F.embedding_bag(
            indices, self.decoder_weight, per_sample_weights=values, mode="sum"
        )
        return decoded + self.pre_bias

    def selected_pre_activations(self, x, pre, indices):
        """``pre`` at ``indices`` (B, m), differentiable w.r.t. the parameters.

        ``pre`` are the dense pre-activations of ``x`` computed without
        autograd; the backward pass touches only the selected entries.
        """
        return _SelectedPreActivations.apply(
            x, self.pre_bias, self.encoder_weight, self.encoder_bias, pre, indices
        )

    @torch.no_grad()
    def normalize_decoder_(self):
        """Rescale decoder rows to unit norm (a zero row stays zero)."""
        norms = self.decoder_weight.norm(dim=1, keepdim=True)
        self.decoder_weight.div_(norms.clamp_min_(torch.finfo(norms.dtype).tiny))

    @torch.no_grad()
    def project_decoder_grad_(self):
        """Remove the gradient component parallel to each (unit) decoder row."""
        grad = self.decoder_weight.grad
        if grad is not None:
            parallel = (grad * self.decoder_weight).sum(dim=1, keepdim=True)
            grad.sub_(parallel * self.decoder_weight)


class _SelectedPreActivations(torch.autograd.Function):
    """Gather selected pre-activations; backward as a sparse outer product.

    With ``g`` the (B, m) gradient of the selected values and ``S`` the sparse
    (L, B) matrix holding ``g`` at (latent, sample), the gradients are
    ``dW_enc = S (x - b_pre)``, ``db_enc = S 1`` and ``db_pre = -db_enc W_enc``
    (the reference implementation's trick: reduce before the mat-vec): work in
    ``B m d`` rather than the dense ``B L d``.
    """

    @staticmethod
    def forward(ctx, x, pre_bias, encoder_weight, encoder_bias, pre, indices):
        ctx.save_for_backward(x, pre_bias, encoder_weight, indices)
        return pre.gather(1, indices)

    @staticmethod
    def backward(ctx, grad_values):
        x, pre_bias, encoder_weight, indices = ctx.saved_tensors
        n_samples, n_selected = indices.shape
        n_latents = encoder_weight.shape[0]
        latents = indices.reshape(-1)
        grads = grad_values.reshape(-1).to(encoder_weight.dtype)
        grad_bias = torch.zeros(
            n_latents, dtype=encoder_weight.dtype, device=encoder_weight.device
        ).index_add_(0, latents, grads)
        grad_weight = None
        if ctx.needs_input_grad[2]:
            samples = torch.arange(n_samples, device=indices.device)
            samples = samples.repeat_interleave(n_selected)
            selection = torch.sparse_coo_tensor(
                torch.stack([latents, samples]),
                grads,
                (n_latents, n_samples),
                check_invariants=False,
            )
            grad_weight = torch.sparse.mm(selection, x - pre_bias)
        grad_pre_bias = -(grad_bias @ encoder_weight)
        return None, grad_pre_bias, grad_weight, grad_bias, None, None


@torch.no_grad()
def initialize_from_data(model, sample, generator):
    """Gao et al.'s initialisation, from a sample of (normalised) training data.

    ``b_pre`` at the geometric median of ``sample``; decoder rows uniformly
    random unit vectors; encoder = decoder transpose, scaled so that random
    unit inputs around ``b_pre`` come back with unit norm; zero latent bias.
    """
    device, dtype = model.pre_bias.device, model.pre_bias.dtype
    n_latents, n_features = model.decoder_weight.shape
    model.pre_bias.copy_(geometric_median(sample.cpu()).to(device, dtype))
    directions = torch.randn(
        n_latents, n_features, generator=generator, dtype=torch.float64
    )
    directions /= directions.norm(dim=1, keepdim=True)
    model.decoder_weight.copy_(directions.to(device, dtype))
    model.encoder_weight.copy_(model.decoder_weight)
    model.encoder_bias.zero_()
    model.samples_since_fired.zero_()

    probes = torch.randn(256, n_features, generator=generator, dtype=torch.float64)
    probes = (probes / probes.norm(dim=1, keepdim=True)).to(device, dtype)
    indices, values = model.encode(probes + model.pre_bias)
    norm = float((model.decode(indices, values) - model.pre_bias).norm(dim=1).mean())
    if norm > 0:
        model.encoder_weight.div_(norm)


def make_optimizer(model, lr):
    """Adam with the reference epsilon; fused on devices that support it."""
    options = {"lr": lr, "eps": ADAM_EPS}
    try:
        return torch.optim.Adam(model.parameters(), fused=True, **options)
    except (RuntimeError, TypeError, ValueError):
        return torch.optim.Adam(model.parameters(), foreach=True, **options)


def data_variance(X):
    """Mean squared deviation from the column means: the MSE of predicting the mean."""
    X = torch.as_tensor(X).to(torch.float64)
    return float(((X - X.mean(dim=0)) ** 2).mean())


def data_spread(X):
    """Root of :func:`data_variance`, at any magnitude.

    The data are divided by their largest magnitude first, so the squares
    neither overflow (float64 data near ``1e155``) nor underflow (near
    ``1e-160``).
    """
    X = torch.as_tensor(X).to(torch.float64)
    largest = float(X.abs().max()) if X.numel() else 0.0
    if largest == 0:
        return 0.0
    return math.sqrt(data_variance(X / largest)) * largest


# ---------------------------------------------------------------- training


def _normalized_mse(reconstruction, target):
    """MSE over the MSE of predicting the batch mean (0 when that is 0)."""
    baseline = ((target - target.mean(dim=0)) ** 2).mean()
    mse = ((reconstruction - target) ** 2).mean()
    return torch.nan_to_num(mse / baseline, nan=0.0, posinf=0.0)


def _aux_code(pre, dead_mask, aux_k):
    """Indices of the ``aux_k`` largest pre-activations among dead latents."""
    dead = torch.nonzero(dead_mask).squeeze(1)
    n_aux = min(aux_k, len(dead))
    _, local = torch.topk(pre.index_select(1, dead), n_aux, dim=1, sorted=False)
    return dead[local]


def compute_loss(model, x, *, mse_scale, aux_k=0, aux_coef=0.0, dead_threshold=None):
    """Forward pass and loss on a minibatch, ready for ``loss.backward()``.

    Parameters
    ----------
    model : TopKSAE
    x : torch.Tensor of shape (batch, n_features)
        Normalised inputs on the model's device and dtype.
    mse_scale : float
        ``1 / data variance``: makes the MSE term a normalised MSE.
    aux_k, aux_coef : int, float
        AuxK loss on dead latents; off when either is 0.
    dead_threshold : int or None
        Samples without firing after which a latent counts as dead.

    Returns
    -------
    loss, scaled_mse, aux_loss : torch.Tensor (0-d)
        Total loss (with graph), and its two terms (detached).
    indices, values : torch.Tensor of shape (batch, k)
        The TopK code (values detached).
    """
    pre = model.pre_activations(x)
    _, indices = torch.topk(pre, model.k, dim=1, sorted=False)

    # Dead latents (before this batch's update, as in the reference): those
    # not fired for more than dead_threshold samples.
    aux_indices = None
    if aux_k and aux_coef and dead_threshold is not None:
        dead_mask = model.samples_since_fired > dead_threshold
        if bool(dead_mask.any()):
            aux_indices = _aux_code(pre, dead_mask, aux_k)

    # One sparse backward for the TopK and AuxK selections together.
    selected = indices if aux_indices is None else torch.cat([indices, aux_indices], 1)
    selected_values = model.selected_pre_activations(x, pre, selected).relu()
    del pre
    values = selected_values[:, : model.k]
    reconstruction = model.decode(indices, values)
    scaled_mse = ((reconstruction - x) ** 2).mean() * mse_scale
    loss = scaled_mse
    aux_loss = torch.zeros((), dtype=x.dtype, device=x.device)
    if aux_indices is not None:
        aux_reconstruction = F.embedding_bag(
            aux_indices,
            model.decoder_weight,
            per_sample_weights=selected_values[:, model.k :],
            mode="sum",
        )
        aux_loss = _normalized_mse(aux_reconstruction, x - reconstruction.detach())
        loss = loss + aux_coef * aux_loss
    return loss, scaled_mse.detach(), aux_loss.detach(), indices, values.detach()


def training_step(model, optimizer, x, **loss_options):
    """One Adam step on a minibatch, keeping the decoder rows unit norm.

    ``loss_options`` are those of :func:`compute_loss`.

    Returns
    -------
    loss, scaled_mse, aux_loss : torch.Tensor (0-d)
        Detached and left on the device, so a loop syncs only when it reads them.
    fired : torch.Tensor of shape (n_latents,), bool
        Latents active on at least one sample of the batch.
    """
    loss, scaled_mse, aux_loss, indices, values = compute_loss(model, x, **loss_options)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    model.project_decoder_grad_()
    optimizer.step()
    model.normalize_decoder_()
    fired = _update_firing(model, indices, values, len(x))
    return loss.detach(), scaled_mse, aux_loss, fired


@torch.no_grad()
def _update_firing(model, indices, values, n_samples):
    fired = torch.zeros(model.n_latents, dtype=torch.bool, device=indices.device)
    fired[indices[values > 0]] = True
    model.samples_since_fired.add_(n_samples).masked_fill_(fired, 0)
    return fired


def train_epoch(
    model,
    optimizer,
    X,
    *,
    batch_size,
    mse_scale,
    generator=None,
    aux_k=0,
    aux_coef=0.0,
    dead_threshold=None,
    progress_bar=None,
):
    """One shuffled pass over ``X`` in minibatches.

    Parameters
    ----------
    model, optimizer, mse_scale, aux_k, aux_coef, dead_threshold
        As in :func:`training_step`.
    X : torch.Tensor of shape (n_samples, n_features)
        Normalised data, on any device: batches are moved one at a time, so
        ``X`` can stay on the CPU while the model trains on a GPU.
    batch_size : int
    generator : torch.Generator or None
        Shuffles the rows (CPU generator); ``None`` keeps the order.
    progress_bar : callable or None
        Wraps the batch iterator (e.g. a tqdm factory taking ``total``).

    Returns
    -------
    record : dict
        ``loss``, ``nmse`` (normalised MSE), ``aux_loss`` (sample-weighted
        means over the pass), ``dead_fraction`` (latents that fired on no
        sample in this pass), ``n_samples`` and ``n_steps``.
    """
    device = model.pre_bias.device
    n_samples = len(X)
    order = (
        torch.randperm(n_samples, generator=generator)
        if generator is not None
        else torch.arange(n_samples)
    )
    starts = range(0, n_samples, batch_size)
    if progress_bar is not None:
        starts = progress_bar(starts, total=math.ceil(n_samples / batch_size))
    totals = torch.zeros(3, dtype=torch.float64, device=device)
    fired_in_pass = torch.zeros(model.n_latents, dtype=torch.bool, device=device)
    for start in starts:
        rows = order[start : start + batch_size]
        x = X[rows.to(X.device)].to(device=device, dtype=model.pre_bias.dtype)
        loss, scaled_mse, aux_loss, fired = training_step(
            model,
            optimizer,
            x,
            mse_scale=mse_scale,
            aux_k=aux_k,
            aux_coef=aux_coef,
            dead_threshold=dead_threshold,
        )
        fired_in_pass |= fired
        totals += torch.stack([loss, scaled_mse, aux_loss]).double() * len(x)
    totals = (totals / max(n_samples, 1)).tolist()
    return {
        "loss": totals[0],
        "nmse": totals[1],
        "aux_loss": totals[2],
        "dead_fraction": float((~fired_in_pass).double().mean()),
        "n_samples": int(n_samples),
        "n_steps": len(range(0, n_samples, batch_size)),
        "fired": fired_in_pass,
    }


# ---------------------------------------------------------------- encoding


@torch.no_grad()
def encode_batches(model, X, *, batch_size, k=None):
    """Sparse codes of all rows of ``X`` in batches, as two numpy arrays.

    Returns
    -------
    indices : ndarray of shape (n_samples, k), int64
    values : ndarray of shape (n_samples, k), nonnegative
    """
    device, dtype = model.pre_bias.device, model.pre_bias.dtype
    k = k or model.k
    indices = np.empty((len(X), k), dtype=np.int64)
    values = np.empty((len(X), k), dtype=np.dtype(str(dtype).removeprefix("torch.")))
    for start in range(0, len(X), batch_size):
        x = torch.as_tensor(X[start : start + batch_size]).to(device, dtype)
        batch_indices, batch_values = model.encode(x, k)
        indices[start : start + len(x)] = batch_indices.cpu().numpy()
        values[start : start + len(x)] = batch_values.cpu().numpy()
    return indices, values
