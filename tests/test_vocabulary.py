import json

import numpy as np
import pytest
from _file_errors import assert_read_error  # tests/ is on sys.path

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
    with pytest.raises(FileNotFoundError, match="vocabulary .*no such file"):
        ConceptVocabulary.load(tmp_path / "missing.npz")
    np.savez(tmp_path / "other.npz", x=np.ones(3))
    with pytest.raises(ValueError, match="not a vocabulary file"):
        ConceptVocabulary.load(tmp_path / "other.npz")


# -- building vocabularies from texts -------------------------------------------


class HashingTextEmbedder:
    """Deterministic stand-in for a text encoder: similar words, similar rows.

    Each text is embedded as the normalised sum of random vectors of its
    words, so "dog barking" and "dog barking loudly" are close.
    """

    def __init__(self, n_features=32):
        self.n_features = n_features
        self.calls = []

    def embed_text(self, texts):
        self.calls.append(list(texts))
        rows = []
        for text in texts:
            row = np.zeros(self.n_features)
            for word in text.lower().split():
                seed = sum(ord(c) * 31**i for i, c in enumerate(word)) % 2**32
                row += np.random.default_rng(seed).standard_normal(self.n_features)
            rows.append(row / np.linalg.norm(row))
        return np.asarray(rows, dtype=np.float32)

    def get_params(self, deep=False):
        return {"n_features": self.n_features, "not_json": object()}


def test_from_texts_embeds_prompts_and_records_provenance():
    embedder = HashingTextEmbedder()
    vocabulary = ConceptVocabulary.from_texts(
        ["dog barking", " rain ", "Dog  Barking", "thunder"],
        embedder,
        template="the sound of {}",
    )
    assert vocabulary.names == ["dog barking", "rain", "thunder"]  # repeats dropped
    assert embedder.calls == [
        ["the sound of dog barking", "the sound of rain", "the sound of thunder"]
    ]
    np.testing.assert_allclose(
        vocabulary.embeddings, embedder.embed_text(embedder.calls[0])
    )
    assert vocabulary.metadata == {
        "template": "the sound of {}",
        "embedder": "HashingTextEmbedder",
        "n_features": 32,  # plain parameters only; the object is left out
    }


def test_from_texts_deduplicates_near_duplicates():
    texts = ["dog barking", "dog barking loudly", "rain", "heavy rain", "thunder"]
    embedder = HashingTextEmbedder(n_features=256)
    everything = ConceptVocabulary.from_texts(texts, embedder)
    similarity = everything.embeddings @ everything.embeddings.T
    threshold = float(similarity[0, 1]) - 1e-3  # "dog barking loudly" is dropped
    vocabulary = ConceptVocabulary.from_texts(
        texts, embedder, similarity_threshold=threshold
    )
    kept = vocabulary.names
    assert "dog barking" in kept and "dog barking loudly" not in kept
    assert vocabulary.metadata["deduplicated_above"] == pytest.approx(threshold)
    # No two kept concepts are above the threshold, and every dropped one is
    # above it with some kept concept that comes before it.
    kept_rows = [texts.index(name) for name in kept]
    kept_similarity = similarity[np.ix_(kept_rows, kept_rows)]
    assert (kept_similarity[~np.eye(len(kept), dtype=bool)] <= threshold).all()
    for row, name in enumerate(texts):
        if name not in kept:
            earlier = [r for r in kept_rows if r < row]
            assert similarity[row, earlier].max() > threshold


def test_deduplicate_matches_a_direct_greedy_scan():
    rng = np.random.default_rng(0)
    base = rng.standard_normal((40, 8))
    embeddings = np.concatenate([base, base + 0.05 * rng.standard_normal((40, 8))])
    rng.shuffle(embeddings)
    vocabulary = ConceptVocabulary([f"c{i}" for i in range(80)], embeddings)
    units = embeddings / np.linalg.norm(embeddings, axis=1, keepdims=True)
    kept = []
    for row in range(80):
        if all(units[row] @ units[k] <= 0.9 for k in kept):
            kept.append(row)
    assert vocabulary.deduplicate(0.9).names == [f"c{i}" for i in kept]
    from sklearn_audioconcepts.vocabulary import near_duplicate_mask

    small_blocks = near_duplicate_mask(embeddings, 0.9, block_size=7)
    np.testing.assert_array_equal(np.flatnonzero(small_blocks), kept)


