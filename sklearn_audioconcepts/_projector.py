"""Torch modules and losses behind :class:`FineTunedConceptProjector`.

The pieces, each usable without scikit-learn:

* :class:`LinearProjector`: ``z -> W z`` with ``W`` initialised at the
  identity, either full (``W = I + Delta``) or low rank (``W = I + U V^T``),
  or (``init="random"``, the paper's recipe) a full matrix drawn at random.
  :meth:`LinearProjector.delta` is ``W - I``, the change the identity-pull
  penalty ``||W - I||_F^2`` acts on.
* :func:`unrolled_nonnegative_lasso`: a fixed number of accelerated projected
  gradient (nonnegative FISTA) steps on
  ``0.5 * ||D.T @ w - z||^2 + l1_penalty * sum(w)``, differentiable with
  respect to ``z`` by ordinary backpropagation through the steps.
* :class:`ConceptBottleneck`: projector -> row normalisation -> unrolled
  decomposition -> reconstruction ``D.T @ w``, normalised. With ``n_steps=0``
  the decomposition is skipped and the projected embedding itself is returned.
* :class:`ZeroShotHead`: cosine similarities between the reconstruction and
  class prompt embeddings, divided by a temperature (logits for a
  cross-entropy), and :class:`SymmetricInfoNCE`, the CLIP/CLAP contrastive
  loss between paired audio reconstructions and text embeddings.
* :class:`CosineToTarget`: ``1 - cos(prediction, target)`` averaged over the
  batch, the target being a class prompt (indexed by label) or a caption
  embedding: the paper's fine-tuning loss.

All tensors here live in the *centred* space of the decomposition: audio
embeddings centred on their mean, concepts and prompts centred on the concept
mean (see :class:`~sklearn_audioconcepts.ConceptDecomposer`).
"""

import torch
from skorch import NeuralNet
from torch import nn
from torch.nn import functional as F

__all__ = [
    "ConceptBottleneck",
    "CosineToTarget",
    "LinearProjector",
    "ProjectorNet",
    "SymmetricInfoNCE",
    "ZeroShotHead",
    "effective_rank",
    "lipschitz_constant",
    "unrolled_nonnegative_lasso",
]


class LinearProjector(nn.Module):
    """Linear map ``z -> W z`` initialised at the identity.

    Parameters
    ----------
    n_features : int
        Embedding dimension ``d``.
    rank : int or None, default=None
        ``None``: ``W = I + Delta`` with a full ``d x d`` matrix ``Delta``
        initialised at zero. An integer ``r``: ``W = I + U V^T`` with
        ``U, V`` of shape ``(d, r)``; ``U`` starts at zero and ``V`` small and
        random (as in LoRA), so ``W = I`` at the start yet gradients reach
        ``U`` from the first step.
    generator : torch.Generator or None, default=None
        Source of the random initialisation of ``V`` (or of ``W``).
    init : {"identity", "random"}, default="identity"
        ``"random"``: a full ``W`` (``rank`` must be None) drawn uniformly in
        ``[-1/sqrt(d), 1/sqrt(d)]``, the default initialisation of a torch
        ``nn.Linear`` layer, as in the paper's fine-tuning recipe.
    """

    def __init__(self, n_features, rank=None, generator=None, init="identity"):
        super().__init__()
        self.n_features = n_features
        self.rank = rank
        self.init = init
        if init == "random":
            if rank is not None:
                raise ValueError("A randomly initialised projector is full rank.")
            bound = 1.0 / float(n_features) ** 0.5
            weight = torch.rand(n_features, n_features, generator=generator)
            eye = torch.eye(n_features)
            # Stored as W - I so delta(), weight() and forward() stay one code path.
            self.delta_weight = nn.Parameter((2.0 * weight - 1.0) * bound - eye)
        elif rank is None:
            self.delta_weight = nn.Parameter(torch.zeros(n_features, n_features))
        else:
            self.up = nn.Parameter(torch.zeros(n_features, rank))
            scale = 1.0 / float(n_features) ** 0.5
            self.down = nn.Parameter(
                torch.randn(n_features, rank, generator=generator) * scale
            )

    def delta(self):
        """``W - I``, shape ``(d, d)``."""
        if self.rank is None:
            return self.delta_weight
        return self.up @ self.down.T

    def weight(self):
        """The projection matrix ``W``, shape ``(d, d)``."""
        delta = self.delta()
        return delta + torch.eye(
            self.n_features, dtype=delta.dtype, device=delta.device
        )

    def forward(self, z):
        if self.rank is None:
            return z + z @ self.delta_weight.T
        # z + (z V) U^T costs O(d r) per row instead of O(d^2).
        return z + (z @ self.down) @ self.up.T


