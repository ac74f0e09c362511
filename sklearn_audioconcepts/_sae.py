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

Two variants share this core (``sparsity`` and ``matryoshka_sizes`` of
:class:`TopKSAE`):

* **BatchTopK** (Bussmann et al., 2024): training keeps the ``k * B``
  largest pre-activations of the whole batch, so samples get varying numbers
  of latents (``k`` on average). A running mean of the smallest positive
  selected activation per batch becomes a threshold, and encoding outside
  training keeps the pre-activations above it (a JumpReLU), row by row, so a
  code does not depend on the other rows of its batch.
* **Matryoshka** (Bussmann et al., 2025): latents ``0 .. m_i - 1`` must each
  reconstruct the input on their own, for user-given prefix sizes ``m_i``;
  the loss is the mean of the prefixes' normalised MSEs.

Codes are carried as (sample, latent) pairs in sample-major order plus each
sample's offset, so both variants keep the sparse backward and the
``embedding_bag`` decoder: a varying count per sample is just another offset.
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
        Active latents per sample (on average over a batch for BatchTopK).
    sparsity : {"topk", "batch_topk"}
        Per-sample TopK, or TopK over the batch with a learned threshold.
    matryoshka_sizes : sequence of int or None
        Increasing prefix sizes, the last equal to ``n_latents``; each
        prefix is trained to reconstruct alone. ``None``: only the full code.
    dtype : torch.dtype
    device : torch.device or str
    """

    def __init__(
        self,
        n_features,
        n_latents,
        k,
        *,
        sparsity="topk",
        matryoshka_sizes=None,
        dtype=torch.float32,
        device="cpu",
    ):
        super().__init__()
        if sparsity not in ("topk", "batch_topk"):
            raise ValueError(
                f"sparsity must be 'topk' or 'batch_topk', got {sparsity!r}"
            )
        sizes = None if matryoshka_sizes is None else tuple(map(int, matryoshka_sizes))
        if sizes is not None and (
            sizes[-1] != n_latents or any(a >= b for a, b in zip(sizes, sizes[1:]))
        ):
            raise ValueError(
                f"matryoshka_sizes must increase and end at n_latents={n_latents}, "
                f"got {list(sizes)}"
            )
        options = {"dtype": dtype, "device": device}
        self.k = int(k)
        self.sparsity = sparsity
        self.matryoshka_sizes = sizes
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
        # BatchTopK's inference threshold and the number of batches averaged
        # into it (unused by per-sample TopK).
        self.register_buffer("threshold", torch.zeros((), **options))
        self.register_buffer(
            "threshold_updates", torch.zeros((), dtype=torch.long, device=device)
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

    @torch.no_grad()
    def select(self, pre):
        """The training-time code of a batch from its dense pre-activations.

        Returns
        -------
        samples, latents : torch.Tensor of shape (n_active,), int64
            Active (sample, latent) pairs, sorted by sample.
        offsets : torch.Tensor of shape (batch,), int64
            Where each sample's pairs start (``embedding_bag`` offsets).
        """
        n_samples, n_latents = pre.shape
        if self.sparsity == "batch_topk":
            n_active = min(self.k * n_samples, pre.numel())
            _, flat = torch.topk(pre.reshape(-1), n_active, sorted=False)
            flat, _ = torch.sort(flat)
            samples = torch.div(flat, n_latents, rounding_mode="floor")
            latents = flat - samples * n_latents
        else:
            _, indices = torch.topk(pre, self.k, dim=1, sorted=False)
            samples = torch.arange(n_samples, device=pre.device)
            samples = samples.repeat_interleave(self.k)
            latents = indices.reshape(-1)
        offsets = torch.searchsorted(
            samples, torch.arange(n_samples, device=pre.device)
        )
        return samples, latents, offsets

    @torch.no_grad()
    def encode_code(self, x):
        """Inference code as (offsets, latents, values), one row at a time.

        TopK: the ``k`` largest per row (values may be 0). BatchTopK: the
        positive pre-activations above the learned ``threshold``, so a row's
        code does not depend on the rest of its batch.
        """
        if self.sparsity == "batch_topk":
            pre = self.pre_activations(x)
            active = (pre > self.threshold) & (pre > 0)
            samples, latents = torch.nonzero(active, as_tuple=True)
            values = pre[samples, latents]
            counts = active.sum(dim=1)
        else:
            indices, values = self.encode(x)
            latents, values = indices.reshape(-1), values.reshape(-1)
            counts = torch.full((len(x),), self.k, device=x.device)
        offsets = torch.zeros(len(x) + 1, dtype=torch.long, device=x.device)
        offsets[1:] = torch.cumsum(counts, 0)
        return offsets, latents, values

    @torch.no_grad()
    def update_threshold_(self, values):
        """Fold a batch's smallest positive selected activation into the threshold.

        A plain running mean over the first 100 batches, then an exponential
        one (weight 1/100), so the estimate follows the encoder as it trains
        without remembering its untrained start forever.
        """
        positive = values[values > 0]
        if not len(positive):
            return
        self.threshold_updates.add_(1)
        rate = 1.0 / self.threshold_updates.clamp(max=100).to(self.threshold.dtype)
        self.threshold.add_(rate * (positive.min() - self.threshold))

    def decode(self, indices, values):
        """``W_dec^T z + b_pre`` from the sparse code, as an embedding bag."""
        decoded = F.embedding_bag(
            indices, self.decoder_weight, per_sample_weights=values, mode="sum"
        )
        return decoded + self.pre_bias

    def selected_pre_activations(self, x, pre, samples, latents):
        """``pre[samples, latents]``, differentiable w.r.t. the parameters.

        ``pre`` are the dense pre-activations of ``x`` computed without
        autograd; the backward pass touches only the selected entries.
        """
        return _SelectedPreActivations.apply(
            x,
            self.pre_bias,
            self.encoder_weight,
            self.encoder_bias,
            pre,
            samples,
            latents,
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

    The selection is a list of (sample, latent) pairs, any number per sample
    (TopK's ``k``, BatchTopK's varying counts, AuxK's extra latents). With
    ``g`` the gradient of the selected values and ``S`` the sparse
    (L, B) matrix holding ``g`` at (latent, sample), the gradients are
    ``dW_enc = S (x - b_pre)``, ``db_enc = S 1`` and ``db_pre = -db_enc W_enc``
    (the reference implementation's trick: reduce before the mat-vec): work in
    ``n_pairs d`` rather than the dense ``B L d``.
    """

    @staticmethod
    def forward(ctx, x, pre_bias, encoder_weight, encoder_bias, pre, samples, latents):
        ctx.save_for_backward(x, pre_bias, encoder_weight, samples, latents)
        return pre[samples, latents]

    @staticmethod
    def backward(ctx, grad_values):
        x, pre_bias, encoder_weight, samples, latents = ctx.saved_tensors
        n_samples = len(x)
        n_latents = encoder_weight.shape[0]
        grads = grad_values.to(encoder_weight.dtype)
        grad_bias = torch.zeros(
            n_latents, dtype=encoder_weight.dtype, device=encoder_weight.device
        ).index_add_(0, latents, grads)
        grad_weight = None
        if ctx.needs_input_grad[2]:
            selection = torch.sparse_coo_tensor(
                torch.stack([latents, samples]),
                grads,
                (n_latents, n_samples),
                check_invariants=False,
            )
            grad_weight = torch.sparse.mm(selection, x - pre_bias)
        grad_pre_bias = -(grad_bias @ encoder_weight)
        return None, grad_pre_bias, grad_weight, grad_bias, None, None, None


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
    latents, values : torch.Tensor of shape (n_active,)
        The training code as (sample-major) pairs: latent indices and their
        activations (detached).
    """
    pre = model.pre_activations(x)
    samples, latents, offsets = model.select(pre)

    # Dead latents (before this batch's update, as in the reference): those
    # not fired for more than dead_threshold samples.
    aux_indices = None
    if aux_k and aux_coef and dead_threshold is not None:
        dead_mask = model.samples_since_fired > dead_threshold
        if bool(dead_mask.any()):
            aux_indices = _aux_code(pre, dead_mask, aux_k)

    # One sparse backward for the main and AuxK selections together.
    n_active = len(latents)
    if aux_indices is None:
        all_samples, all_latents = samples, latents
    else:
        aux_samples = torch.arange(len(x), device=x.device)
        aux_samples = aux_samples.repeat_interleave(aux_indices.shape[1])
        all_samples = torch.cat([samples, aux_samples])
        all_latents = torch.cat([latents, aux_indices.reshape(-1)])
    selected_values = model.selected_pre_activations(
        x, pre, all_samples, all_latents
    ).relu()
    del pre
    values = selected_values[:n_active]

    def reconstruct(weights):
        decoded = F.embedding_bag(
            latents,
            model.decoder_weight,
            offsets,
            per_sample_weights=weights,
            mode="sum",
        )
        return decoded + model.pre_bias

    reconstruction = reconstruct(values)
    scaled_mse = ((reconstruction - x) ** 2).mean() * mse_scale
    loss = scaled_mse
    if model.matryoshka_sizes is not None:
        # Each proper prefix decodes from its own active latents only; the
        # full code is the last prefix. The mean keeps the loss on the scale
        # of a single normalised MSE, so lr means the same with or without.
        prefix_losses = [
            ((reconstruct(values * (latents < size)) - x) ** 2).mean() * mse_scale
            for size in model.matryoshka_sizes[:-1]
        ]
        loss = torch.stack([*prefix_losses, scaled_mse]).mean()
    aux_loss = torch.zeros((), dtype=x.dtype, device=x.device)
    if aux_indices is not None:
        aux_reconstruction = F.embedding_bag(
            aux_indices,
            model.decoder_weight,
            per_sample_weights=selected_values[n_active:].reshape(aux_indices.shape),
            mode="sum",
        )
        aux_loss = _normalized_mse(aux_reconstruction, x - reconstruction.detach())
        loss = loss + aux_coef * aux_loss
    return loss, scaled_mse.detach(), aux_loss.detach(), latents, values.detach()


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
    loss, scaled_mse, aux_loss, latents, values = compute_loss(model, x, **loss_options)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    model.project_decoder_grad_()
    optimizer.step()
    model.normalize_decoder_()
    fired = _update_firing(model, latents, values, len(x))
    if model.sparsity == "batch_topk":
        model.update_threshold_(values)
    return loss.detach(), scaled_mse, aux_loss, fired


@torch.no_grad()
def _update_firing(model, latents, values, n_samples):
    fired = torch.zeros(model.n_latents, dtype=torch.bool, device=latents.device)
    fired[latents[values > 0]] = True
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
def encode_batches(model, X, *, batch_size):
    """Sparse codes of all rows of ``X`` in batches, as CSR arrays.

    Each row is encoded on its own terms (:meth:`TopKSAE.encode_code`), so
    the result does not depend on ``batch_size``.

    Returns
    -------
    indptr : ndarray of shape (n_samples + 1,), int64
    indices : ndarray of shape (nnz,), int64
        Latents of each row (TopK: ``k`` per row, some values maybe 0).
    values : ndarray of shape (nnz,), nonnegative, of the model's dtype
    """
    device, dtype = model.pre_bias.device, model.pre_bias.dtype
    indptr, indices, values = [np.zeros(1, dtype=np.int64)], [], []
    for start in range(0, len(X), batch_size):
        x = torch.as_tensor(X[start : start + batch_size]).to(device, dtype)
        offsets, latents, batch_values = model.encode_code(x)
        indptr.append(offsets[1:].cpu().numpy() + indptr[-1][-1])
        indices.append(latents.cpu().numpy())
        values.append(batch_values.cpu().numpy())
    numpy_dtype = np.dtype(str(dtype).removeprefix("torch."))
    return (
        np.concatenate(indptr).astype(np.int64),
        np.concatenate(indices or [np.zeros(0)]).astype(np.int64),
        np.concatenate(values or [np.zeros(0)]).astype(numpy_dtype),
    )
