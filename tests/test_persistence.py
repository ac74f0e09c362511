"""Every public estimator round-trips through joblib and skops.io, outputs unchanged.

``skops.io`` loads only types the caller trusts. The types each estimator
needs beyond skops' defaults (NumPy, SciPy, builtins, scikit-learn) are listed
in the package's :data:`sklearn_audioconcepts.persistence.TRUSTED_TYPES`,
which ``load_model`` trusts; the test fails when that list goes stale.

Add an estimator with one entry in :data:`CASES` and one in ``TRUSTED_TYPES``.
"""

import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
from _file_errors import assert_read_error  # tests/ is on sys.path
from sklearn.base import clone

from sklearn_audioconcepts import (
    CLAPEmbedder,
    ConceptDecomposer,
    FineTunedConceptProjector,
    ResemblyzerEmbedder,
    TitaNetEmbedder,
    TopKSparseAutoencoder,
    ZeroShotClassifier,
)
from sklearn_audioconcepts.datasets import make_concept_embeddings
from sklearn_audioconcepts.persistence import TRUSTED_TYPES

sio = pytest.importorskip("skops.io")  # a core dependency: never skipped


def _decomposer(data):
    return ConceptDecomposer(data["vocabulary"], device="cpu", progress=False)


def _sae(data):
    return TopKSparseAutoencoder(
        n_latents=32, k=4, max_epochs=2, device="cpu", progress=False, random_state=0
    )


def _sparse_sae(data):
    return _sae(data).set_params(output="sparse", normalize="layer_norm")


def _variant_sae(data):
    # BatchTopK's threshold and the Matryoshka sizes are fitted state too.
    return _sae(data).set_params(sparsity="batch_topk", matryoshka_sizes=[8, 16])


def _projector(data):
    return FineTunedConceptProjector(
        ConceptDecomposer(data["vocabulary"]),
        class_embeddings=data["prompts"],
        max_epochs=2,
        device="cpu",
        progress=False,
        random_state=0,
    )


def _paper_projector(data):
    return _projector(data).set_params(recipe="paper")


def _zero_shot(data):
    prompts = np.stack([data["prompts"][c] for c in range(3)])
    return ZeroShotClassifier([0, 1, 2], text_embeddings=prompts)


# name -> (make it from the data, outputs that must match, whether fit takes y)
CASES = {
    "ConceptDecomposer": (_decomposer, ["transform", "inverse_transform", "score"], 0),
    "TopKSparseAutoencoder": (
        _sae,
        ["transform", "inverse_transform", "reconstruct", "score"],
        False,
    ),
    "TopKSparseAutoencoder-sparse": (_sparse_sae, ["transform", "reconstruct"], 0),
    "TopKSparseAutoencoder-variants": (
        _variant_sae,
        ["transform", "inverse_transform", "reconstruct", "score"],
        False,
    ),
    "FineTunedConceptProjector": (
        _projector,
        ["transform", "predict_proba", "predict"],
        True,
    ),
    "FineTunedConceptProjector-paper": (
        _paper_projector,
        ["transform", "predict_proba", "predict"],
        True,
    ),
    "ZeroShotClassifier": (_zero_shot, ["predict_proba", "predict"], True),
}


@pytest.fixture(scope="module")
def data():
    X, vocabulary, codes, y = make_concept_embeddings(
        120, 60, 32, n_active=5, n_clusters=10, n_classes=3, random_state=0
    )
    # Stand-ins for the text embeddings of "This is a sound of <class>."
    prompts = {c: codes[y == c].mean(0) @ vocabulary.embeddings for c in range(3)}
    return {
        "X": X.astype(np.float32),
        "y": y,
        "vocabulary": vocabulary,
        "prompts": prompts,
    }


def _fit(name, data):
    make, methods, supervised = CASES[name]
    y = data["y"] if supervised else None
    return make(data).fit(data["X"], y), methods


def _outputs(estimator, methods, X):
    outputs = {}
    for method in methods:
        if method == "inverse_transform":
            result = estimator.inverse_transform(estimator.transform(X))
        else:
            result = getattr(estimator, method)(X)
        outputs[method] = _dense(result)
    return outputs


def _dense(result):
    return result.toarray() if sp.issparse(result) else result


