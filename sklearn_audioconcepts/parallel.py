"""Large corpora: Dask computations and bounded-memory streaming over any transformer.

Nothing here schedules work itself. Two routes, for two situations:

**More rows than one process can handle in time** -- hand the work to Dask.
:func:`transform_dask` turns ``estimator.transform`` over a corpus into a
lazy :class:`dask.array.Array`, one task per row block, which any Dask
scheduler runs: threads, processes, or a ``distributed`` cluster::

    from distributed import Client
    from sklearn_audioconcepts.parallel import transform_dask

    client = Client("scheduler-address:8786")      # or Client(LocalCluster())
    weights = transform_dask(decomposer, embeddings)  # dask array in, lazy
    weights.to_zarr("weights.zarr")                   # or .compute(), .persist()
    embeddings = transform_dask(clap, paths, batch_size=64).compute()

The fitted estimator travels to each worker once (it is one node of the
graph, not a copy per task), and each block's output is dense with the
declared dtype, so the metadata of the result is exact. Grid searches and
cross-validation already parallelise through joblib; to run their fits on
the same cluster use joblib's Dask backend::

    import joblib
    with joblib.parallel_config(backend="dask"):
        GridSearchCV(pipeline, grid, n_jobs=-1).fit(X, y)

dask-ml's ``ParallelPostFit`` wraps an estimator for the same purpose;
:func:`transform_dask` is a function instead (the estimator stays a plain
scikit-learn object, persisted and grid-searched as usual, and dask-ml is not
needed). It also takes lists of audio files, declares the output width and
dtype instead of probing the estimator (the decomposer refuses the all-zero
probe row such wrappers use), densifies sparse blocks, and checks that every
block keeps its rows.

**More rows than fit in memory, on one machine** -- stream them.
:func:`iter_transform` transforms an iterable of chunks one chunk at a time
(a generator of arrays, or :func:`iter_chunks` over a lazy list of files),
:func:`stream_transform` writes the results into a preallocated array (e.g. a
:class:`numpy.memmap`), and :func:`stream_partial_fit` trains an estimator
with ``partial_fit`` (e.g. :class:`~sklearn_audioconcepts.TopKSparseAutoencoder`)
over chunks, epoch after epoch. Memory is bounded by one chunk and the model,
whatever the number of rows.

Dask is an optional dependency: ``pip install "sklearn-audioconcepts[dask]"``.
"""

import itertools
from numbers import Integral

import numpy as np
import scipy.sparse as sp

__all__ = [
    "iter_chunks",
    "iter_transform",
    "stream_partial_fit",
    "stream_transform",
    "transform_dask",
]

# Rows per task when neither the caller nor the estimator says.
_DEFAULT_BATCH_SIZE = 1024


