"""Planted classification tasks for measuring what fine-tuning the projector buys.

:func:`make_planted_task` builds, from
:func:`~sklearn_audioconcepts.datasets.make_concept_embeddings`, a labelled
set of audio-like embeddings, a concept vocabulary and one text prompt
embedding per class, with a knob for how far the *audio* side of the task is
misaligned with the *text* side (vocabulary and class prompts).

Construction
------------
1. ``make_concept_embeddings(..., n_classes=K)`` draws a coherent text
   vocabulary ``t_1 .. t_V`` and, per clip, sparse nonnegative concept codes
   in which about 70% of the active concepts come from the clip's class pool.
2. **Class prompts** are text embeddings of each class's signature: the unit
   mix of concept embeddings weighted by the class's mean code, plus a little
   text noise. They are not vocabulary rows, and they say nothing about the
   distortion below.
3. **Audio** embeddings are the codes mixed over *audio-side* concept
   directions ``a_j = R t_j``, then (as in ``make_concept_embeddings``)
   normalised, with isotropic noise and a shared modality-gap offset added.
   ``R`` is a random rotation: orthogonal, acting on a random subspace of
   dimension ``subspace_fraction * d`` by turning each of its planes through
   the angle ``misalignment * 90`` degrees, and the identity elsewhere. It
   models an audio encoder whose audio-text alignment is off for this domain
   (audio of "dog barking" no longer lands where its text does).

With ``misalignment=0`` (``R = I``) the vocabulary is aligned with the audio:
the untuned decomposition finds each clip's planted concepts and the
zero-shot head works. With ``misalignment=1`` the decomposition of audio over
the text vocabulary picks the wrong concepts, and zero-shot accuracy drops.

Why the effect is not rigged: ``R`` is drawn independently of the labels and
the classes, the projector only ever sees ``K`` class labels (never ``R``,
the codes or the audio-side atoms), and the loss reaches ``W`` only through
the sparse decomposition; held-out accuracy is measured on clips it did not
train on. A linear ``W`` *can* undo ``R`` (``R`` is linear), so the planted
effect measures whether label supervision through the concept bottleneck
recovers an alignment it is never shown, from a few hundred clips in 64 or
more dimensions; the clip-level noise, the shared (non-class) concepts and
the unrelated 30% of each clip's concepts make it imperfect.
"""

from dataclasses import dataclass

import numpy as np
from sklearn.utils import check_random_state

from .datasets import make_concept_embeddings
from .vocabulary import ConceptVocabulary

__all__ = ["PlantedTask", "make_planted_task", "random_subspace_rotation"]


@dataclass
class PlantedTask:
    """A planted task: embeddings, labels, vocabulary and class prompts.

    Attributes
    ----------
    X : ndarray of shape (n_samples, n_features), float32
        Unit-norm audio-like embeddings.
    y : ndarray of shape (n_samples,)
        Class labels ``class_0``, ...
    vocabulary : ConceptVocabulary
        Text-side concepts.
    class_embeddings : dict
        ``{label: prompt embedding}``, text side.
    codes : ndarray of shape (n_samples, n_concepts)
        Planted concept weights.
    rotation : ndarray of shape (n_features, n_features)
        The audio-side distortion ``R`` (identity when aligned).
    """

    X: np.ndarray
    y: np.ndarray
    vocabulary: ConceptVocabulary
    class_embeddings: dict
    codes: np.ndarray
    rotation: np.ndarray


def random_subspace_rotation(n_features, fraction, angle, random_state=None):
    """Orthogonal ``R`` turning each plane of a random subspace by ``angle``.

    The subspace has dimension ``2 * floor(fraction * n_features / 2)``;
    ``R`` is the identity on its orthogonal complement.
    """
    rng = check_random_state(random_state)
    basis, _ = np.linalg.qr(rng.standard_normal((n_features, n_features)))
    n_planes = int(fraction * n_features) // 2
    cos, sin = np.cos(angle), np.sin(angle)
    rotation = np.eye(n_features)
    for k in range(n_planes):
        u, v = basis[:, 2 * k], basis[:, 2 * k + 1]
        # R restricted to span(u, v) is a rotation by `angle`.
        rotation += (cos - 1.0) * (np.outer(u, u) + np.outer(v, v))
        rotation += sin * (np.outer(v, u) - np.outer(u, v))
    return rotation


def make_planted_task(
    n_samples=600,
    n_concepts=400,
    n_features=64,
    *,
    n_classes=4,
    misalignment=1.0,
    subspace_fraction=0.75,
    n_active=10,
    n_clusters=40,
    noise=0.25,
    prompt_noise=0.1,
    random_state=None,
):
    """Labelled audio-like embeddings whose alignment with the text side is planted.

    Parameters
    ----------
    n_samples, n_concepts, n_features : int
        Sizes, as in ``make_concept_embeddings``.
    n_classes : int, default=4
        Number of classes.
    misalignment : float, default=1.0
        Rotation angle of the audio side, in units of 90 degrees; 0 aligns.
    subspace_fraction : float, default=0.75
        Share of the dimensions the rotation acts on.
    n_active, n_clusters, noise : see ``make_concept_embeddings``.
    prompt_noise : float, default=0.1
        Norm of the noise added to each unit class prompt.
    random_state : int, RandomState instance or None
        Seed.

    Returns
    -------
    task : PlantedTask
    """
    rng = check_random_state(random_state)
    _, vocabulary, codes, labels = make_concept_embeddings(
        n_samples,
        n_concepts,
        n_features,
        n_active=n_active,
        n_clusters=n_clusters,
        n_classes=n_classes,
        noise=noise,
        random_state=rng,
    )
    atoms = vocabulary.embeddings.astype(np.float64)
    rotation = random_subspace_rotation(
        n_features, subspace_fraction, misalignment * np.pi / 2, rng
    )
    mixtures = _unit_rows(codes @ atoms @ rotation.T)
    mixtures += noise * _unit_rows(rng.standard_normal((n_samples, n_features)))
    gap = _unit_rows(rng.standard_normal((1, n_features)))
    X = _unit_rows(mixtures + gap).astype(np.float32)

    names = np.array([f"class_{c}" for c in range(n_classes)], dtype=object)
    prompts = {}
    for c, name in enumerate(names):
        signature = codes[labels == c].mean(axis=0) @ atoms
        prompt = _unit_rows(signature[None, :])[0]
        prompt = (
            prompt + prompt_noise * _unit_rows(rng.standard_normal((1, n_features)))[0]
        )
        prompts[name] = prompt.astype(np.float32)
    return PlantedTask(
        X=X,
        y=names[labels],
        vocabulary=vocabulary,
        class_embeddings=prompts,
        codes=codes,
        rotation=rotation,
    )


def _unit_rows(array):
    return array / np.linalg.norm(array, axis=1, keepdims=True)
