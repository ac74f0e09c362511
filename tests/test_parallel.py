"""Dask computations on a real local cluster, and bounded-memory streaming."""

import sys
import tracemalloc

import numpy as np
import pytest
from _audio_fixtures import StatsEmbedder, write_tone
from sklearn.base import clone
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

from sklearn_audioconcepts import ConceptDecomposer, TopKSparseAutoencoder
from sklearn_audioconcepts.datasets import make_concept_embeddings
from sklearn_audioconcepts.parallel import (
    iter_chunks,
    iter_transform,
    stream_partial_fit,
    stream_transform,
    transform_dask,
)

da = pytest.importorskip("dask.array")
distributed = pytest.importorskip("distributed")


@pytest.fixture(scope="module")
def data():
    X, vocabulary, _, y = make_concept_embeddings(
        240, 120, 32, n_active=6, n_clusters=20, n_classes=2, random_state=0
    )
    return X.astype(np.float32), vocabulary, y


@pytest.fixture(scope="module")
def fitted(data):
    X, vocabulary, _ = data
    decomposer = ConceptDecomposer(vocabulary, device="cpu", progress=False).fit(X)
    sae = TopKSparseAutoencoder(
        n_latents=64, k=4, max_epochs=2, device="cpu", progress=False, random_state=0
    ).fit(X)
    sparse_sae = clone(sae).set_params(output="sparse").fit(X)
    return {"decomposer": decomposer, "sae": sae, "sparse_sae": sparse_sae}


@pytest.fixture(scope="module")
def client():
    """Two single-threaded worker processes on loopback, closed after the module."""
    cluster = distributed.LocalCluster(
        n_workers=2,
        threads_per_worker=1,
        processes=True,
        host="127.0.0.1",
        dashboard_address=None,
    )
    client = distributed.Client(cluster)
    try:
        yield client
    finally:
        client.close()
        cluster.close()


def _in_process(estimator, X, chunk_size):
    """The same row blocks, transformed one after the other in this process."""
    return np.concatenate(list(iter_transform(estimator, iter_chunks(X, chunk_size))))


@pytest.mark.parametrize("name", ["decomposer", "sae", "sparse_sae"])
def test_transform_dask_on_cluster_matches_in_process(client, fitted, data, name):
    estimator = fitted[name]
    X = data[0]
    lazy = transform_dask(estimator, da.from_array(X, chunks=(70, 16)))
    n_out = len(estimator.get_feature_names_out())
    assert lazy.shape == (len(X), n_out)
    assert lazy.chunks == ((70, 70, 70, 30), (n_out,))
    assert lazy.dtype == np.float32

    result = client.compute(lazy).result()
    assert isinstance(result, np.ndarray) and result.dtype == np.float32
    # Workers ran the tasks: the cluster, not this process, did the work.
    assert client.run(lambda: True).keys() == client.scheduler_info()["workers"].keys()
    np.testing.assert_array_equal(result, _in_process(estimator, X, 70))
    whole = estimator.transform(X)
    whole = whole.toarray() if hasattr(whole, "toarray") else whole
    np.testing.assert_allclose(result, whole, rtol=1e-5, atol=1e-6)


def test_transform_dask_on_cluster_embeds_file_lists(client, tmp_path):
    paths = [
        str(write_tone(tmp_path / f"clip{i}.wav", 150 + 40 * i, seconds=0.05 + i / 200))
        for i in range(9)
    ]
    embedder = StatsEmbedder(batch_size=4)
    lazy = transform_dask(embedder, paths)
    assert lazy.chunks == ((4, 4, 1), (4,))
    result = client.compute(lazy).result()
    np.testing.assert_array_equal(result, embedder.transform(paths))