def transform_dask(estimator, X, *, batch_size=None, n_features_out=None, dtype=None):
    """``estimator.transform`` over a corpus as a lazy Dask array.

    Parameters
    ----------
    estimator : fitted transformer
        Anything with ``transform`` (a decomposer, an autoencoder, an
        embedder, a Pipeline). It is pickled to the workers, so fit it first;
        device caches are dropped on pickling and rebuilt there.
    X : dask.array.Array of shape (n_samples, n_features), or a sequence
        A 2-D Dask array is transformed block by block along its rows (its
        columns are merged into one chunk). Any other sliceable sequence (a
        NumPy array, a list of audio file paths) is cut into batches of
        ``batch_size`` rows, one task each.
    batch_size : int or None, default=None
        Rows per task for non-Dask ``X``; ``None`` uses the estimator's own
        ``batch_size`` parameter when it has one, else 1024.
    n_features_out : int or None, default=None
        Width of the output; ``None`` reads it from
        ``estimator.get_feature_names_out()``.
    dtype : str or numpy dtype or None, default=None
        Output dtype; ``None`` uses the ``dtype`` parameter of the estimator
        (of a Pipeline's last step) when it has one, else float32. Each block
        is cast to it, so the result's metadata is exact.

    Returns
    -------
    Xt : dask.array.Array of shape (n_samples, n_features_out)
        Lazy, dense result with one row block per task, in input order.
        Call ``.compute()`` for a NumPy array, or write it out blockwise
        (``.to_zarr``, ``.store``) when it does not fit in memory.

    Examples
    --------
    >>> import dask.array as da
    >>> from sklearn_audioconcepts import ConceptDecomposer
    >>> from sklearn_audioconcepts.datasets import make_concept_embeddings
    >>> from sklearn_audioconcepts.parallel import transform_dask
    >>> X, vocabulary, _, _ = make_concept_embeddings(60, 40, 16, random_state=0)
    >>> decomposer = ConceptDecomposer(vocabulary, device="cpu").fit(X)
    >>> weights = transform_dask(decomposer, da.from_array(X, chunks=(20, 16)))
    >>> weights.shape, weights.chunks[0]
    ((60, 40), (20, 20, 20))
    >>> bool((weights.compute(scheduler="sync") >= 0).all())
    True
    """
    dask, da = _import_dask()
    if not hasattr(estimator, "transform"):
        raise TypeError(
            f"estimator must have a transform method, got {type(estimator).__name__}."
        )
    n_features_out = _output_width(estimator, n_features_out)
    dtype = _output_dtype(estimator, dtype)
    meta = np.empty((0, 0), dtype=dtype)
    # One graph node holds the estimator: it is shipped to each worker once
    # instead of being embedded in every task.
    shared_estimator = dask.delayed(estimator, pure=True, traverse=False)
    if isinstance(X, da.Array):
        if X.ndim != 2:
            raise ValueError(
                f"A Dask array X must be 2-D (n_samples, n_features); got {X.ndim}-D."
            )
        if X.numblocks[1] != 1:
            X = X.rechunk({1: -1})
        return X.map_blocks(
            _transform_block,
            shared_estimator,
            n_features_out,
            dtype,
            chunks=(X.chunks[0], (n_features_out,)),
            dtype=dtype,
            meta=meta,
        )
    batch_size = _batch_size(estimator, batch_size)
    n_samples = _n_rows(X)
    if n_samples == 0:
        raise ValueError("X is empty: give at least one row or file.")
    blocks = []
    for start in range(0, n_samples, batch_size):
        batch = X[start : start + batch_size]
        task = dask.delayed(_transform_block, pure=True)(
            batch, shared_estimator, n_features_out, dtype
        )
        blocks.append(
            da.from_delayed(
                task, shape=(_n_rows(batch), n_features_out), dtype=dtype, meta=meta
            )
        )
    return da.concatenate(blocks, axis=0)


def iter_chunks(X, chunk_size):
    """Cut rows, files or any iterable into chunks of at most ``chunk_size``.

    Parameters
    ----------
    X : array-like, dask array, sequence or iterable
        Arrays (NumPy, Dask, sparse, pandas) are sliced, so a Dask or
        memory-mapped array is read one chunk at a time; other iterables (a
        generator of file paths, ``Path.rglob("*.wav")``) are consumed
        lazily into lists.
    chunk_size : int
        Rows per chunk (the last may be shorter).

    Yields
    ------
    chunk : same kind as ``X`` (a slice) or list
        Consecutive chunks covering ``X`` once, in order.

    Examples
    --------
    >>> from sklearn_audioconcepts.parallel import iter_chunks
    >>> [len(chunk) for chunk in iter_chunks(range(10), 4)]
    [4, 4, 2]
    """
    if not isinstance(chunk_size, Integral) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}.")
    if _is_sliceable(X):
        n_rows = _n_rows(X)
        for start in range(0, n_rows, chunk_size):
            chunk = X[start : start + chunk_size]
            if hasattr(chunk, "compute"):  # a Dask block: materialise just it
                chunk = chunk.compute()
            yield chunk
        return
    iterator = iter(X)
    while chunk := list(itertools.islice(iterator, chunk_size)):
        yield chunk


