"""An on-disk embedding cache, so a long corpus run resumes where it stopped.

An embedding is stored under two hashes: the **content** of the audio file
(SHA-256 of its bytes, so renaming or moving a file keeps its entry and
editing it invalidates the entry) and the **identity** of the embedder (what
determines its output, see :func:`embedder_identity`). Each entry is one
``.npy`` file written atomically (to a temporary file, then renamed), so an
interrupted run leaves either a complete entry or none, never a torn one::

    from sklearn_audioconcepts.cache import EmbeddingCache, cached_transform

    cache = EmbeddingCache("~/.cache/my-corpus-embeddings")
    X = cached_transform(CLAPEmbedder(), paths, cache)  # interrupted? run again

Layout: ``<directory>/<identity>/<content>.npy`` plus an ``identity.json``
per embedder identity saying what it was (class, parameters, checkpoint),
so a directory of stale identities can be inspected and deleted by hand.
Entries are never evicted automatically.

Several processes may share one directory: entries appear only by an atomic
rename, a reader sees a whole entry or none, and :meth:`EmbeddingCache.clear`
running beside :meth:`~EmbeddingCache.put` and :meth:`~EmbeddingCache.get`
tolerates files and folders that vanish or appear under it. An entry that
cannot be used (unreadable, or not a finite row of the embedder's width) is
reported with a warning naming its file and recomputed.
"""

import contextlib
import errno
import hashlib
import json
import os
import time
import warnings
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp

from ._files import FileReadError, load_npy, replacing
from ._progress import progress_bar

__all__ = ["EmbeddingCache", "cached_transform", "embedder_identity", "file_digest"]

# How FileReadError and the warnings name a cache file.
_ENTRY_KIND = "cache entry"

_FORMAT_VERSION = 1
# Parameters that change how an embedder runs but not what it returns for a
# usable input (on_error only decides what a failed input does).
DEFAULT_IGNORED_PARAMS = ("progress", "verbose", "on_error")
_READ_BLOCK = 1 << 20
# Attributes that transform sets to describe its last call, not the model.
_PER_CALL_ATTRIBUTES = ("failed_",)
_FAILURE_COLUMNS = ["index", "input", "error", "message"]
# clear() leaves younger temporary files alone: they are writes in progress
# by another process (one row takes milliseconds); older ones were left by a
# writer that was killed.
_STALE_TEMPORARY_SECONDS = 60.0
# put() starts again when a concurrent clear() removed its folder between
# creating it and writing into it; each retry needs clear() to win that
# window of microseconds again, so a few suffice.
_PUT_ATTEMPTS = 20


