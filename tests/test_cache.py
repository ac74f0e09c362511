"""The embedding cache: resume after interruption, invalidation, atomic entries."""

import os
import shutil

import numpy as np
import pytest
from _audio_fixtures import StatsEmbedder, write_tone

from sklearn_audioconcepts.cache import (
    EmbeddingCache,
    cached_transform,
    embedder_identity,
    file_digest,
)


@pytest.fixture
def corpus(tmp_path):
    folder = tmp_path / "audio"
    folder.mkdir()
    return [
        str(write_tone(folder / f"clip{i}.wav", 200.0 + 50 * i, seconds=0.1 + 0.01 * i))
        for i in range(10)
    ]


def test_resumes_after_interruption_without_recomputing(corpus, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    reference = StatsEmbedder(batch_size=3).transform(corpus)

    crashing = StatsEmbedder(batch_size=3)
    crashing._fail_on_call = 3  # batches 1 and 2 finish, batch 3 crashes
    with pytest.raises(RuntimeError, match="simulated crash"):
        cached_transform(crashing, corpus, cache, progress=False)
    assert len(cache) == 6

    resumed = StatsEmbedder(batch_size=3)
    X = cached_transform(resumed, corpus, cache, progress=False)
    embedded = [path for call in resumed._calls for path in call]
    assert embedded == corpus[6:]  # only the unfinished files
    np.testing.assert_array_equal(X, reference)
    assert X.dtype == reference.dtype

    again = StatsEmbedder(batch_size=3)
    np.testing.assert_array_equal(
        cached_transform(again, corpus, cache, progress=False), reference
    )
    assert not hasattr(again, "_calls")  # everything was a hit


def test_rows_follow_input_order_and_duplicates_embed_once(corpus, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    copy = tmp_path / "renamed.wav"
    shutil.copy(corpus[2], copy)
    X_in = [corpus[4], str(copy), corpus[2], corpus[0], corpus[4]]
    embedder = StatsEmbedder(batch_size=2)
    X = cached_transform(embedder, X_in, cache, progress=False)
    np.testing.assert_array_equal(X, StatsEmbedder().transform(X_in))
    # Same content (a copy, a repeat) is one entry, embedded once.
    embedded = [path for call in embedder._calls for path in call]
    assert embedded == [corpus[4], str(copy), corpus[0]]
    assert len(cache) == 3


def test_changed_content_invalidates_its_entry(corpus, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    cached_transform(StatsEmbedder(), corpus, cache, progress=False)
    write_tone(corpus[5], 1000.0, seconds=0.3)  # same path, new content

    embedder = StatsEmbedder()
    X = cached_transform(embedder, corpus, cache, progress=False)
    assert [p for call in embedder._calls for p in call] == [corpus[5]]
    np.testing.assert_array_equal(X, StatsEmbedder().transform(corpus))


def test_different_params_or_class_do_not_share_entries(corpus, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    X1 = cached_transform(StatsEmbedder(scale=1.0), corpus, cache, progress=False)
    other = StatsEmbedder(scale=2.0)
    X2 = cached_transform(other, corpus, cache, progress=False)
    assert len(other._calls) > 0
    np.testing.assert_allclose(X2, 2 * X1)

    class Subclass(StatsEmbedder):
        pass

    assert embedder_identity(Subclass()) != embedder_identity(StatsEmbedder())
    # How it runs is not what it returns: progress is ignored by default ...
    assert embedder_identity(StatsEmbedder()) == embedder_identity(StatsEmbedder())
    # ... and batch_size counts unless ignored.
    assert embedder_identity(StatsEmbedder(batch_size=2)) != embedder_identity(
        StatsEmbedder(batch_size=3)
    )
    assert embedder_identity(
        StatsEmbedder(batch_size=2), ignore_params=("batch_size",)
    ) == embedder_identity(StatsEmbedder(batch_size=3), ignore_params=("batch_size",))


def test_checkpoint_file_params_count_by_size_and_mtime(tmp_path):
    class CheckpointEmbedder(StatsEmbedder):
        def __init__(self, *, checkpoint=None, scale=1.0, batch_size=4):
            super().__init__(scale=scale, batch_size=batch_size)
            self.checkpoint = checkpoint

    checkpoint = tmp_path / "model.ckpt"
    checkpoint.write_bytes(b"weights v1")
    before = embedder_identity(CheckpointEmbedder(checkpoint=str(checkpoint)))
    assert before == embedder_identity(CheckpointEmbedder(checkpoint=checkpoint))
    checkpoint.write_bytes(b"weights v2, retrained")
    assert before != embedder_identity(CheckpointEmbedder(checkpoint=str(checkpoint)))


def test_custom_cache_identity_and_fitted_attributes():
    class Custom(StatsEmbedder):
        def cache_identity(self):
            return {"model": "custom", "revision": 3}

    assert embedder_identity(Custom(scale=1)) == embedder_identity(Custom(scale=5))
    fitted = StatsEmbedder()
    before = embedder_identity(fitted)
    fitted.mean_ = np.zeros(4)
    assert embedder_identity(fitted) != before


def test_entries_are_written_atomically_and_damage_is_recomputed(corpus, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    cached_transform(StatsEmbedder(), corpus[:3], cache, progress=False)
    files = sorted((tmp_path / "cache").glob("*/*"))
    assert [f.suffix for f in files].count(".npy") == 3
    assert not [f for f in files if f.suffix == ".tmp"]
    assert (files[0].parent / "identity.json").is_file()

    damaged = next(f for f in files if f.suffix == ".npy")
    damaged.write_bytes(damaged.read_bytes()[:20])  # a torn write by some other tool
    with pytest.warns(RuntimeWarning, match="unreadable cache entry"):
        X = cached_transform(StatsEmbedder(), corpus[:3], cache, progress=False)
    np.testing.assert_array_equal(X, StatsEmbedder().transform(corpus[:3]))
    assert np.load(damaged).shape == (4,)  # rewritten whole


def test_cache_get_put_contains_clear(tmp_path):
    cache = EmbeddingCache(tmp_path / "store")
    assert len(cache) == 0 and cache.get(("a", "b")) is None
    cache.put(("a", "b"), np.arange(3, dtype=np.float32))
    assert ("a", "b") in cache and ("a", "c") not in cache
    np.testing.assert_array_equal(cache.get(("a", "b")), np.arange(3))
    cache.clear()
    assert len(cache) == 0 and ("a", "b") not in cache
    with pytest.raises(ValueError, match="pair of non-empty strings"):
        cache.get(("a", "../escape"))
    with pytest.raises(ValueError, match="pair of non-empty strings"):
        cache.put("ab", np.zeros(1))


def test_bad_inputs_say_what_is_wrong(corpus, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    with pytest.raises(TypeError, match="wrap it in a list"):
        cached_transform(StatsEmbedder(), corpus[0], cache)
    with pytest.raises(TypeError, match="must hold file paths"):
        cached_transform(StatsEmbedder(), [np.zeros(100)], cache)
    with pytest.raises(ValueError, match="X is empty"):
        cached_transform(StatsEmbedder(), [], cache)
    with pytest.raises(FileNotFoundError, match="Audio file not found"):
        cached_transform(StatsEmbedder(), [str(tmp_path / "missing.wav")], cache)
    with pytest.raises(TypeError, match="transform method"):
        cached_transform(object(), corpus, cache)

    class DropsRows(StatsEmbedder):
        def transform(self, X):
            return super().transform(X)[1:]

    with pytest.raises(ValueError, match="one row per file"):
        cached_transform(DropsRows(), corpus[:3], cache, progress=False)


def test_file_digest_is_content_only(corpus, tmp_path):
    copy = tmp_path / "elsewhere.wav"
    shutil.copy(corpus[0], copy)
    os.utime(copy, ns=(0, 0))
    assert file_digest(copy) == file_digest(corpus[0])
    assert file_digest(corpus[0]) != file_digest(corpus[1])


def test_failed_rows_are_returned_but_never_cached(corpus, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    failing = StatsEmbedder()
    embed = failing.transform

    def nan_for_clip3(X):  # as an embedder with on_error="nan" does
        rows = embed(X)
        rows[[str(path).endswith("clip3.wav") for path in X]] = np.nan
        return rows

    failing.transform = nan_for_clip3  # same class and params: same identity
    first = cached_transform(failing, corpus, cache, progress=False)
    assert np.isnan(first[3]).all() and np.isfinite(np.delete(first, 3, 0)).all()
    assert len(cache) == len(corpus) - 1
    retry = StatsEmbedder()
    X = cached_transform(retry, corpus, cache, progress=False)
    assert [path for call in retry._calls for path in call] == [corpus[3]]
    np.testing.assert_array_equal(X, StatsEmbedder().transform(corpus))