def _assert_same_outputs(original, loaded, methods, X):
    expected, got = _outputs(original, methods, X), _outputs(loaded, methods, X)
    for method in methods:
        np.testing.assert_array_equal(got[method], expected[method], err_msg=method)
        assert np.asarray(got[method]).dtype == np.asarray(expected[method]).dtype


@pytest.mark.parametrize("name", sorted(CASES))
def test_joblib_round_trip(name, data, tmp_path):
    estimator, methods = _fit(name, data)
    joblib.dump(estimator, tmp_path / "model.joblib")
    loaded = joblib.load(tmp_path / "model.joblib")
    _assert_same_outputs(estimator, loaded, methods, data["X"])


@pytest.mark.parametrize("name", sorted(CASES))
def test_skops_round_trip_with_documented_trusted_types(name, data, tmp_path):
    estimator, methods = _fit(name, data)
    path = tmp_path / "model.skops"
    sio.dump(estimator, path)
    trusted = TRUSTED_TYPES[type(estimator).__name__]
    assert sorted(sio.get_untrusted_types(file=path)) == sorted(trusted)
    with pytest.raises(sio.exceptions.UntrustedTypesFoundException):
        sio.load(path)  # nothing is trusted implicitly
    loaded = sio.load(path, trusted=trusted)
    assert type(loaded) is type(estimator)
    _assert_same_outputs(estimator, loaded, methods, data["X"])
    # A loaded model is a normal estimator: it clones and refits the same way.
    X, y = data["X"], data["y"] if CASES[name][2] else None
    refit = clone(loaded).fit(X, y)
    output = getattr(refit, methods[0])
    np.testing.assert_array_equal(
        _dense(output(X[:5])), _dense(getattr(estimator, methods[0])(X[:5]))
    )


@pytest.mark.parametrize(
    "embedder",
    [
        CLAPEmbedder(checkpoint="my-clap.pt", on_error="nan", device="cpu"),
        ResemblyzerEmbedder(sample_rate=16000, device="cpu"),
        TitaNetEmbedder(checkpoint="titanet-l.nemo", batch_size=4, device="cpu"),
    ],
    ids=type,
)
def test_embedders_persist_their_parameters_and_never_a_model(embedder, tmp_path):
    """The embedders are stateless and load their model lazily: what persists
    is their parameters (tests/test_clap.py and tests/test_speaker.py show a
    loaded embedder pickles without its model and embeds the same after)."""
    path = tmp_path / "embedder.skops"
    sio.dump(embedder, path)
    trusted = TRUSTED_TYPES[type(embedder).__name__]
    assert sorted(sio.get_untrusted_types(file=path)) == sorted(trusted)
    loaded = sio.load(path, trusted=trusted)
    assert loaded.get_params() == embedder.get_params()
    joblib.dump(embedder, tmp_path / "embedder.joblib")
    assert joblib.load(tmp_path / "embedder.joblib").get_params() == (
        embedder.get_params()
    )


@pytest.mark.parametrize("make", [_sae, _variant_sae])
@pytest.mark.parametrize("how", ["pickle", "skops"])
def test_autoencoder_training_state_survives_persistence(how, make, data):
    """partial_fit after loading continues exactly where the original would."""
    X = data["X"]
    original = make(data).fit(X[:60])
    if how == "pickle":
        loaded = pickle.loads(pickle.dumps(original))
    else:
        loaded = sio.loads(
            sio.dumps(original), trusted=TRUSTED_TYPES["TopKSparseAutoencoder"]
        )
    original.partial_fit(X[60:])
    loaded.partial_fit(X[60:])
    np.testing.assert_array_equal(loaded.components_, original.components_)
    np.testing.assert_array_equal(loaded.transform(X), original.transform(X))
    assert loaded.threshold_ == original.threshold_


def _torch_objects(value, seen=None):
    """Paths to torch objects inside a pickled state (they pin a device)."""
    import torch

    seen = set() if seen is None else seen
    if id(value) in seen:
        return []
    seen.add(id(value))
    if isinstance(value, (torch.Tensor, torch.nn.Module, torch.optim.Optimizer)):
        return [type(value).__name__]
    children = []
    if isinstance(value, dict):
        children = value.items()
    elif isinstance(value, (list, tuple)):
        children = enumerate(value)
    elif hasattr(value, "__dict__") and not isinstance(value, type):
        # What pickle stores: nested estimators drop their caches here too.
        getstate = getattr(value, "__getstate__", None)
        state = getstate() if getstate is not None else vars(value)
        children = state.items() if isinstance(state, dict) else []
    return [
        f"{key}.{found}"
        for key, child in children
        for found in _torch_objects(child, seen)
    ]


