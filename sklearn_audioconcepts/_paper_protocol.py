"""Pieces of the evaluation protocol of Zhang, Thomaz and Lu (2025).

Used by ``benchmarks/reproduce_concept_paper.py``; plain functions of arrays
so that they are tested on their own:

* :data:`PAPER_TABLE_I`, :data:`PAPER_TABLE_II`, :data:`PAPER_TABLE_III`:
  the paper's reported numbers, printed beside ours;
* :func:`layout_metric` and :func:`zero_shot_metric`: the metric each data
  set is scored with (F1 for DCASE 2017 task 4, mAP for AudioSet, accuracy
  otherwise) computed from class scores;
* :func:`development_and_evaluation`: which clips of a
  :func:`~sklearn_audioconcepts.datasets.load_dataset` bunch tune and which
  evaluate;
* :func:`bootstrap_interval`: a bootstrap confidence interval over the
  evaluation clips.
"""

import numpy as np
from sklearn.metrics import average_precision_score, f1_score
from sklearn.utils import check_random_state

__all__ = [
    "PAPER_TABLE_I",
    "PAPER_TABLE_II",
    "PAPER_TABLE_III",
    "bootstrap_interval",
    "development_and_evaluation",
    "layout_metric",
    "zero_shot_metric",
]

# Table I, zero-shot: (concept, its +-, dense) per layout.
PAPER_TABLE_I = {
    "urbansound8k": (0.828, 0.006, 0.823),
    "dcase2017_task4": (0.47, 0.021, 0.466),
    "esc50": (0.937, 0.011, 0.939),
    "audioset": (0.265, 0.007, 0.268),
    "vocalsound": (0.821, 0.011, 0.8),
    "tut2017": (0.556, 0.027, 0.538),
}
# Table II, Clotho retrieval: metric -> (concept, dense).
PAPER_TABLE_II = {
    "audio_to_text_R@1": (0.240, 0.229),
    "audio_to_text_mAP@10": (0.151, 0.155),
    "text_to_audio_R@1": (0.162, 0.157),
    "text_to_audio_mAP@10": (0.261, 0.257),
}
# Table III, fine-tuned: (concept, dense) per layout.
PAPER_TABLE_III = {
    "urbansound8k": (0.9, 0.897),
    "esc50": (0.969, 0.972),
    "vocalsound": (0.855, 0.865),
    "tut2017": (0.647, 0.615),
}

_LAYOUT_METRICS = {"dcase2017_task4": "f1", "audioset": "map"}
# Split names, in order of preference, for each role.
_EVALUATION_SPLITS = ("evaluation", "eval", "test", "testing")
_DEVELOPMENT_SPLITS = ("development", "training", "train", "balanced_train")


def layout_metric(layout):
    """``"f1"`` (DCASE 2017 task 4), ``"map"`` (AudioSet) or ``"accuracy"``."""
    return _LAYOUT_METRICS.get(layout, "accuracy")


def zero_shot_metric(metric, scores, target):
    """Score class scores against the truth.

    Parameters
    ----------
    metric : {"accuracy", "f1", "map"}
    scores : ndarray of shape (n_clips, n_classes)
        Class scores (e.g. cosine similarities to the class prompts).
    target : ndarray
        Class indices of shape (n_clips,) for ``"accuracy"``; a 0/1 indicator
        matrix of shape (n_clips, n_classes) for ``"f1"`` and ``"map"``.

    Returns
    -------
    value : float
        ``"accuracy"``: share of clips whose top class is right. ``"f1"``:
        micro-averaged F1 of the top class of each clip against its label
        set (zero-shot names one event per clip). ``"map"``: mean over the
        classes with at least one positive clip of the average precision of
        ranking the clips by that class's score.
    """
    scores = np.asarray(scores)
    target = np.asarray(target)
    if metric == "accuracy":
        if target.ndim != 1:
            raise ValueError("accuracy needs one class index per clip.")
        return float(np.mean(np.argmax(scores, axis=1) == target))
    if target.shape != scores.shape:
        raise ValueError(
            f"{metric} needs an indicator matrix of shape {scores.shape}, got "
            f"{target.shape}."
        )
    if metric == "f1":
        predicted = np.zeros_like(target)
        predicted[np.arange(len(scores)), np.argmax(scores, axis=1)] = 1
        return float(f1_score(target, predicted, average="micro", zero_division=0))
    if metric == "map":
        present = target.sum(axis=0) > 0
        if not present.any():
            return float("nan")
        return float(
            average_precision_score(
                target[:, present], scores[:, present], average="macro"
            )
        )
    raise ValueError(f"Unknown metric {metric!r}; use accuracy, f1 or map.")


def bootstrap_interval(
    statistic, n_samples, *, n_resamples=1000, confidence=0.95, random_state=0
):
    """Bootstrap spread of a statistic over resampled evaluation clips.

    Parameters
    ----------
    statistic : callable
        ``statistic(indices) -> float`` on the clips at ``indices`` (drawn
        with replacement).
    n_samples : int
        Number of evaluation clips.
    n_resamples : int, default=1000
    confidence : float, default=0.95
    random_state : int, RandomState or None, default=0

    Returns
    -------
    interval : dict
        ``value`` (the statistic on all clips), ``std`` (the bootstrap
        standard deviation, the paper's ``+-``), ``low`` and ``high`` (the
        percentile interval at ``confidence``).
    """
    if n_samples < 1:
        raise ValueError("bootstrap_interval needs at least one clip.")
    rng = check_random_state(random_state)
    value = float(statistic(np.arange(n_samples)))
    draws = np.array(
        [statistic(rng.randint(0, n_samples, n_samples)) for _ in range(n_resamples)],
        dtype=float,
    )
    draws = draws[np.isfinite(draws)]
    tail = 100 * (1 - confidence) / 2
    return {
        "value": value,
        "std": float(draws.std(ddof=1)) if len(draws) > 1 else 0.0,
        "low": float(np.percentile(draws, tail)) if len(draws) else np.nan,
        "high": float(np.percentile(draws, 100 - tail)) if len(draws) else np.nan,
    }


def development_and_evaluation(data, test_fold=None):
    """Boolean masks of the development and evaluation clips of a bunch.

    Parameters
    ----------
    data : Bunch
        From :func:`~sklearn_audioconcepts.datasets.load_dataset` (uses
        ``splits`` or ``folds``).
    test_fold : int or None, default=None
        For data sets with folds, the fold evaluated (default: the last).

    Returns
    -------
    development, evaluation : ndarray of bool
        With splits: the evaluation split (``evaluation``, ``eval``,
        ``test`` or ``testing``, first present) against the development
        split (``development``, ``training``, ``train`` or
        ``balanced_train``, first present). With folds: ``test_fold``
        against the others.
    """
    if data.get("splits") is not None:
        splits = np.asarray(data["splits"]).astype(str)
        present = set(splits)
        evaluation = next((s for s in _EVALUATION_SPLITS if s in present), None)
        development = next((s for s in _DEVELOPMENT_SPLITS if s in present), None)
        if evaluation is None or development is None:
            raise ValueError(
                f"Need a development and an evaluation split; the data has "
                f"{sorted(present)}. Put both splits' metadata in the folder."
            )
        return splits == development, splits == evaluation
    if data.get("folds") is None:
        raise ValueError("The data has neither splits nor folds to evaluate on.")
    folds = np.asarray(data["folds"])
    fold = max(folds) if test_fold is None else int(test_fold)
    if fold not in set(folds.tolist()):
        raise ValueError(f"Test fold {fold} is not one of {sorted(set(folds))}.")
    return folds != fold, folds == fold
