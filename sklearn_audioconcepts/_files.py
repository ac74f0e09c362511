"""Reading the files users give the package, with errors that name the file.

Every reader of a user file (vocabularies, models, embedding tables, cache
entries) goes through these helpers, so a missing, empty, truncated, damaged
or wrong kind of file raises one error type, :class:`FileReadError`, whose
message reads ``could not read <kind> '<path>': <what is wrong>``.

Nothing here unpickles: ``.npz``/``.npy`` files are read with
``allow_pickle=False`` (models go through :mod:`sklearn_audioconcepts.persistence`).
"""

import errno
import json
import os
import tempfile
import zipfile
import zlib
from contextlib import contextmanager
from pathlib import Path

import numpy as np

__all__ = [
    "FileReadError",
    "check_file",
    "reading",
    "load_npz",
    "load_npy",
    "parse_json",
    "read_text",
    "replacing",
]

# What decoding a damaged file raises (zipfile, zlib, numpy's format readers,
# json, text decoding). Other exceptions are bugs and propagate unchanged.
_DECODE_ERRORS = (
    OSError,
    EOFError,
    ValueError,
    KeyError,
    zipfile.BadZipFile,
    zlib.error,
)


_JSON_NAMES = {list: "array", str: "string", int: "number", float: "number",
               bool: "boolean", type(None): "null"}  # fmt: skip


class FileReadError(ValueError):
    """A file the package was asked to read is missing, damaged or of the wrong kind.

    The message reads ``could not read <kind> '<path>': <what is wrong>``.
    It subclasses :class:`ValueError`; a missing file raises a subclass that
    is also a :class:`FileNotFoundError`.

    Attributes
    ----------
    kind : str
        What the file was read as (``'vocabulary'``, ``'model'``, ...).
    path : pathlib.Path
        The file.
    reason : str
        What is wrong with it.
    """

    def __init__(self, kind, path, reason):
        self.kind, self.path, self.reason = kind, Path(path), reason
        super().__init__(f"could not read {kind} '{path}': {reason}")

    def __reduce__(self):  # picklable (joblib and Dask workers send errors back)
        return type(self), (self.kind, self.path, self.reason)

    def __str__(self):  # OSError (the missing-file subclass) formats its own
        return self.args[0]


class _MissingFileError(FileReadError, FileNotFoundError):
    """No file at the path: a FileReadError that is also a FileNotFoundError."""

    def __init__(self, kind, path, reason):
        super().__init__(kind, path, reason)
        self.errno, self.filename = errno.ENOENT, str(path)


def check_file(kind, path):
    """``path`` as a Path after checking it names an existing, non-empty file."""
    path = Path(os.fspath(path))
    if path.is_dir():
        raise FileReadError(kind, path, "it is a folder, not a file.")
    if not path.exists():
        raise _MissingFileError(
            kind,
            path,
            f"no such file (relative paths are resolved from {Path.cwd()}).",
        )
    if path.stat().st_size == 0:
        raise FileReadError(kind, path, "the file is empty (0 bytes).")
    return path


@contextmanager
def reading(kind, path):
    """Check ``path``, then turn decoding errors inside the block into FileReadError.

    Yields the checked :class:`~pathlib.Path`. A FileReadError raised inside
    passes unchanged; the original exception is kept as ``__cause__``.
    """
    path = check_file(kind, path)
    try:
        yield path
    except FileReadError:
        raise
    except _DECODE_ERRORS as exc:
        raise FileReadError(kind, path, describe(exc)) from exc


def describe(exc):
    """A user-facing account of a decoding error (what is wrong with the file)."""
    text = str(exc).strip().rstrip(".")
    if isinstance(exc, zipfile.BadZipFile):
        if text == "File is not a zip file":
            return (
                "it is not a readable zip archive (as .npz and .skops files are): "
                "it is truncated, or another kind of file."
            )
        return f"the file is damaged ({text}); recreate it or restore a copy."
    if isinstance(exc, zlib.error):
        return (
            f"the file is damaged (compressed data: {text}); recreate it or "
            "restore a copy."
        )
    if isinstance(exc, EOFError):
        return "the file ends early (truncated)."
    if isinstance(exc, KeyError):
        return f"an expected part is missing ({text.strip(chr(34) + chr(39))})."
    if isinstance(exc, UnicodeDecodeError):
        return f"it is not UTF-8 text ({text})."
    if text.startswith("Object arrays cannot be loaded"):
        return "it holds Python objects (pickled), which are never loaded."
    if "allow_pickle=False" in text:
        # numpy read neither a .npy nor a zip magic number and fell back to
        # pickle, which we never load.
        return "it is neither a .npy array nor an .npz archive."
    return f"{text}."