def test_from_texts_and_deduplicate_errors():
    embedder = HashingTextEmbedder()
    with pytest.raises(ValueError, match="one '\\{\\}'"):
        ConceptVocabulary.from_texts(["a"], embedder, template="no slot")
    with pytest.raises(TypeError, match="embed_text"):
        ConceptVocabulary.from_texts(["a"], object())
    with pytest.raises(ValueError, match="no non-empty"):
        ConceptVocabulary.from_texts(["", "  "], embedder)
    with pytest.raises(TypeError, match="not one string"):
        ConceptVocabulary.from_texts("dog", embedder)

    class Wrong:
        def embed_text(self, texts):
            return np.ones((len(texts) + 1, 3))

    with pytest.raises(ValueError, match="one row per text"):
        ConceptVocabulary.from_texts(["a", "b"], Wrong())
    vocabulary = ConceptVocabulary(["a", "b"], np.eye(2))
    with pytest.raises(ValueError, match="similarity_threshold"):
        vocabulary.deduplicate(1.5)


def test_from_texts_round_trips_through_save(tmp_path):
    vocabulary = ConceptVocabulary.from_texts(
        ["wind", "ocean waves"], HashingTextEmbedder(), template="a recording of {}"
    )
    assert ConceptVocabulary.load(vocabulary.save(tmp_path / "v")) == vocabulary


# -- builders -----------------------------------------------------------------


def test_concepts_from_labels():
    from sklearn_audioconcepts.vocabulary import concepts_from_labels

    labels = ["Dog_bark", "Rain", "dog-bark", ["Rain", "Thunder"], "Rain,Wind"]
    assert concepts_from_labels(labels) == ["rain", "dog bark", "thunder", "wind"]
    assert concepts_from_labels(labels, max_size=2) == ["rain", "dog bark"]
    with pytest.raises(ValueError, match="max_size"):
        concepts_from_labels(labels, max_size=0)
    with pytest.raises(TypeError, match="strings"):
        concepts_from_labels([[1, 2]])


def test_concepts_from_tags_ranks_by_clip_frequency():
    from sklearn_audioconcepts.vocabulary import concepts_from_tags

    tags = [
        ["Field-Recording", "birds", "birds"],  # counted once per clip
        "birds forest",
        "forest, field recording",
        ["rain"],
    ]
    assert concepts_from_tags(tags) == ["birds", "field recording", "forest", "rain"]
    assert concepts_from_tags(tags, min_count=2) == [
        "birds",
        "field recording",
        "forest",
    ]
    assert concepts_from_tags(tags, max_size=1) == ["birds"]


def test_concepts_from_captions_keeps_phrases_not_fragments():
    from sklearn_audioconcepts.vocabulary import concepts_from_captions

    captions = [
        "A dog is barking in the distance.",
        "The dog barking while heavy rain falls",
        "Heavy rain falls on a tin roof, a dog barking",
        "heavy rain and thunder",
    ]
    phrases = concepts_from_captions(captions, min_count=2)
    # In 3 captions each, ties alphabetical; "heavy" and "rain" are only ever
    # seen inside "heavy rain", so they add nothing and are dropped.
    assert phrases[:3] == ["barking", "dog", "heavy rain"]
    assert "heavy" not in phrases and "rain" not in phrases
    assert phrases[3:] == ["dog barking", "heavy rain falls"]  # in 2 captions
    assert "rain falls" not in phrases  # only inside "heavy rain falls"
    assert not any(p.split()[0] in {"a", "the", "in"} for p in phrases)
    assert not any(p.split()[-1] in {"a", "the", "in"} for p in phrases)
    assert len(phrases) == len(set(phrases))
    assert concepts_from_captions(captions, min_count=2, max_size=2) == phrases[:2]
    unigrams = concepts_from_captions(captions, ngram_range=(1, 1), min_count=3)
    assert unigrams == ["barking", "dog", "heavy", "rain"]
    with pytest.raises(ValueError, match="ngram_range"):
        concepts_from_captions(captions, ngram_range=(2, 1))


# -- bundled vocabulary ------------------------------------------------------------


