import json

import numpy as np
import pytest

from sklearn_audioconcepts import ConceptVocabulary


def test_basic_accessors():
    vocabulary = ConceptVocabulary(
        ["dog barking", "rain"], np.eye(2, 4), {"model": "x"}
    )
    assert len(vocabulary) == 2 and vocabulary.n_features == 4
    assert vocabulary.index("rain") == 1
    assert vocabulary.subset(["rain"]).names == ["rain"]
    assert vocabulary.subset([0]).embeddings.shape == (1, 4)
    assert "dog barking" in repr(vocabulary)
    with pytest.raises(KeyError, match="No concept named 'cat'"):
        vocabulary.index("cat")


def test_save_load_round_trip_without_pickle(tmp_path):
    rng = np.random.default_rng(0)
    vocabulary = ConceptVocabulary(
        ["a", "b", "ü c"],
        rng.standard_normal((3, 5)).astype(np.float32),
        {"model": "laion-clap", "template": "the sound of {}"},
    )
    path = vocabulary.save(tmp_path / "vocab.npz")
    loaded = ConceptVocabulary.load(path)
    assert loaded == vocabulary
    assert loaded.embeddings.dtype == np.float32
    with np.load(path, allow_pickle=False) as archive:  # no object arrays inside
        assert json.loads(str(archive["header"]))["format_version"] == 1


@pytest.mark.parametrize(
    "names, embeddings, match",
    [
        (["a", "a"], np.eye(2), "duplicate concept names \\('a'\\)"),
        (["a", ""], np.eye(2), "non-empty"),
        (["a"], np.eye(2), "1 names but 2 embedding rows"),
        (["a", "b"], np.array([[1.0, np.nan], [0.0, 1.0]]), "NaN or infinity"),
        (["a", "b"], np.array([[0.0, 0.0], [0.0, 1.0]]), "all-zero row"),
        (["a", "b"], np.ones(2), "Expected 2D"),
    ],
)
def test_invalid_vocabularies(names, embeddings, match):
    with pytest.raises(ValueError, match=match):
        ConceptVocabulary(names, embeddings)


def test_metadata_must_be_json(tmp_path):
    with pytest.raises(TypeError, match="JSON-serialisable"):
        ConceptVocabulary(["a"], np.ones((1, 2)), {"bad": object()})


def test_load_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="No vocabulary file"):
        ConceptVocabulary.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.ones(3))
    with pytest.raises(ValueError, match="not a vocabulary file"):
        ConceptVocabulary.load(tmp_path / "other.npz")