def load_npz(kind, path, required, *, optional=(), expected=None):
    """Read the named arrays of an ``.npz`` archive into memory, pickle refused.

    Parameters
    ----------
    kind : str
        What the file is read as, for messages (``'vocabulary'``).
    path : str or path-like
        The archive.
    required : sequence of str
        Arrays it must hold.
    optional : sequence of str, default=()
        Arrays read when present.
    expected : str or None, default=None
        What would have written the file, for the message when arrays are
        missing (``'a file written by ConceptVocabulary.save'``).

    Returns
    -------
    arrays : dict of str to ndarray
        The required arrays and the optional ones present. The file is
        closed on return and on every error.
    """
    with reading(kind, path) as path, open(path, "rb") as handle:
        # Opening the file ourselves closes it even when numpy's zip reader
        # fails (np.load(path) leaks the handle on a truncated archive).
        loaded = np.load(handle, allow_pickle=False)
        if not isinstance(loaded, np.lib.npyio.NpzFile):
            raise FileReadError(
                kind, path, "it holds a single .npy array, not an .npz archive."
            )
        with loaded as archive:
            present = set(archive.files)
            missing = [name for name in required if name not in present]
            if missing:
                hint = f"; it is not {expected}" if expected else ""
                held = sorted(present)
                held = held if len(held) <= 5 else [*held[:5], "..."]
                raise FileReadError(
                    kind,
                    path,
                    f"it has no {sorted(missing)} arrays (it holds {held}){hint}.",
                )
            names = [*required, *(n for n in optional if n in present)]
            return {name: archive[name] for name in names}


def load_npy(kind, path):
    """Read one ``.npy`` array (pickle refused); errors name the file.

    For readers of single-array files such as cache entries. A ``.npy`` file
    has no checksum: a flipped byte in the data reads as a different value,
    so callers that can check the shape or dtype should.
    """
    with reading(kind, path) as path, open(path, "rb") as handle:
        loaded = np.load(handle, allow_pickle=False)
        if not isinstance(loaded, np.ndarray):
            loaded.close()
            raise FileReadError(
                kind, path, "it is an .npz archive, not a single .npy array."
            )
        return loaded


def read_text(kind, path):
    """The UTF-8 text of a file (e.g. a list of concept names); errors name it."""
    with reading(kind, path) as path:
        return path.read_text(encoding="utf-8")


def parse_json(kind, path, text, *, what="header"):
    """``text`` parsed as a JSON object; errors name the file and the part."""
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise FileReadError(
            kind, path, f"its {what} is not valid JSON ({exc})."
        ) from exc
    if not isinstance(value, dict):
        found = _JSON_NAMES.get(type(value), type(value).__name__)
        raise FileReadError(
            kind, path, f"its {what} is a JSON {found}, not an object ({{...}})."
        )
    return value


@contextmanager
def replacing(path, *, suffix=".partial"):
    """Write a file under a temporary name, then rename it to ``path``.

    Yields the temporary :class:`~pathlib.Path`, in ``path``'s folder (which
    is created) and named with ``suffix``, for the caller to write. When the
    block ends normally the file replaces ``path`` in one step; on any error
    or Ctrl-C it is removed. So a reader (or a rerun) sees the old file or the
    whole new one, never a partial file under the real name.
    """
    path = Path(os.fspath(path))
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(
        dir=path.parent, prefix=f".{path.name}.", suffix=suffix
    )
    os.close(handle)
    temporary = Path(temporary)
    try:
        yield temporary
        os.replace(temporary, path)
    except BaseException:
        temporary.unlink(missing_ok=True)
        raise