def test_joblib_dask_backend_grid_search_matches_in_process(client, data):
    import joblib
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV

    X, vocabulary, y = data
    X, y = X[:120], y[:120]
    pipeline = make_pipeline(
        ConceptDecomposer(vocabulary, device="cpu", progress=False),
        LogisticRegression(max_iter=200),
    )
    grid = {"conceptdecomposer__l1_penalty": [0.05, 0.2]}
    local = GridSearchCV(pipeline, grid, cv=2).fit(X, y)
    with joblib.parallel_config(backend="dask"):
        remote = GridSearchCV(pipeline, grid, cv=2, n_jobs=2).fit(X, y)
    scores = remote.cv_results_["mean_test_score"]
    assert np.isfinite(scores).all()
    np.testing.assert_array_equal(scores, local.cv_results_["mean_test_score"])


def test_transform_dask_local_scheduler_and_numpy_input(fitted, data):
    decomposer = fitted["decomposer"]
    X = data[0]
    from_numpy = transform_dask(decomposer, X, batch_size=100)
    assert from_numpy.chunks[0] == (100, 100, 40)
    np.testing.assert_array_equal(
        from_numpy.compute(scheduler="sync"), _in_process(decomposer, X, 100)
    )
    # Column-chunked input is merged into whole rows first.
    split_columns = da.from_array(X, chunks=(120, 8))
    np.testing.assert_array_equal(
        transform_dask(decomposer, split_columns).compute(scheduler="threads"),
        _in_process(decomposer, X, 120),
    )
    float64 = transform_dask(decomposer, X, dtype="float64")
    assert float64.dtype == np.float64 and float64.compute().dtype == np.float64
    pipeline = make_pipeline(
        StandardScaler(), clone(decomposer).set_params(dtype="float64")
    )
    from_pipeline = transform_dask(pipeline.fit(X), X, batch_size=120)
    assert from_pipeline.dtype == np.float64
    np.testing.assert_array_equal(
        from_pipeline.compute(scheduler="sync"), pipeline.transform(X)
    )


def test_transform_dask_errors_are_clear(fitted, data):
    X = data[0]
    with pytest.raises(ValueError, match="Fit the estimator first"):
        transform_dask(TopKSparseAutoencoder(), X)
    with pytest.raises(ValueError, match="must be 2-D"):
        transform_dask(fitted["sae"], da.zeros((4, 2, 2)))
    with pytest.raises(TypeError, match="transform method"):
        transform_dask(object(), X)
    with pytest.raises(ValueError, match="X is empty"):
        transform_dask(fitted["sae"], X[:0])
    wrong_width = transform_dask(fitted["sae"], X, n_features_out=5)
    with pytest.raises(ValueError, match="64 columns, but 5 were declared"):
        wrong_width.compute(scheduler="sync")

    class DropsRows:
        def transform(self, X):
            return np.zeros((len(X) - 1, 2))

    with pytest.raises(ValueError, match="rows and labels fall out of line"):
        next(iter_transform(DropsRows(), [X[:3]]))


def test_missing_dask_names_the_extra(monkeypatch, fitted, data):
    monkeypatch.setitem(sys.modules, "dask", None)
    monkeypatch.setitem(sys.modules, "dask.array", None)
    with pytest.raises(ImportError, match=r"sklearn-audioconcepts\[dask\]"):
        transform_dask(fitted["sae"], data[0])
    # Streaming needs no Dask.
    assert next(iter_transform(fitted["sae"], [data[0][:3]])).shape == (3, 64)


def test_iter_chunks_covers_every_row_once(data):
    X = data[0]
    for source in (X, da.from_array(X, chunks=50), list(X), iter(list(X))):
        chunks = list(iter_chunks(source, 100))
        assert [len(chunk) for chunk in chunks] == [100, 100, 40]
        rows = np.concatenate([np.asarray(chunk) for chunk in chunks])
        np.testing.assert_array_equal(rows, X)
    paths = (f"clip{i}.wav" for i in range(5))  # a lazy listing of files
    assert list(iter_chunks(paths, 2)) == [
        ["clip0.wav", "clip1.wav"],
        ["clip2.wav", "clip3.wav"],
        ["clip4.wav"],
    ]
    with pytest.raises(ValueError, match="positive integer"):
        list(iter_chunks(X, 0))
    with pytest.raises(TypeError, match="iter_chunks"):
        next(iter_transform(StatsEmbedder(), X))