class EmbeddingCache:
    """Embeddings on disk, one ``.npy`` per (embedder identity, file content).

    Parameters
    ----------
    directory : str or path-like
        Where entries live; created on the first write. ``~`` is expanded.

    Attributes
    ----------
    directory : pathlib.Path
        The resolved directory.

    See Also
    --------
    cached_transform : Embed a list of files, computing only the misses.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from sklearn_audioconcepts.cache import EmbeddingCache
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> key = ("identity-hash", "content-hash")
    >>> cache.get(key) is None
    True
    >>> cache.put(key, np.ones(3, dtype=np.float32))
    >>> cache.get(key)
    array([1., 1., 1.], dtype=float32)
    >>> key in cache, len(cache)
    (True, 1)
    """

    def __init__(self, directory):
        self.directory = Path(directory).expanduser()

    def __repr__(self):
        return f"EmbeddingCache('{self.directory}')"

    def path(self, key):
        """File holding the entry ``key = (identity, content)``."""
        identity, content = _check_key(key)
        return self.directory / identity / f"{content}.npy"

    def get(self, key):
        """The stored embedding, or None when absent (or unusable).

        An entry that cannot be used (damaged on disk outside this class: not
        a ``.npy`` file, or not a one-dimensional array of finite numbers) is
        reported with a ``RuntimeWarning`` naming its file and treated as
        missing, so it is recomputed and overwritten. An entry removed by a
        concurrent :meth:`clear` is simply missing.
        """
        path = self.path(key)
        try:
            entry = load_npy(_ENTRY_KIND, path)
        except FileNotFoundError:
            return None
        except FileReadError as exc:
            if isinstance(exc.__cause__, FileNotFoundError):
                return None  # removed by a concurrent clear() after the check
            self._warn_unusable(path, exc.reason)
            return None
        problem = _entry_problem(entry)
        if problem is not None:
            self._warn_unusable(path, problem)
            return None
        return entry

    def _warn_unusable(self, path, problem):
        # The wording of FileReadError, as a warning: the entry is recomputed.
        message = str(FileReadError(_ENTRY_KIND, path, problem.rstrip(".")))
        warnings.warn(
            f"{message}. Ignoring it; it will be recomputed and overwritten.",
            RuntimeWarning,
            stacklevel=3,
        )

    def put(self, key, embedding, *, description=None):
        """Store one embedding atomically (temporary file, then rename).

        Parameters
        ----------
        key : tuple (identity, content)
            Hex digests, e.g. from :func:`embedder_identity` and
            :func:`file_digest`.
        embedding : array-like
            The row to store (kept with its dtype).
        description : dict or None, default=None
            Written once per identity as ``identity.json``.
        """
        path = self.path(key)
        data = _npy_bytes(np.asarray(embedding))
        for attempt in range(_PUT_ATTEMPTS):
            try:
                path.parent.mkdir(parents=True, exist_ok=True)
                if description is not None:
                    info = path.parent / "identity.json"
                    if not info.exists():
                        _atomic_write(info, json.dumps(description, indent=2).encode())
                _atomic_write(path, data)
                return
            except (FileNotFoundError, FileExistsError):
                # A concurrent clear() removed the folder (or our temporary
                # file) under us; FileExistsError is mkdir(exist_ok=True)
                # finding it there and then gone. Start again.
                if attempt == _PUT_ATTEMPTS - 1:
                    raise

    def __contains__(self, key):
        return self.path(key).is_file()

    def __len__(self):
        return sum(
            1
            for folder in _scan(self.directory)
            for entry in _scan(folder)
            if entry.name.endswith(".npy")
        )

    def clear(self):
        """Delete every entry (and the identity descriptions).

        Safe beside other processes using the directory: files that vanish
        meanwhile are skipped, and a folder that a concurrent :meth:`put`
        fills again is kept. Temporary files of writes in progress (younger
        than a minute) are left to finish; older ones, left by a writer that
        was killed, are deleted.
        """
        stale_before = time.time() - _STALE_TEMPORARY_SECONDS
        for folder in _scan(self.directory):
            if not _is_folder(folder):
                continue
            for entry in _scan(folder):
                name = entry.name
                if name.endswith((".npy", ".json")) or (
                    name.endswith(".tmp") and _modified_before(entry, stale_before)
                ):
                    _remove(entry.path)
            try:
                os.rmdir(folder.path)
            except FileNotFoundError:
                pass
            except OSError as exc:  # refilled meanwhile, or holds other files
                if exc.errno not in (errno.ENOTEMPTY, errno.EEXIST):
                    raise


