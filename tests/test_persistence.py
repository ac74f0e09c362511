"""Every public estimator round-trips through joblib and skops.io, outputs unchanged.

``skops.io`` loads only types the caller trusts. The types each estimator
needs beyond skops' defaults (NumPy, SciPy, builtins, scikit-learn) are listed
in :data:`TRUSTED_TYPES`; the test fails when that list goes stale, so the
documentation built from it stays true. Loading then reads::

    import skops.io as sio
    model = sio.load("model.skops", trusted=TRUSTED_TYPES["ConceptDecomposer"])

Add an estimator with one entry in :data:`CASES` and one in :data:`TRUSTED_TYPES`.
"""

import pickle

import joblib
import numpy as np
import pytest
import scipy.sparse as sp
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

sio = pytest.importorskip("skops.io")

# Types outside skops' defaults that must be trusted to load each estimator.
TRUSTED_TYPES = {
    "ConceptDecomposer": [
        "sklearn_audioconcepts.decomposition.ConceptDecomposer",
        "sklearn_audioconcepts.vocabulary.ConceptVocabulary",
    ],
    "TopKSparseAutoencoder": ["sklearn_audioconcepts.sae.TopKSparseAutoencoder"],
    "FineTunedConceptProjector": [
        "sklearn_audioconcepts.decomposition.ConceptDecomposer",
        "sklearn_audioconcepts.projector.FineTunedConceptProjector",
        "sklearn_audioconcepts.vocabulary.ConceptVocabulary",
    ],
    "ZeroShotClassifier": ["sklearn_audioconcepts.zero_shot.ZeroShotClassifier"],
    "CLAPEmbedder": ["sklearn_audioconcepts.clap.CLAPEmbedder"],
    "ResemblyzerEmbedder": ["sklearn_audioconcepts.speaker.ResemblyzerEmbedder"],
    "TitaNetEmbedder": ["sklearn_audioconcepts.speaker.TitaNetEmbedder"],
}


def _decomposer(data):
    return ConceptDecomposer(data["vocabulary"], device="cpu", progress=False)


def _sae(data):
    return TopKSparseAutoencoder(
        n_latents=32, k=4, max_epochs=2, device="cpu", progress=False, random_state=0
    )


def _sparse_sae(data):
    return _sae(data).set_params(output="sparse", normalize="layer_norm")


def _projector(data):
    return FineTunedConceptProjector(
        ConceptDecomposer(data["vocabulary"]),
        class_embeddings=data["prompts"],
        max_epochs=2,
        device="cpu",
        progress=False,
        random_state=0,
    )


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
    "FineTunedConceptProjector": (
        _projector,
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


@pytest.mark.parametrize("how", ["pickle", "skops"])
def test_autoencoder_training_state_survives_persistence(how, data):
    """partial_fit after loading continues exactly where the original would."""
    X = data["X"]
    original = _sae(data).fit(X[:60])
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