def iter_transform(estimator, chunks):
    """Transform chunks one at a time, holding only one chunk in memory.

    Parameters
    ----------
    estimator : fitted transformer
        Anything with ``transform``: numeric estimators take 2-D chunks,
        embedders take lists of files or waveforms.
    chunks : iterable
        The chunks, e.g. a generator reading embeddings from disk, or
        :func:`iter_chunks` over an array or a lazy list of files.

    Yields
    ------
    Xt : ndarray of shape (n_rows_in_chunk, n_features_out)
        Dense transform of each chunk, in order; each chunk must keep its
        row count (a transform that dropped rows would misalign them).

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_audioconcepts.parallel import iter_chunks, iter_transform
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> scaler = StandardScaler().fit(X)
    >>> [part.shape for part in iter_transform(scaler, iter_chunks(X, 4))]
    [(4, 2), (4, 2), (2, 2)]
    """
    if not hasattr(estimator, "transform"):
        raise TypeError(
            f"estimator must have a transform method, got {type(estimator).__name__}."
        )
    _check_not_one_array(chunks)
    for chunk in chunks:
        yield _transform_block(chunk, estimator, None, None)


def stream_transform(estimator, chunks, *, out=None):
    """Transform chunks one at a time into a preallocated output.

    Parameters
    ----------
    estimator : fitted transformer
        See :func:`iter_transform`.
    chunks : iterable
        See :func:`iter_transform`.
    out : array-like of shape (n_samples, n_features_out) or None, default=None
        Where rows are written in order, e.g. a :class:`numpy.memmap`, an
        ``h5py`` or ``zarr`` dataset: memory then stays bounded by one chunk.
        ``None`` gathers the chunks into one in-memory array.

    Returns
    -------
    Xt : ndarray or ``out``
        The transformed rows, in input order.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.preprocessing import StandardScaler
    >>> from sklearn_audioconcepts.parallel import iter_chunks, stream_transform
    >>> X = np.arange(20.0).reshape(10, 2)
    >>> scaler = StandardScaler().fit(X)
    >>> out = np.empty((10, 2))
    >>> np.allclose(stream_transform(scaler, iter_chunks(X, 3), out=out),
    ...             scaler.transform(X))
    True
    """
    parts = iter_transform(estimator, chunks)
    if out is None:
        gathered = list(parts)
        if not gathered:
            raise ValueError("chunks is empty: there is nothing to transform.")
        return np.concatenate(gathered, axis=0)
    n_rows = 0
    for part in parts:
        stop = n_rows + part.shape[0]
        if stop > out.shape[0] or part.shape[1:] != tuple(out.shape[1:]):
            raise ValueError(
                f"out has shape {tuple(out.shape)} but the chunks give at least "
                f"{stop} rows of shape {part.shape[1:]}; allocate out for every row."
            )
        out[n_rows:stop] = part
        n_rows = stop
    if n_rows != out.shape[0]:
        raise ValueError(
            f"The chunks gave {n_rows} rows but out has {out.shape[0]}: the "
            "remaining rows of out were not written."
        )
    return out


def stream_partial_fit(estimator, chunks, *, n_epochs=1, **fit_params):
    """Train with ``partial_fit`` over chunks, one chunk in memory at a time.

    Parameters
    ----------
    estimator : estimator with ``partial_fit``
        E.g. :class:`~sklearn_audioconcepts.TopKSparseAutoencoder` (one Adam
        pass per chunk) or scikit-learn's ``IncrementalPCA``. It is updated
        in place, continuing from its current state.
    chunks : iterable or callable
        The training chunks. With ``n_epochs > 1`` they are read once per
        epoch, so give something that can be iterated again (a list, an
        array cut by :func:`iter_chunks` each time) or a callable returning a
        fresh iterable of chunks; a one-shot generator is refused.
    n_epochs : int, default=1
        Passes over the chunks.
    **fit_params : dict
        Passed to every ``partial_fit`` call.

    Returns
    -------
    estimator : the estimator, trained

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn.decomposition import IncrementalPCA
    >>> from sklearn_audioconcepts.parallel import iter_chunks, stream_partial_fit
    >>> X = np.random.default_rng(0).standard_normal((100, 5))
    >>> pca = stream_partial_fit(IncrementalPCA(2), lambda: iter_chunks(X, 25))
    >>> int(pca.n_samples_seen_)
    100
    """
    if not hasattr(estimator, "partial_fit"):
        raise TypeError(
            f"{type(estimator).__name__} has no partial_fit; use fit, or an "
            "estimator that learns incrementally."
        )
    if not isinstance(n_epochs, Integral) or n_epochs < 1:
        raise ValueError(f"n_epochs must be a positive integer, got {n_epochs!r}.")
    _check_not_one_array(chunks)
    if n_epochs > 1 and not callable(chunks) and iter(chunks) is chunks:
        raise ValueError(
            f"n_epochs={n_epochs} needs the chunks once per epoch, but a generator "
            "or iterator can be read only once. Pass a callable returning a fresh "
            "iterable, e.g. lambda: iter_chunks(X, 1024)."
        )
    for _ in range(n_epochs):
        n_chunks = 0
        for chunk in chunks() if callable(chunks) else chunks:
            estimator.partial_fit(chunk, **fit_params)
            n_chunks += 1
        if n_chunks == 0:
            raise ValueError("chunks is empty: there is nothing to train on.")
    return estimator