def cached_transform(
    embedder,
    X,
    cache,
    *,
    batch_size=None,
    ignore_params=DEFAULT_IGNORED_PARAMS,
    progress="auto",
):
    """Embed audio files, computing only those not already in ``cache``.

    Files are keyed by their content, so duplicates are embedded once and a
    renamed file is still found. Misses are embedded in batches and each
    batch is stored as soon as it is done: after an interruption (crash,
    kill, a file that fails to decode), calling again recomputes only the
    batches that had not finished.

    Parameters
    ----------
    embedder : transformer on audio files
        Anything whose ``transform`` takes a list of file paths and returns
        one row per file (e.g. ``CLAPEmbedder``, ``TitaNetEmbedder``).
    X : sequence of str or path-like
        Audio files.
    cache : EmbeddingCache or str or path-like
        The cache, or its directory.
    batch_size : int or None, default=None
        Files per ``transform`` call (and per write); ``None`` uses the
        embedder's ``batch_size`` parameter when it has one, else 32.
    ignore_params : tuple of str, default=("progress", "verbose", "on_error")
        Embedder parameters left out of its identity (see
        :func:`embedder_identity`).
    progress : bool or "auto", default="auto"
        Show a progress bar over batches of misses.

    Returns
    -------
    embeddings : ndarray of shape (n_files, n_features)
        One row per file, in the order of ``X``. Files the embedder could not
        embed (``on_error="nan"``) are NaN rows; they are never stored.

    Notes
    -----
    ``embedder.failed_`` is set to the failures of the whole call, as a
    :class:`pandas.DataFrame` with one row per NaN row of ``embeddings``, in
    order: ``index`` (the position in ``X``), ``input``, ``error`` and
    ``message`` (the embedder's own reason, gathered from its ``failed_``
    after each batch). It is empty when every file was embedded or found.

    Cache entries that cannot be used (unreadable, not a finite row, or of
    another width than the embedder's rows) are reported with a
    ``RuntimeWarning`` naming their file, recomputed and overwritten.

    Examples
    --------
    >>> import tempfile
    >>> from sklearn_audioconcepts.cache import EmbeddingCache, cached_transform
    >>> cache = EmbeddingCache(tempfile.mkdtemp())
    >>> X = cached_transform(embedder, paths, cache)  # doctest: +SKIP
    """
    if not hasattr(embedder, "transform"):
        raise TypeError(
            f"embedder must have a transform method, got {type(embedder).__name__}."
        )
    if not isinstance(cache, EmbeddingCache):
        cache = EmbeddingCache(cache)
    paths = _check_paths(X)
    batch_size = _batch_size(embedder, batch_size)
    identity, description = embedder_identity(
        embedder, ignore_params=ignore_params, with_description=True
    )
    keys = [_content_key(identity, path) for path in paths]
    first_path = {}  # content key -> first path with it, in input order
    for path, key in zip(paths, keys):
        first_path.setdefault(key, path)
    stored = {key: cache.get(key) if key[0] else None for key in first_path}
    computed = {}
    reasons = {}  # content key -> (error, message) of a failed input
    pending = [key for key in first_path if stored[key] is None]
    if not pending and len({stored[key].shape for key in first_path}) > 1:
        # Entries of several widths and nothing to compute: embed one file to
        # learn the embedder's width, and so which entries are wrong.
        pending = list(first_path)[:1]
    while pending:
        batches = range(0, len(pending), batch_size)
        for start in progress_bar(batches, progress=progress, desc="Embedding misses"):
            batch_keys = pending[start : start + batch_size]
            batch_paths = [first_path[key] for key in batch_keys]
            rows = _dense_rows(
                embedder.transform(batch_paths), len(batch_paths), embedder
            )
            reasons.update(_batch_reasons(embedder, batch_keys))
            for key, row in zip(batch_keys, rows):
                # A NaN row is an input that failed (on_error="nan"): failures
                # may be transient, so they are returned but never stored.
                if key[0] and np.isfinite(row).all():
                    cache.put(key, row, description=description)
                computed[key] = row
        pending = _wrong_width_entries(cache, stored, computed, embedder)
    X = np.stack([computed[key] if key in computed else stored[key] for key in keys])
    embedder.failed_ = _failure_table(X, paths, keys, reasons)
    return X


def embedder_identity(
    embedder, *, ignore_params=DEFAULT_IGNORED_PARAMS, with_description=False
):
    """A hex digest of what determines an embedder's output.

    An embedder may define it itself with a ``cache_identity()`` method
    returning a JSON-serialisable value (its class counts too). Otherwise it
    is made of:

    - the class (module and qualified name) and the version of the package
      defining it;
    - every parameter of ``get_params(deep=False)`` except ``ignore_params``
      (by default ``progress``, ``verbose`` and ``on_error``: how it runs, not what it
      returns). Strings and path-likes naming an existing file (a checkpoint)
      count as the file's absolute path, size and modification time, so a
      re-downloaded or fine-tuned checkpoint at the same path gives a new
      identity; an existing folder (a model saved with ``save_pretrained``)
      counts as the path, size and modification time of every file in it;
      nested estimators count by their own identity; other objects
      by :func:`joblib.hash`;
    - public fitted attributes (names ending in ``_``), by :func:`joblib.hash`,
      except ``failed_``, which describes the last ``transform`` call.

    ``device`` and ``batch_size`` do count: outputs on CPU and GPU, or in
    padded batches of different sizes, may differ in the last bits. Pass
    ``ignore_params=("progress", "verbose", "on_error", "device", "batch_size")`` to
    share entries across them.

    Parameters
    ----------
    embedder : estimator
    ignore_params : tuple of str, default=("progress", "verbose", "on_error")
    with_description : bool, default=False
        Also return the JSON-serialisable description that was hashed.

    Returns
    -------
    identity : str
        SHA-256 hex digest.
    description : dict
        Only when ``with_description``.
    """
    custom = getattr(embedder, "cache_identity", None)
    if callable(custom):
        # The class counts too: two embedders returning the same value from
        # cache_identity() must not share entries.
        cls = type(embedder)
        description = {
            "class": f"{cls.__module__}.{cls.__qualname__}",
            "cache_identity": custom(),
        }
    else:
        description = _describe_estimator(embedder, tuple(ignore_params))
    description = {"format_version": _FORMAT_VERSION, **description}
    try:
        text = json.dumps(description, sort_keys=True)
    except TypeError as exc:
        raise TypeError(
            f"The identity of {type(embedder).__name__} is not JSON-serialisable "
            f"({exc}); make cache_identity() return plain values."
        ) from None
    identity = hashlib.sha256(text.encode()).hexdigest()
    return (identity, description) if with_description else identity