@pytest.mark.parametrize("name", sorted(CASES))
def test_pickled_state_holds_no_torch_objects(name, data):
    """No device handles in the state: a model fitted on CUDA loads on a CPU box."""
    estimator, methods = _fit(name, data)
    _outputs(estimator, methods, data["X"])  # builds the device caches
    assert _torch_objects(estimator.__getstate__()) == []


# -- save_model / load_model: skops with the package's trusted types -----------


@pytest.mark.parametrize("name", sorted(CASES))
def test_save_model_load_model_round_trip(name, data, tmp_path):
    from sklearn_audioconcepts.persistence import load_model, save_model

    estimator, methods = _fit(name, data)
    path = save_model(estimator, tmp_path / "sub" / "model.skops")
    loaded = load_model(path, expected=type(estimator))
    assert type(loaded) is type(estimator)
    _assert_same_outputs(estimator, loaded, methods, data["X"])


def test_trusted_types_are_the_package_own_classes():
    import sklearn_audioconcepts as package

    for estimator, names in TRUSTED_TYPES.items():
        assert hasattr(package, estimator)
        for name in names:
            module, _, cls = name.rpartition(".")
            assert module.startswith("sklearn_audioconcepts."), name
            assert isinstance(getattr(__import__(module, fromlist=[cls]), cls), type)


class _WritesMarker:
    """Unpickling this object writes a file: a stand-in for a malicious model."""

    def __init__(self, marker):
        self.marker = marker

    def __reduce__(self):
        import pathlib

        return pathlib.Path.write_text, (pathlib.Path(self.marker), "code ran")


def _crafted_pickle(path, marker):
    joblib.dump(_WritesMarker(str(marker)), path)
    return path


@pytest.mark.parametrize("suffix", [".joblib", ".pkl", ".skops", ".bin"])
def test_load_model_never_unpickles_without_trust_pickle(tmp_path, suffix):
    from sklearn_audioconcepts import FileReadError, TopKSparseAutoencoder
    from sklearn_audioconcepts.persistence import load_model

    marker = tmp_path / "marker"
    path = _crafted_pickle(tmp_path / f"crafted{suffix}", marker)
    with pytest.raises(FileReadError, match="could not read .*model '.*crafted") as e:
        load_model(path, expected=TopKSparseAutoencoder)
    assert "trust_pickle=True" in str(e.value) and "--trust-pickle" in str(e.value)
    assert not marker.exists()
    # The file is live: trusting it runs its code (what the flag warns of).
    with pytest.raises(FileReadError, match="holds a int, not a TopKSparse"):
        load_model(path, expected=TopKSparseAutoencoder, trust_pickle=True)
    assert marker.read_text() == "code ran"


def test_load_model_with_trust_pickle_loads_a_real_joblib_model(data, tmp_path):
    from sklearn_audioconcepts.persistence import load_model

    estimator, methods = _fit("TopKSparseAutoencoder", data)
    joblib.dump(estimator, tmp_path / "sae.joblib")
    loaded = load_model(
        tmp_path / "sae.joblib", expected=TopKSparseAutoencoder, trust_pickle=True
    )
    _assert_same_outputs(estimator, loaded, methods, data["X"])


def _rewrite_schema(path, edit):
    """Copy of the skops archive at ``path`` with its schema.json edited."""
    import json
    import zipfile

    tampered = path.with_name("tampered.skops")
    with zipfile.ZipFile(path) as source, zipfile.ZipFile(tampered, "w") as target:
        for info in source.infolist():
            content = source.read(info)
            if info.filename == "schema.json":
                content = json.dumps(edit(json.loads(content))).encode()
            target.writestr(info, content)
    return tampered


