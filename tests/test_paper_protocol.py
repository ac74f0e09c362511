"""Tests for the paper's evaluation protocol helpers (_paper_protocol)."""

import numpy as np
import pytest
from sklearn.utils import Bunch

from sklearn_audioconcepts._paper_protocol import (
    PAPER_TABLE_I,
    bootstrap_interval,
    development_and_evaluation,
    layout_metric,
    zero_shot_metric,
)


def test_layout_metric():
    assert layout_metric("dcase2017_task4") == "f1"
    assert layout_metric("audioset") == "map"
    assert layout_metric("esc50") == layout_metric("tut2017") == "accuracy"
    assert set(PAPER_TABLE_I) >= {"esc50", "audioset", "dcase2017_task4"}


def test_zero_shot_metrics():
    scores = np.array([[0.9, 0.1, 0.0], [0.2, 0.7, 0.1], [0.1, 0.8, 0.1]])
    assert zero_shot_metric("accuracy", scores, np.array([0, 1, 2])) == 2 / 3
    truth = np.array([[1, 0, 0], [0, 1, 1], [0, 0, 1]])
    # Top-1 predictions: 0, 1, 1 -> 2 true positives, 1 false positive,
    # 2 false negatives: F1 = 4 / 7.
    assert zero_shot_metric("f1", scores, truth) == pytest.approx(4 / 7)
    ap = zero_shot_metric("map", scores, truth)
    assert 0 < ap <= 1
    perfect = zero_shot_metric("map", truth.astype(float), truth)
    assert perfect == 1.0
    with pytest.raises(ValueError, match="indicator"):
        zero_shot_metric("f1", scores, np.array([0, 1, 2]))
    with pytest.raises(ValueError, match="one class index"):
        zero_shot_metric("accuracy", scores, truth)
    with pytest.raises(ValueError, match="Unknown metric"):
        zero_shot_metric("auc", scores, truth)


def test_bootstrap_interval_of_a_mean():
    rng = np.random.default_rng(0)
    values = rng.standard_normal(400)
    interval = bootstrap_interval(lambda i: values[i].mean(), 400, random_state=0)
    assert interval["value"] == pytest.approx(values.mean())
    # The bootstrap std of a mean is about sigma / sqrt(n) = 0.05.
    assert 0.04 < interval["std"] < 0.06
    assert interval["low"] < interval["value"] < interval["high"]
    again = bootstrap_interval(lambda i: values[i].mean(), 400, random_state=0)
    assert again == interval
    with pytest.raises(ValueError, match="at least one"):
        bootstrap_interval(np.mean, 0)


def test_development_and_evaluation():
    folds = Bunch(splits=None, folds=np.array([1, 2, 3, 3]))
    development, evaluation = development_and_evaluation(folds)
    assert evaluation.tolist() == [False, False, True, True]
    assert development.tolist() == [True, True, False, False]
    _, evaluation = development_and_evaluation(folds, test_fold=1)
    assert evaluation.tolist() == [True, False, False, False]
    with pytest.raises(ValueError, match="not one of"):
        development_and_evaluation(folds, test_fold=7)
    splits = Bunch(splits=np.array(["train", "test", "validation", "train"]))
    development, evaluation = development_and_evaluation(splits)
    assert development.tolist() == [True, False, False, True]
    assert evaluation.tolist() == [False, True, False, False]
    with pytest.raises(ValueError, match="evaluation split"):
        development_and_evaluation(Bunch(splits=np.array(["train"])))
    with pytest.raises(ValueError, match="neither"):
        development_and_evaluation(Bunch(splits=None, folds=None))