def _content_key(identity, path):
    """``(identity, digest)`` of a file; ``(None, path)`` when it cannot be read.

    An unreadable file (missing, broken link, no permission) is neither looked
    up nor stored: it goes to the embedder like a miss, so that its
    ``on_error`` policy decides (an error naming it, or a NaN row listed in
    ``failed_``) as it does without a cache.
    """
    try:
        return identity, file_digest(path)
    except OSError:
        return None, str(path)


def file_digest(path):
    """SHA-256 hex digest of a file's bytes (read in 1 MiB blocks)."""
    path = Path(os.fspath(path))
    if not path.is_file():
        raise FileNotFoundError(
            f"Audio file not found: '{path}'. Check the path (relative paths are "
            f"resolved from {Path.cwd()})."
        )
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        while block := handle.read(_READ_BLOCK):
            digest.update(block)
    return digest.hexdigest()


# -- helpers -----------------------------------------------------------------


def _describe_estimator(estimator, ignore_params):
    cls = type(estimator)
    package = cls.__module__.split(".")[0]
    description = {
        "class": f"{cls.__module__}.{cls.__qualname__}",
        "package_version": _package_version(package),
    }
    if hasattr(estimator, "get_params"):
        params = estimator.get_params(deep=False)
        description["params"] = {
            name: _describe_value(value, ignore_params)
            for name, value in sorted(params.items())
            if name not in ignore_params
        }
    fitted = {
        name: _joblib_hash(value)
        for name, value in sorted(vars(estimator).items())
        if name.endswith("_")
        and not name.startswith("_")
        and name not in _PER_CALL_ATTRIBUTES
    }
    if fitted:
        description["fitted"] = fitted
    return description


def _describe_value(value, ignore_params):
    if value is None or isinstance(value, (bool, int, float)):
        return value
    if isinstance(value, (str, os.PathLike)):
        path = Path(os.fspath(value)).expanduser()
        if path.is_file():
            stat = path.stat()
            return {
                "file": str(path.resolve()),
                "size": stat.st_size,
                "mtime_ns": stat.st_mtime_ns,
            }
        if path.is_dir():  # a model folder (save_pretrained): every file counts
            return {"folder": str(path.resolve()), "files": _folder_stats(path)}
        return os.fspath(value) if isinstance(value, os.PathLike) else value
    if isinstance(value, (list, tuple)):
        return [_describe_value(item, ignore_params) for item in value]
    if isinstance(value, dict) and all(isinstance(key, str) for key in value):
        return {
            key: _describe_value(item, ignore_params) for key, item in value.items()
        }
    if hasattr(value, "get_params") and not isinstance(value, type):
        return _describe_estimator(value, ignore_params)
    return {"joblib_hash": _joblib_hash(value)}


def _folder_stats(folder, limit=1000):
    """(relative path, size, mtime) of the files in a folder, sorted."""
    stats = []
    for path in sorted(folder.rglob("*")):
        if path.is_file():
            stat = path.stat()
            stats.append(
                [str(path.relative_to(folder)), stat.st_size, stat.st_mtime_ns]
            )
            if len(stats) >= limit:
                break
    return stats


def _joblib_hash(value):
    import joblib

    return joblib.hash(value)


def _package_version(package):
    from importlib import metadata

    try:
        version = getattr(__import__(package), "__version__", None)
    except ImportError:  # e.g. a class defined in a script run as __main__
        version = None
    if version is None:
        try:
            version = metadata.version(package)
        except metadata.PackageNotFoundError:
            version = None
    return version


def _check_key(key):
    if (
        not isinstance(key, tuple)
        or len(key) != 2
        or not all(isinstance(part, str) and part for part in key)
        or any(os.sep in part or part in (".", "..") for part in key)
    ):
        raise ValueError(
            f"A cache key is a pair of non-empty strings (identity, content) with no "
            f"path separators, e.g. hex digests; got {key!r}."
        )
    return key


def _entry_problem(entry):
    """What makes a loaded entry unusable as an embedding row, or None."""
    if entry.ndim != 1:
        return f"it holds an array of shape {entry.shape}, not one row"
    if not np.issubdtype(entry.dtype, np.number) or np.iscomplexobj(entry):
        return f"it holds {entry.dtype} values, not real numbers"
    if not np.isfinite(entry).all():
        # Failed rows are never stored, so this was written by something else.
        return "it holds NaN or infinite values"
    return None


