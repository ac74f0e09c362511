"""Text-to-audio and audio-to-text retrieval metrics on embeddings.

Queries rank items by cosine similarity. ``relevant[q, i]`` says whether item
``i`` answers query ``q``; an audio-caption corpus such as Clotho has several
captions per clip, so audio-to-text queries have several relevant texts.

- recall@k: fraction of queries with at least one relevant item in the top
  ``k`` (the definition of the CLAP and Clotho papers).
- mAP@k: mean over queries of the average precision of the top ``k``,
  ``AP@k = sum_{r <= k, item r relevant} precision@r / min(k, n_relevant)``;
  with one relevant item it is ``1 / rank`` when ``rank <= k`` and 0 otherwise.
"""

from numbers import Integral

import numpy as np

from ._numerics import unit_rows
from ._validation import check_embeddings

__all__ = [
    "mean_average_precision_at_k",
    "recall_at_k",
    "retrieval_scores",
]


def recall_at_k(similarity, relevant, k):
    """Fraction of queries with a relevant item among their ``k`` best.

    Parameters
    ----------
    similarity : array-like of shape (n_queries, n_items)
        Higher means a better match.
    relevant : array-like of bool of shape (n_queries, n_items)
        Which items answer each query; every query needs at least one.
    k : int
        Cut-off.

    Returns
    -------
    recall : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.retrieval import recall_at_k
    >>> similarity = np.array([[0.9, 0.1, 0.5], [0.8, 0.3, 0.2]])
    >>> recall_at_k(similarity, np.eye(2, 3, dtype=bool), k=1)
    0.5
    """
    ranked_relevance = _ranked_relevance(similarity, relevant, k)
    return float(ranked_relevance.any(axis=1).mean())


def mean_average_precision_at_k(similarity, relevant, k=10):
    """Mean average precision of the ``k`` best items of each query.

    Parameters
    ----------
    similarity : array-like of shape (n_queries, n_items)
        Higher means a better match.
    relevant : array-like of bool of shape (n_queries, n_items)
        Which items answer each query; every query needs at least one.
    k : int, default=10
        Cut-off.

    Returns
    -------
    map_at_k : float

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.retrieval import mean_average_precision_at_k
    >>> similarity = np.array([[0.9, 0.1, 0.5], [0.8, 0.3, 0.2]])
    >>> mean_average_precision_at_k(similarity, np.eye(2, 3, dtype=bool), k=10)
    0.75
    """
    ranked_relevance = _ranked_relevance(similarity, relevant, k)
    n_relevant = np.asarray(relevant, dtype=bool).sum(axis=1)
    hits = np.cumsum(ranked_relevance, axis=1)
    ranks = np.arange(1, ranked_relevance.shape[1] + 1)
    precision_sums = (ranked_relevance * hits / ranks).sum(axis=1)
    return float(np.mean(precision_sums / np.minimum(k, n_relevant)))


def retrieval_scores(
    audio_embeddings, text_embeddings, text_to_audio, *, ks=(1, 5, 10)
):
    """Recall at k and mean average precision at 10, both ways (text/audio).

    Parameters
    ----------
    audio_embeddings : array-like of shape (n_clips, n_features)
        One embedding per clip (e.g. :class:`CLAPEmbedder` output, or concept
        reconstructions).
    text_embeddings : array-like of shape (n_texts, n_features)
        One embedding per caption, from the same model's text encoder.
    text_to_audio : array-like of int of shape (n_texts,)
        Index of the clip each caption describes; a clip may have several
        captions and every clip needs at least one.
    ks : tuple of int, default=(1, 5, 10)
        Recall cut-offs.

    Returns
    -------
    scores : dict
        ``"text_to_audio_R@k"`` and ``"audio_to_text_R@k"`` for each ``k``,
        plus ``"text_to_audio_mAP@10"`` and ``"audio_to_text_mAP@10"``.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts.retrieval import retrieval_scores
    >>> audio = np.eye(3, 4)
    >>> texts = np.eye(3, 4)[[0, 0, 1, 2]]  # clip 0 has two captions
    >>> scores = retrieval_scores(audio, texts, [0, 0, 1, 2])
    >>> scores["text_to_audio_R@1"], scores["audio_to_text_mAP@10"]
    (1.0, 1.0)
    """
    audio = unit_rows(check_embeddings(audio_embeddings, name="audio_embeddings"))
    text = unit_rows(check_embeddings(text_embeddings, name="text_embeddings"))
    if audio.shape[1] != text.shape[1]:
        raise ValueError(
            f"audio_embeddings have {audio.shape[1]} features but text_embeddings "
            f"have {text.shape[1]}; embed both with the same model."
        )
    text_to_audio = np.asarray(text_to_audio)
    if text_to_audio.shape != (text.shape[0],) or text_to_audio.dtype.kind not in "iu":
        raise ValueError(
            "text_to_audio must hold one integer clip index per text "
            f"({text.shape[0]}), got shape {text_to_audio.shape}."
        )
    if text_to_audio.min() < 0 or text_to_audio.max() >= audio.shape[0]:
        raise ValueError(
            f"text_to_audio has clip indices outside [0, {audio.shape[0]})."
        )
    relevant = np.zeros((text.shape[0], audio.shape[0]), dtype=bool)
    relevant[np.arange(text.shape[0]), text_to_audio] = True
    without_caption = np.flatnonzero(~relevant.any(axis=0))
    if len(without_caption):
        raise ValueError(
            f"{len(without_caption)} clip(s) have no caption (first: "
            f"{without_caption[:5].tolist()}); drop them or add their captions."
        )
    similarity = text @ audio.T
    scores = {}
    for direction, sim, rel in (
        ("text_to_audio", similarity, relevant),
        ("audio_to_text", similarity.T, relevant.T),
    ):
        for k in ks:
            scores[f"{direction}_R@{k}"] = recall_at_k(sim, rel, k)
        scores[f"{direction}_mAP@10"] = mean_average_precision_at_k(sim, rel, 10)
    return scores


def _ranked_relevance(similarity, relevant, k):
    similarity = np.asarray(similarity, dtype=np.float64)
    relevant = np.asarray(relevant, dtype=bool)
    if similarity.ndim != 2 or similarity.shape != relevant.shape:
        raise ValueError(
            f"similarity {similarity.shape} and relevant {relevant.shape} must be "
            "2-D arrays of the same shape (n_queries, n_items)."
        )
    if not isinstance(k, Integral) or k < 1:
        raise ValueError(f"k must be a positive integer, got {k!r}.")
    if not relevant.any(axis=1).all():
        raise ValueError("Every query needs at least one relevant item.")
    if not np.isfinite(similarity).all():
        raise ValueError("similarity contains NaN or infinity.")
    k = min(k, similarity.shape[1])
    # Stable descending order: ties go to the lower item index.
    order = np.argsort(-similarity, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(relevant, order, axis=1)
