"""The embedding cache: resume after interruption, invalidation, atomic entries."""

import os
import shutil

import numpy as np
import pandas as pd
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

    class Other(StatsEmbedder):  # same value, another class: not the same model
        def cache_identity(self):
            return {"model": "custom", "revision": 3}

    assert embedder_identity(Other()) != embedder_identity(Custom())
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
    with pytest.warns(RuntimeWarning, match=f"could not read cache entry .{damaged}."):
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


# -- concurrent use of one directory -------------------------------------------


def _hammer(directory, role, seconds, n_keys=6):
    """Run one role against a shared cache for ``seconds``; return op counts."""
    import time

    cache = EmbeddingCache(directory)
    keys = [(f"identity{i % 2}", f"content{i}") for i in range(n_keys)]
    deadline = time.monotonic() + seconds
    operations = 0
    while time.monotonic() < deadline:
        if role == "clear":
            cache.clear()
        else:
            for i, key in enumerate(keys):
                cache.put(key, np.full(8, i, dtype=np.float32), description={"i": 1})
                row = cache.get(keys[(i + 3) % n_keys])
                # Either absent (cleared) or the whole, right row: never torn.
                assert row is None or (row == (i + 3) % n_keys).all(), row
                assert len(cache) >= 0 and (keys[i] in cache) in (True, False)
        operations += 1
    return operations


def test_clear_put_get_from_several_processes_do_not_interfere(tmp_path):
    import multiprocessing
    from concurrent.futures import ProcessPoolExecutor

    methods = multiprocessing.get_all_start_methods()
    context = multiprocessing.get_context("fork" if "fork" in methods else "spawn")
    directory = str(tmp_path / "shared")
    roles = ["clear", "put", "put"]
    with ProcessPoolExecutor(len(roles), mp_context=context) as pool:
        futures = [pool.submit(_hammer, directory, role, 1.5) for role in roles]
        counts = [future.result() for future in futures]  # re-raises any error
    assert all(count > 0 for count in counts), counts
    cache = EmbeddingCache(directory)
    cache.clear()
    assert len(cache) == 0 and not any((tmp_path / "shared").iterdir())


def test_clear_and_put_from_threads_do_not_interfere(tmp_path):
    from concurrent.futures import ThreadPoolExecutor

    roles = ["clear", "put", "put"]
    with ThreadPoolExecutor(len(roles)) as pool:
        futures = [pool.submit(_hammer, tmp_path, role, 1.0) for role in roles]
        assert all(future.result() > 0 for future in futures)


# -- failures over several batches -----------------------------------------------


class FailingEmbedder(StatsEmbedder):
    """Follows the on_error="nan" protocol: NaN rows and a ``failed_`` table.

    Files whose name contains "bad" fail with a message naming the file.
    """

    def transform(self, X):
        rows = super().transform(X)
        bad = [i for i, path in enumerate(X) if "bad" in os.path.basename(path)]
        rows[bad] = np.nan
        self.failed_ = pd.DataFrame(
            {
                "index": bad,
                "input": [f"X[{i}] ('{X[i]}')" for i in bad],
                "error": ["AudioInputError"] * len(bad),
                "message": [f"cannot decode {os.path.basename(X[i])}" for i in bad],
            }
        )
        return rows


def test_failures_of_every_batch_keep_their_reason(corpus, tmp_path):
    paths = list(corpus)
    for i in (1, 5, 8):  # one failure in each of three batches of 3
        bad = tmp_path / "audio" / f"bad{i}.wav"
        shutil.copy(corpus[i], bad)
        write_tone(bad, 100.0 + i, seconds=0.05)  # distinct content per file
        paths[i] = str(bad)
    paths.append(paths[5])  # a duplicate of a failed file fails at its position too
    embedder = FailingEmbedder(batch_size=3)
    X = cached_transform(embedder, paths, tmp_path / "c", progress=False)
    # Batches of 3 over 10 distinct files: failures in the first three, none
    # in the last (whose empty failed_ must not wipe the others).
    assert len(embedder._calls) == 4
    failed = np.flatnonzero(~np.isfinite(X).all(axis=1))
    np.testing.assert_array_equal(failed, [1, 5, 8, 10])
    table = embedder.failed_
    assert list(table.columns) == ["index", "input", "error", "message"]
    np.testing.assert_array_equal(table["index"], failed)
    assert list(table["message"]) == [
        "cannot decode bad1.wav",
        "cannot decode bad5.wav",
        "cannot decode bad8.wav",
        "cannot decode bad5.wav",
    ]
    assert (table["error"] == "AudioInputError").all()
    assert table["input"].iloc[3] == f"X[10] ('{paths[10]}')"

    # A run with only hits reports no failure (not the last call's table).
    good = [p for p in paths if "bad" not in p]
    cached_transform(embedder, good, tmp_path / "c", progress=False)
    assert embedder.failed_.empty and list(embedder.failed_.columns)[0] == "index"


def test_nan_rows_without_a_recorded_reason_still_get_one(corpus, tmp_path):
    embedder = StatsEmbedder(batch_size=2)
    embed = embedder.transform

    def nan_for_clip3(X):  # NaN row but no failed_ table
        rows = embed(X)
        rows[[str(path).endswith("clip3.wav") for path in X]] = np.nan
        return rows

    embedder.transform = nan_for_clip3
    X = cached_transform(embedder, corpus[:5], tmp_path / "c", progress=False)
    assert np.isnan(X[3]).all()
    assert list(embedder.failed_["index"]) == [3]
    assert "without recording why" in embedder.failed_["message"].iloc[0]