def test_stream_transform_into_memmap(tmp_path, fitted, data):
    sae, X = fitted["sae"], data[0]
    out = np.lib.format.open_memmap(
        tmp_path / "codes.npy", mode="w+", dtype=np.float32, shape=(len(X), 64)
    )
    stream_transform(sae, iter_chunks(X, 64), out=out)
    out.flush()
    np.testing.assert_array_equal(np.load(tmp_path / "codes.npy"), sae.transform(X))
    np.testing.assert_array_equal(
        stream_transform(sae, iter_chunks(X, 64)), _in_process(sae, X, 64)
    )
    with pytest.raises(ValueError, match="remaining rows of out were not written"):
        stream_transform(sae, iter_chunks(X[:10], 4), out=np.empty((20, 64)))
    with pytest.raises(ValueError, match="allocate out for every row"):
        stream_transform(sae, iter_chunks(X, 64), out=np.empty((10, 64)))


def test_stream_partial_fit_from_dask_equals_from_memory(data):
    X = data[0]
    sae = TopKSparseAutoencoder(
        n_latents=32, k=4, device="cpu", progress=False, random_state=0
    )
    lazy = da.from_array(X, chunks=(60, 32))
    from_memory = stream_partial_fit(clone(sae), lambda: iter_chunks(X, 60), n_epochs=2)
    from_dask = stream_partial_fit(
        clone(sae), lambda: iter_chunks(lazy, 60), n_epochs=2
    )
    assert from_memory.n_iter_ == 8  # 4 chunks x 2 epochs, one pass per chunk
    np.testing.assert_array_equal(from_dask.components_, from_memory.components_)
    np.testing.assert_array_equal(from_dask.transform(X), from_memory.transform(X))

    with pytest.raises(ValueError, match="can be read only once"):
        stream_partial_fit(clone(sae), iter_chunks(X, 60), n_epochs=2)
    with pytest.raises(TypeError, match="has no partial_fit"):
        stream_partial_fit(ConceptDecomposer(data[1]), [X])
    with pytest.raises(ValueError, match="nothing to train on"):
        stream_partial_fit(clone(sae), [])
    with pytest.raises(TypeError, match="iter_chunks"):
        stream_partial_fit(clone(sae), X)


def _peak_bytes(run, repeats=1):
    """Smallest traced peak over ``repeats`` runs.

    tracemalloc sees every thread: a thread left by another test of the same
    worker (a Dask cluster closing) can add to one run's peak, never take away.
    """
    peaks = []
    for _ in range(repeats):
        tracemalloc.start()
        try:
            tracemalloc.reset_peak()
            run()
            peaks.append(tracemalloc.get_traced_memory()[1])
        finally:
            tracemalloc.stop()
    return min(peaks)


def test_streaming_memory_stays_bounded_as_rows_grow(tmp_path, fitted):
    """Peak memory (NumPy/Python allocations, traced) for 10x the rows.

    The chunks come from a generator, as they would from disk, and the codes go
    to a memory-mapped file; the materialising path is measured alongside to
    show that the measurement does see data that grows with N.
    """
    sae = fitted["sae"]
    chunk_rows = 500

    def chunks(n_chunks):
        for seed in range(n_chunks):
            rng = np.random.default_rng(seed)
            yield rng.standard_normal((chunk_rows, 32)).astype(np.float32)

    def streamed(n_chunks):
        out = np.lib.format.open_memmap(
            tmp_path / f"codes{n_chunks}.npy",
            mode="w+",
            dtype=np.float32,
            shape=(n_chunks * chunk_rows, 64),
        )
        return _peak_bytes(
            lambda: stream_transform(sae, chunks(n_chunks), out=out), repeats=3
        )

    def materialised(n_chunks):
        return _peak_bytes(
            lambda: sae.transform(np.concatenate(list(chunks(n_chunks))))
        )

    streamed(1)  # warm-up: lazy imports and the torch module are built once
    small, large = streamed(4), streamed(40)
    assert large < 1.5 * small, (small, large)
    grown = materialised(40) / materialised(4)
    assert grown > 5, grown  # the measurement does see N-sized data