def test_load_model_refuses_a_tampered_file_with_other_types(data, tmp_path):
    from sklearn_audioconcepts import FileReadError
    from sklearn_audioconcepts.persistence import load_model, save_model

    estimator, _ = _fit("TopKSparseAutoencoder", data)
    path = save_model(estimator, tmp_path / "sae.skops")

    def to_popen(schema):
        schema["__module__"], schema["__class__"] = "subprocess", "Popen"
        return schema

    tampered = _rewrite_schema(path, to_popen)
    assert sio.get_untrusted_types(file=tampered) == ["subprocess.Popen"]
    with pytest.raises(FileReadError, match="does not trust: subprocess.Popen"):
        load_model(tampered)
    with pytest.raises(FileReadError, match="does not trust: subprocess.Popen"):
        load_model(tampered, trust_pickle=True)  # the flag is about pickles only


class _OwnStep(TopKSparseAutoencoder):
    """A user's own class inside a saved model."""


def test_load_model_trusts_more_types_only_when_named(tmp_path):
    from sklearn.pipeline import make_pipeline

    from sklearn_audioconcepts import FileReadError
    from sklearn_audioconcepts.persistence import load_model, save_model

    pipeline = make_pipeline(_OwnStep(n_latents=8, k=2))
    path = save_model(pipeline, tmp_path / "pipeline.skops")
    own = f"{_OwnStep.__module__}.{_OwnStep.__qualname__}"
    with pytest.raises(FileReadError, match=f"does not trust: {own}"):
        load_model(path)
    loaded = load_model(path, trusted=[own])
    assert loaded.steps[0][1].get_params() == pipeline.steps[0][1].get_params()


def test_save_model_writes_only_skops_names(tmp_path):
    from sklearn_audioconcepts.persistence import save_model

    with pytest.raises(ValueError, match="name the file 'sae.skops'"):
        save_model(TopKSparseAutoencoder(), tmp_path / "sae.joblib")
    assert not (tmp_path / "sae.joblib").exists()


def _skops_model(tmp_path):
    from sklearn_audioconcepts.persistence import save_model

    X = np.random.default_rng(0).standard_normal((64, 8)).astype(np.float32)
    sae = TopKSparseAutoencoder(
        n_latents=16, k=2, max_epochs=1, device="cpu", progress=False
    ).fit(X)
    return save_model(sae, tmp_path / "good.skops").read_bytes()


def _flip_middle(content):
    content = bytearray(content)
    content[len(content) // 2] ^= 0xFF
    return bytes(content)


# name -> (file content from a good skops model, words expected in the reason)
_BAD_MODELS = {
    "empty": (lambda good, tmp: b"", "empty"),
    "truncated": (lambda good, tmp: good[: len(good) // 2], "truncated"),
    "flipped byte": (lambda good, tmp: _flip_middle(good), "damaged"),
    "text file": (lambda good, tmp: b"hello world\n", "not a model file"),
    "npz array file": (
        lambda good, tmp: _npz_bytes(a=np.ones(3)),
        "without skops' schema.json",
    ),
    "vocabulary file": (
        lambda good, tmp: _npz_bytes(
            names=np.array(["a"]), embeddings=np.ones((1, 2)), header=np.array("{}")
        ),
        "without skops' schema.json",
    ),
}


def _npz_bytes(**arrays):
    import io

    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    return buffer.getvalue()


@pytest.mark.parametrize("case", sorted(_BAD_MODELS))
def test_unreadable_model_files_raise_one_error_naming_the_file(case, tmp_path):
    from sklearn_audioconcepts.persistence import load_model

    make, reason = _BAD_MODELS[case]
    path = tmp_path / "model.skops"
    path.write_bytes(make(_skops_model(tmp_path), tmp_path))
    error = assert_read_error(
        lambda: load_model(path, expected=TopKSparseAutoencoder),
        "TopKSparseAutoencoder model",
        path,
        reason,
    )
    assert isinstance(error, ValueError) and error.path == path


def test_missing_model_file_is_also_a_file_not_found_error(tmp_path):
    from sklearn_audioconcepts import FileReadError
    from sklearn_audioconcepts.persistence import load_model

    with pytest.raises(FileNotFoundError, match="could not read model .*no such file"):
        load_model(tmp_path / "nope.skops")
    with pytest.raises(FileReadError, match="is a folder"):
        load_model(tmp_path)
    error = FileReadError("model", tmp_path / "x.skops", "damaged.")
    assert str(pickle.loads(pickle.dumps(error))) == str(error)