# -- damaged entries -------------------------------------------------------------


def test_entry_of_the_wrong_shape_warns_naming_it_and_is_recomputed(corpus, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    reference = cached_transform(StatsEmbedder(), corpus[:4], cache, progress=False)
    identity = embedder_identity(StatsEmbedder())
    wrong = cache.path((identity, file_digest(corpus[2])))
    np.save(wrong, np.zeros(7, dtype=np.float32))  # e.g. another model's output

    embedder = StatsEmbedder()
    with pytest.warns(RuntimeWarning, match="cache entry") as record:
        X = cached_transform(embedder, corpus[:4], cache, progress=False)
    assert str(wrong) in str(record[0].message)
    assert "shape (7,)" in str(record[0].message)
    np.testing.assert_array_equal(X, reference)
    assert np.load(wrong).shape == (4,)  # overwritten by the recomputed row
    # The file is learnt from the first batch: only the bad entry was recomputed.
    assert [path for call in embedder._calls for path in call] == [corpus[0], corpus[2]]


@pytest.mark.parametrize(
    "bad",
    [np.zeros((1, 4), np.float32), np.array(["a", "b"]), np.full(4, np.nan)],
    ids=["2-d", "strings", "nan"],
)
def test_entry_that_is_not_a_finite_row_is_damaged(bad, corpus, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    reference = cached_transform(StatsEmbedder(), corpus[:3], cache, progress=False)
    wrong = cache.path((embedder_identity(StatsEmbedder()), file_digest(corpus[1])))
    np.save(wrong, bad)
    with pytest.warns(RuntimeWarning, match=f"could not read cache entry '{wrong}'"):
        X = cached_transform(StatsEmbedder(), corpus[:3], cache, progress=False)
    np.testing.assert_array_equal(X, reference)


def test_cli_failures_csv_keeps_every_batch_reason(corpus, tmp_path, capsys):
    # The report's symptom: `embed --cache --on-error skip` over several
    # batches wrote the error and message of the last batch's failures only.
    import subprocess

    pytest.importorskip("resemblyzer")  # the offline speaker encoder
    espeak = shutil.which("espeak-ng")
    if espeak is None:
        pytest.skip("needs espeak-ng to synthesise speech")
    from sklearn_audioconcepts.cli import main

    folder = tmp_path / "mixed"
    folder.mkdir()
    for i in range(4):
        text = f"this is spoken sentence number {i}"
        subprocess.run([espeak, "-w", str(folder / f"utt{i}.wav"), text], check=True)
    for name in ("a", "b", "c"):  # with batches of 2: failures in two batches
        (folder / f"broken_{name}.wav").write_bytes(f"RIFF not audio {name}".encode())
    out = tmp_path / "e.npz"
    argv = ["embed", str(folder), "-o", str(out), "--model", "resemblyzer",
            "--device", "cpu", "--cache", str(tmp_path / "cache"), "--on-error",
            "skip", "--batch-size", "2", "--quiet"]  # fmt: skip
    # The CLI reports the failures itself (one line, the embedder's Python
    # warning is not shown), even under --quiet.
    assert main(argv) == 0
    assert "3 of 7 files could not be embedded" in capsys.readouterr().err
    failures = pd.read_csv(tmp_path / "e.failed.csv")
    assert list(failures["id"]) == ["broken_a.wav", "broken_b.wav", "broken_c.wav"]
    assert failures["error"].notna().all()
    for name, message in zip("abc", failures["message"]):
        assert f"broken_{name}.wav" in message


class SkipsUnreadable(StatsEmbedder):
    """on_error="nan" for files that cannot be opened: NaN row, listed in failed_."""

    def transform(self, X):
        missing = [i for i, path in enumerate(X) if not os.path.exists(path)]
        readable = [path for i, path in enumerate(X) if i not in missing]
        rows = np.full((len(X), 4), np.nan)
        rows[[i for i in range(len(X)) if i not in missing]] = super().transform(
            readable
        )
        self.failed_ = pd.DataFrame(
            {
                "index": missing,
                "input": [f"X[{i}] ('{X[i]}')" for i in missing],
                "error": ["FileNotFoundError"] * len(missing),
                "message": [f"no file {X[i]}" for i in missing],
            }
        )
        return rows


def test_unreadable_file_follows_the_embedders_on_error(corpus, tmp_path):
    """Before: file_digest raised for a missing file or broken link, whatever
    the embedder's on_error, so one such file lost the whole run."""
    broken = tmp_path / "audio" / "broken.wav"
    broken.symlink_to(tmp_path / "audio" / "gone.wav")
    paths = [*list(corpus)[:3], str(broken)]
    embedder = SkipsUnreadable(batch_size=2)
    X = cached_transform(embedder, paths, tmp_path / "c", progress=False)
    assert np.isfinite(X[:3]).all() and np.isnan(X[3]).all()
    assert list(embedder.failed_["index"]) == [3]
    assert embedder.failed_["message"][0] == f"no file {broken}"
    assert len(EmbeddingCache(tmp_path / "c")) == 3  # the failure is not stored
    # An embedder that raises on it (on_error="raise") raises, naming it.
    with pytest.raises(FileNotFoundError, match="gone.wav|broken.wav"):
        cached_transform(StatsEmbedder(), paths, tmp_path / "c2", progress=False)