def lipschitz_constant(dictionary, n_iter=50):
    """Largest eigenvalue of ``D @ D.T`` (the curvature of the lasso's smooth part).

    Power iteration on the ``d x d`` matrix ``D.T @ D``, over-estimated by 5%
    so that a step of ``1 / L`` is safe.
    """
    with torch.no_grad():
        gram = dictionary.T @ dictionary
        vector = torch.ones(gram.shape[0], dtype=gram.dtype, device=gram.device)
        for _ in range(n_iter):
            vector = gram @ vector
            vector = vector / torch.clamp(vector.norm(), min=1e-30)
        return 1.05 * float(vector @ (gram @ vector))


def unrolled_nonnegative_lasso(z, dictionary, l1_penalty, n_steps, lipschitz=None):
    """``n_steps`` of nonnegative FISTA from zero, differentiable in ``z``.

    Solves ``min_{w >= 0} 0.5 * ||D.T @ w - z||^2 + l1_penalty * sum(w)``
    approximately for each row of ``z``. Each step costs two products with the
    dictionary (``O(B V d)``); the result is the function of ``z`` that the
    steps compute, so its gradient is that of the truncated solver, not of the
    exact solution.

    Parameters
    ----------
    z : torch.Tensor of shape (B, d)
    dictionary : torch.Tensor of shape (V, d)
    l1_penalty : float
    n_steps : int
    lipschitz : float or None
        Largest eigenvalue of ``D @ D.T``; computed when not given.

    Returns
    -------
    weights : torch.Tensor of shape (B, V), nonnegative
    """
    if lipschitz is None:
        lipschitz = lipschitz_constant(dictionary)
    step = 1.0 / lipschitz
    # The constant part of the gradient, D z - l1_penalty, is computed once.
    target = z @ dictionary.T - l1_penalty
    weights = torch.zeros_like(target)
    momentum_point, momentum = weights, 1.0
    for _ in range(n_steps):
        grad = (momentum_point @ dictionary) @ dictionary.T - target
        updated = F.relu(momentum_point - step * grad)
        next_momentum = (1.0 + (1.0 + 4.0 * momentum**2) ** 0.5) / 2.0
        momentum_point = updated + ((momentum - 1.0) / next_momentum) * (
            updated - weights
        )
        weights, momentum = updated, next_momentum
    return weights


class ConceptBottleneck(nn.Module):
    """Project, decompose over the concepts, reconstruct: the differentiable path.

    Parameters
    ----------
    dictionary : torch.Tensor of shape (V, d)
        Centred, unit-norm concept embeddings (``ConceptDecomposer.components_``).
    l1_penalty : float
        The decomposition's sparsity penalty.
    n_steps : int
        Unrolled FISTA steps; 0 skips the decomposition (the head then sees
        the projected embedding).
    rank : int or None
        See :class:`LinearProjector`.
    generator : torch.Generator or None
        Initialisation randomness.
    init : {"identity", "random"}
        See :class:`LinearProjector`.
    """

    def __init__(
        self,
        dictionary,
        l1_penalty,
        n_steps,
        rank=None,
        generator=None,
        init="identity",
    ):
        super().__init__()
        self.register_buffer("dictionary", dictionary)
        self.l1_penalty = float(l1_penalty)
        self.n_steps = int(n_steps)
        self.lipschitz = lipschitz_constant(dictionary) if self.n_steps else 1.0
        self.projector = LinearProjector(dictionary.shape[1], rank, generator, init)

    def forward(self, z):
        projected = F.normalize(self.projector(z), dim=1)
        if self.n_steps == 0:
            return projected
        weights = unrolled_nonnegative_lasso(
            projected, self.dictionary, self.l1_penalty, self.n_steps, self.lipschitz
        )
        # A row with no active concept reconstructs to zero; normalize keeps
        # it at zero (eps) rather than dividing by zero.
        return F.normalize(weights @ self.dictionary, dim=1)