def test_bundled_audio_concepts():
    from sklearn_audioconcepts.data import audio_concept_sections, load_audio_concepts

    names = load_audio_concepts()
    assert len(names) >= 2000
    assert len({name.lower() for name in names}) == len(names)
    assert all(name == name.strip() and name for name in names)
    sections = audio_concept_sections()
    for expected in (
        "animals",
        "instruments",
        "music genres and styles",
        "vocal qualities",
        "acoustic and recording qualities",
        "environments and places",
        "impacts, materials and object sounds",
    ):
        assert expected in sections and load_audio_concepts(expected)
    assert sum(len(load_audio_concepts(s)) for s in sections) == len(names)
    with pytest.raises(ValueError, match="Unknown section"):
        load_audio_concepts("spaceships")
    # Ready to embed: a vocabulary of all of them builds.
    vocabulary = ConceptVocabulary.from_texts(names, HashingTextEmbedder())
    assert len(vocabulary) == len(names)


# -- unreadable vocabulary files: one error type that names the file -------------


def _vocabulary_bytes(tmp_path, **replace):
    """A saved vocabulary's bytes, with some arrays replaced."""
    rng = np.random.default_rng(0)
    arrays = {
        "names": np.array([f"concept {i}" for i in range(20)]),
        "embeddings": rng.standard_normal((20, 16)),
        "header": np.array(json.dumps({"format_version": 1, "metadata": {}})),
        **replace,
    }
    path = tmp_path / "source.npz"
    np.savez(path, **arrays)
    return path.read_bytes()


def _flip_middle(content):
    content = bytearray(content)
    content[len(content) // 2] ^= 0xFF
    return bytes(content)


def _skops_model_bytes(tmp_path):
    from sklearn_audioconcepts import TopKSparseAutoencoder
    from sklearn_audioconcepts.persistence import save_model

    return save_model(TopKSparseAutoencoder(), tmp_path / "m.skops").read_bytes()


def _npy_bytes(tmp_path):
    np.save(tmp_path / "a.npy", np.ones(3))
    return (tmp_path / "a.npy").read_bytes()


# case -> (bytes of the file, words the reason must contain)
_BAD_VOCABULARIES = {
    "empty": (lambda tmp: b"", "empty (0 bytes)"),
    "truncated": (lambda tmp: _vocabulary_bytes(tmp)[:700], "truncated"),
    "flipped byte": (lambda tmp: _flip_middle(_vocabulary_bytes(tmp)), "damaged"),
    "header a JSON array": (
        lambda tmp: _vocabulary_bytes(tmp, header=np.array("[1,2]")),
        "header is a JSON array, not an object",
    ),
    "header not JSON": (
        lambda tmp: _vocabulary_bytes(tmp, header=np.array("{format")),
        "header is not valid JSON",
    ),
    "newer format": (
        lambda tmp: _vocabulary_bytes(tmp, header=np.array('{"format_version": 99}')),
        "vocabulary format 99",
    ),
    "numeric names": (
        lambda tmp: _vocabulary_bytes(tmp, names=np.arange(20)),
        "not a list of strings",
    ),
    "duplicate names": (
        lambda tmp: _vocabulary_bytes(tmp, names=np.array(["a"] * 20)),
        "duplicate concept names",
    ),
    "text file": (lambda tmp: b"dog barking\nrain\n", "neither a .npy array"),
    "model file": (_skops_model_bytes, "not a vocabulary file written by"),
    "npy array": (_npy_bytes, "single .npy array, not an .npz archive"),
}


@pytest.mark.parametrize("case", list(_BAD_VOCABULARIES))
def test_unreadable_vocabulary_files_raise_one_error_naming_the_file(case, tmp_path):
    make, reason = _BAD_VOCABULARIES[case]
    path = tmp_path / "vocab.npz"
    path.write_bytes(make(tmp_path))
    error = assert_read_error(
        lambda: ConceptVocabulary.load(path), "vocabulary", path, reason
    )
    assert isinstance(error, ValueError)
    assert (error.kind, error.path) == ("vocabulary", path)


def test_missing_or_folder_vocabulary_names_the_path(tmp_path):
    from sklearn_audioconcepts import FileReadError

    with pytest.raises(FileReadError, match="vocabulary '.*nope.npz': no such file"):
        ConceptVocabulary.load(tmp_path / "nope.npz")
    with pytest.raises(FileReadError, match="it is a folder, not a file"):
        ConceptVocabulary.load(tmp_path)
