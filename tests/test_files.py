"""The shared reader of user files: one error type whose message names the file.

Vocabularies, models and tables have their own tests (test_vocabulary.py,
test_persistence.py, test_cli.py); these cover the helpers other readers
(the embedding cache, text lists) call.
"""

import io
import pickle

import numpy as np
import pytest
from _file_errors import assert_read_error  # tests/ is on sys.path

from sklearn_audioconcepts import FileReadError
from sklearn_audioconcepts._files import load_npy, read_text


def _npz_bytes():
    buffer = io.BytesIO()
    np.savez(buffer, x=np.ones(3))
    return buffer.getvalue()


@pytest.mark.parametrize(
    "content, reason",
    [
        (b"", "empty (0 bytes)"),
        (b"hello", "neither a .npy array nor an .npz archive"),
        (_npz_bytes(), "an .npz archive, not a single .npy array"),
        (_npz_bytes()[:60], "truncated, or another kind of file"),
    ],
    ids=["empty", "text", "npz", "truncated npz"],
)
def test_load_npy_errors_name_the_file_and_close_it(tmp_path, content, reason):
    path = tmp_path / "entry.npy"
    path.write_bytes(content)
    kind = "cache entry"
    assert_read_error(lambda: load_npy(kind, path), kind, path, reason)


def test_load_npy_reads_an_array_without_pickle(tmp_path):
    np.save(tmp_path / "a.npy", np.arange(4, dtype=np.float32))
    np.testing.assert_array_equal(load_npy("cache entry", tmp_path / "a.npy"), range(4))
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object))
    with pytest.raises(FileReadError, match="holds Python objects"):
        load_npy("cache entry", tmp_path / "o.npy")


def test_read_text_names_the_file(tmp_path):
    path = tmp_path / "concepts.txt"
    path.write_text("rain\nsiren\n", encoding="utf-8")
    assert read_text("concept list", path) == "rain\nsiren\n"
    path.write_bytes(b"caf\xe9\n")  # Latin-1, not UTF-8
    with pytest.raises(FileReadError, match="concept list '.*concepts.txt': it is not"):
        read_text("concept list", path)
    with pytest.raises(FileNotFoundError, match="concept list '.*nope.txt'"):
        read_text("concept list", tmp_path / "nope.txt")


def test_file_read_error_is_a_value_error_that_pickles(tmp_path):
    error = FileReadError("model", tmp_path / "m.skops", "the file is damaged.")
    assert isinstance(error, ValueError)
    assert (
        str(error)
        == f"could not read model '{tmp_path / 'm.skops'}': the file is damaged."
    )
    again = pickle.loads(pickle.dumps(error))  # raised in joblib/Dask workers
    assert type(again) is FileReadError and str(again) == str(error)
    assert (again.kind, again.path, again.reason) == (
        error.kind,
        error.path,
        error.reason,
    )