class ZeroShotHead(nn.Module):
    """Logits ``cos(reconstruction, prompt_c) / temperature`` over the classes.

    Parameters
    ----------
    bottleneck : ConceptBottleneck
    prompts : torch.Tensor of shape (n_classes, d)
        Centred class prompt embeddings (normalised here).
    temperature : float
    """

    def __init__(self, bottleneck, prompts, temperature):
        super().__init__()
        self.bottleneck = bottleneck
        self.register_buffer("prompts", F.normalize(prompts, dim=1))
        self.temperature = float(temperature)

    def forward(self, z):
        return self.bottleneck(z) @ self.prompts.T / self.temperature


class SymmetricInfoNCE(nn.Module):
    """Symmetric contrastive loss between paired rows (as in CLIP / CLAP).

    Row ``i`` of the audio batch is the positive of row ``i`` of the text
    batch and every other row in the batch is a negative; the loss averages
    the audio->text and text->audio cross-entropies over temperature-scaled
    cosine similarities.
    """

    def __init__(self, temperature=0.05):
        super().__init__()
        self.temperature = float(temperature)

    def forward(self, audio, text):
        logits = F.normalize(audio, dim=1) @ F.normalize(text, dim=1).T
        logits = logits / self.temperature
        targets = torch.arange(len(logits), device=logits.device)
        return 0.5 * (
            F.cross_entropy(logits, targets) + F.cross_entropy(logits.T, targets)
        )


class CosineToTarget(nn.Module):
    """``1 - cos(prediction, target)``, averaged over the batch.

    Parameters
    ----------
    prompts : torch.Tensor of shape (n_classes, d) or None, default=None
        Class prompt embeddings: the target of a row is then the prompt of
        its class index. ``None``: targets are embeddings themselves (e.g.
        captions), one per row.
    """

    def __init__(self, prompts=None):
        super().__init__()
        self.register_buffer(
            "prompts", None if prompts is None else F.normalize(prompts, dim=1)
        )

    def forward(self, prediction, target):
        if self.prompts is not None:
            target = self.prompts[target.long()]
        cosine = (F.normalize(prediction, dim=1) * F.normalize(target, dim=1)).sum(1)
        return (1.0 - cosine).mean()


def effective_rank(matrix, eps=1e-12):
    """Entropy effective rank ``exp(H(s / sum(s)))`` of the singular values ``s``.

    Roy and Vetterli (2007): 1 for a rank-one change, ``d`` when all singular
    values are equal; 0 for the zero matrix.
    """
    singular = torch.linalg.svdvals(torch.as_tensor(matrix, dtype=torch.float64))
    total = float(singular.sum())
    if total <= eps:
        return 0.0
    p = singular / total
    p = p[p > 0]
    return float(torch.exp(-(p * torch.log(p)).sum()))


class ProjectorNet(NeuralNet):
    """skorch ``NeuralNet`` adding ``identity_penalty * ||W - I||_F^2`` to the loss.

    The module is a :class:`ConceptBottleneck` or a :class:`ZeroShotHead`
    wrapping one; the penalty reads the bottleneck's projector.
    """

    def __init__(self, *args, identity_penalty=0.0, **kwargs):
        super().__init__(*args, **kwargs)
        self.identity_penalty = identity_penalty

    def get_loss(self, y_pred, y_true, X=None, training=False):
        loss = super().get_loss(y_pred, y_true, X=X, training=training)
        if self.identity_penalty:
            bottleneck = getattr(self.module_, "bottleneck", self.module_)
            delta = bottleneck.projector.delta()
            loss = loss + self.identity_penalty * (delta * delta).sum()
        return loss