def _scan(directory):
    """The entries of a folder, or none when it vanished meanwhile."""
    try:
        with os.scandir(directory) as entries:
            return list(entries)
    except (FileNotFoundError, NotADirectoryError):
        return []


def _is_folder(entry):
    try:
        return entry.is_dir(follow_symlinks=False)
    except OSError:
        return False


def _modified_before(entry, moment):
    try:
        return entry.stat(follow_symlinks=False).st_mtime < moment
    except FileNotFoundError:
        return False


def _remove(path):
    # Already removed by a concurrent clear() is as good as removed.
    with contextlib.suppress(FileNotFoundError):
        os.unlink(path)


def _npy_bytes(array):
    import io

    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def _atomic_write(path, data):
    """Write bytes to ``path`` so readers see the old file or the whole new one."""
    # ".tmp": clear() recognises (and ages) the temporary files of writes.
    with replacing(path, suffix=".tmp") as temporary, open(temporary, "wb") as stream:
        stream.write(data)
        stream.flush()
        os.fsync(stream.fileno())


def _check_paths(X):
    if isinstance(X, (str, bytes, os.PathLike)):
        raise TypeError(
            f"X must be a list of audio file paths, got a single path {X!r}; wrap "
            "it in a list: [path]."
        )
    paths = list(X)
    if not paths:
        raise ValueError("X is empty: give at least one audio file.")
    bad = [
        i for i, item in enumerate(paths) if not isinstance(item, (str, os.PathLike))
    ]
    if bad:
        raise TypeError(
            f"cached_transform caches files by their content, so X must hold file "
            f"paths; X[{bad[0]}] is a {type(paths[bad[0]]).__name__}. Write "
            "in-memory waveforms to files first, or call the embedder directly."
        )
    return paths


def _batch_size(embedder, batch_size):
    if batch_size is None:
        batch_size = getattr(embedder, "batch_size", None)
        if not isinstance(batch_size, Integral) or isinstance(batch_size, bool):
            batch_size = 32
    elif not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def _wrong_width_entries(cache, stored, computed, embedder):
    """Stored entries whose width differs from the embedder's rows.

    Each is reported (naming its file) and returned, to be recomputed.
    """
    if not computed:
        return []
    shape = next(iter(computed.values())).shape
    wrong = []
    for key, entry in stored.items():
        if entry is not None and entry.shape != shape:
            cache._warn_unusable(
                cache.path(key),
                f"it holds an embedding of shape {entry.shape}, but "
                f"{type(embedder).__name__} returns rows of shape {shape}",
            )
            stored[key] = None
            if key not in computed:
                wrong.append(key)
    return wrong


def _batch_reasons(embedder, batch_keys):
    """The embedder's ``failed_`` for one batch, by content key.

    ``failed_`` describes the last ``transform`` call only, so it is read
    after each batch; its ``index`` is a position in the batch.
    """
    failed = getattr(embedder, "failed_", None)
    if not isinstance(failed, pd.DataFrame) or not {"index", "error"} <= set(
        failed.columns
    ):
        return {}
    messages = failed["message"] if "message" in failed else [""] * len(failed)
    reasons = {}
    for index, error, message in zip(failed["index"], failed["error"], messages):
        if isinstance(index, Integral) and 0 <= index < len(batch_keys):
            reasons[batch_keys[index]] = (str(error), str(message))
    return reasons


def _failure_table(X, paths, keys, reasons):
    """One row per non-finite row of ``X``, with the embedder's reason."""
    records = []
    for index in np.flatnonzero(~np.isfinite(X).all(axis=1)):
        error, message = reasons.get(
            keys[index],
            (
                "NonFiniteEmbedding",
                "the embedder returned NaN or infinite values for this file "
                "without recording why",
            ),
        )
        records.append(
            {
                "index": int(index),
                "input": f"X[{index}] ('{paths[index]}')",
                "error": error,
                "message": message,
            }
        )
    return pd.DataFrame(records, columns=_FAILURE_COLUMNS).astype({"index": int})


def _dense_rows(rows, n_expected, embedder):
    if sp.issparse(rows):
        rows = rows.toarray()
    elif hasattr(rows, "to_numpy"):
        rows = rows.to_numpy()
    rows = np.asarray(rows)
    if rows.ndim != 2 or rows.shape[0] != n_expected:
        raise ValueError(
            f"{type(embedder).__name__}.transform returned shape {rows.shape} for "
            f"{n_expected} files; expected one row per file."
        )
    return rows