# -- helpers -----------------------------------------------------------------


def _import_dask():
    try:
        import dask
        import dask.array as da
    except ImportError as exc:
        raise ImportError(
            f"Dask is needed for this ({exc}). Install the optional extra: "
            'pip install "sklearn-audioconcepts[dask]"'
        ) from None
    return dask, da


def _check_not_one_array(chunks):
    if getattr(chunks, "ndim", 1) == 2:
        raise TypeError(
            "chunks must be an iterable of chunks, not one 2-D array (iterating it "
            "would give one row at a time); cut it with iter_chunks(X, chunk_size)."
        )


def _transform_block(block, estimator, n_features_out, dtype):
    """Dense transform of one block, checked to keep every row (and width)."""
    Xt = estimator.transform(block)
    if sp.issparse(Xt):
        Xt = Xt.toarray()
    elif hasattr(Xt, "to_numpy"):  # set_output(transform="pandas")
        Xt = Xt.to_numpy()
    Xt = np.asarray(Xt)
    n_rows = _n_rows(block)
    if Xt.ndim != 2 or Xt.shape[0] != n_rows:
        raise ValueError(
            f"{type(estimator).__name__}.transform returned shape {Xt.shape} for "
            f"{n_rows} rows; each input row must give one output row, or rows "
            "and labels fall out of line."
        )
    if n_features_out is not None and Xt.shape[1] != n_features_out:
        raise ValueError(
            f"{type(estimator).__name__}.transform returned {Xt.shape[1]} columns, "
            f"but {n_features_out} were declared; pass n_features_out= to match."
        )
    return Xt if dtype is None else Xt.astype(dtype, copy=False)


def _output_width(estimator, n_features_out):
    if n_features_out is not None:
        if not isinstance(n_features_out, Integral) or n_features_out < 1:
            raise ValueError(
                f"n_features_out must be a positive integer, got {n_features_out!r}."
            )
        return int(n_features_out)
    try:
        return len(estimator.get_feature_names_out())
    except Exception as exc:  # not fitted, no names, or a transformer without them
        raise ValueError(
            f"Could not read the output width of {type(estimator).__name__} from "
            f"get_feature_names_out() ({type(exc).__name__}: {exc}). Fit the "
            "estimator first, or pass n_features_out=."
        ) from None


def _output_dtype(estimator, dtype):
    if dtype is None:
        # A Pipeline outputs what its last step does.
        while hasattr(estimator, "steps") and estimator.steps:
            estimator = estimator.steps[-1][1]
        dtype = getattr(estimator, "dtype", None)
        if not isinstance(dtype, (str, type, np.dtype)):
            dtype = np.float32
    return np.dtype(dtype)


def _batch_size(estimator, batch_size):
    if batch_size is None:
        batch_size = getattr(estimator, "batch_size", None)
        if not isinstance(batch_size, Integral) or isinstance(batch_size, bool):
            batch_size = _DEFAULT_BATCH_SIZE
    elif not isinstance(batch_size, Integral) or batch_size < 1:
        raise ValueError(f"batch_size must be a positive integer, got {batch_size!r}.")
    return int(batch_size)


def _is_sliceable(X):
    return hasattr(X, "shape") or isinstance(X, (list, tuple, range))


def _n_rows(X):
    shape = getattr(X, "shape", None)
    if shape is not None and len(shape) > 0:
        return int(shape[0])
    return len(X)
