"""The user guide's own-embedder example runs and follows the embedder protocol.

The ``MyEmbedder`` code block of ``docs/user_guide.rst`` (section "The
embedder protocol") is executed as written; then the consumers the guide
lists take the object: a vocabulary, zero-shot classification, the
projector's text encoder, the embedding cache, clone and pickle.
"""

import pickle
import re
import sys
import types
import warnings
from pathlib import Path

import numpy as np
import pytest
import soundfile
from sklearn.base import clone

from sklearn_audioconcepts import ConceptDecomposer, FineTunedConceptProjector
from sklearn_audioconcepts.cache import (
    EmbeddingCache,
    cached_transform,
    embedder_identity,
)

USER_GUIDE = Path(__file__).resolve().parents[1] / "docs" / "user_guide.rst"


def _example_block():
    text = USER_GUIDE.read_text()
    section = text[text.index(".. _embedder_protocol:") :]
    blocks = re.findall(
        r"\.\. code-block:: python\n\n((?:   .*\n|\n)+)", section, flags=re.M
    )
    block = next(b for b in blocks if "class MyEmbedder" in b)
    return "\n".join(line[3:] for line in block.splitlines())


@pytest.fixture(scope="module")
def example():
    # A real module, so that the example's classes pickle by reference.
    module = types.ModuleType("user_guide_embedder_example")
    sys.modules[module.__name__] = module
    try:
        code = compile(_example_block(), str(USER_GUIDE), "exec")
        exec(code, module.__dict__)  # noqa: S102
        yield module.__dict__
    finally:
        del sys.modules[module.__name__]


def test_example_outputs_follow_the_protocol(example):
    X, embedder = example["X"], example["embedder"]
    assert X.shape == (3, 32) and X.dtype == np.float32
    np.testing.assert_allclose(np.linalg.norm(X, axis=1), 1, rtol=1e-5)
    texts = embedder.embed_text(["a dog", "rain on a roof"])
    assert texts.shape == (2, 32)
    np.testing.assert_allclose(np.linalg.norm(texts, axis=1), 1, rtol=1e-5)
    assert len(embedder.get_feature_names_out()) == X.shape[1]
    assert list(example["vocabulary"].names) == ["low tone", "high tone"]
    assert set(example["zero_shot"].predict(X)) <= {"low", "high"}


def test_example_is_lazy_and_picklable(example):
    fresh = clone(example["embedder"])
    assert getattr(fresh, "_loaded", None) is None  # clone loads nothing
    fresh.fit()
    assert getattr(fresh, "_loaded", None) is None  # nor does fit
    fresh.embed_text(["x"])
    assert fresh._loaded is not None
    restored = pickle.loads(pickle.dumps(fresh))
    assert getattr(restored, "_loaded", None) is None  # weights not pickled
    np.testing.assert_array_equal(
        restored.embed_text(["a tone"]), fresh.embed_text(["a tone"])
    )


def test_example_batch_size_and_on_error(example, tmp_path):
    MyEmbedder = example["MyEmbedder"]
    clips = [clip for clip, _ in example["clips"]]
    one = MyEmbedder(sample_rate=16_000, batch_size=1).transform(clips)
    many = MyEmbedder(sample_rate=16_000, batch_size=16).transform(clips)
    np.testing.assert_allclose(one, many, rtol=1e-6)
    missing = str(tmp_path / "missing.wav")
    with pytest.raises(FileNotFoundError, match="missing.wav"):
        MyEmbedder().transform([missing])
    lenient = MyEmbedder(sample_rate=16_000, on_error="nan")
    X = lenient.transform([clips[0], missing])
    assert np.isfinite(X[0]).all() and np.isnan(X[1]).all()
    assert list(lenient.failed_["index"]) == [1]


def test_example_feeds_the_cache_and_the_projector(example, tmp_path):
    MyEmbedder, embedder = example["MyEmbedder"], example["embedder"]
    paths = []
    for i, (clip, rate) in enumerate(example["clips"]):
        paths.append(str(tmp_path / f"clip{i}.wav"))
        soundfile.write(paths[-1], clip, rate)
    cache = EmbeddingCache(tmp_path / "cache")
    first = cached_transform(embedder, paths, cache, progress=False)
    np.testing.assert_array_equal(first, embedder.transform(paths))
    assert len(cache) == len(paths)
    # cache_identity() decides: another seed is another model.
    assert embedder_identity(MyEmbedder(seed=1)) != embedder_identity(embedder)
    assert embedder_identity(MyEmbedder(batch_size=3)) == embedder_identity(embedder)

    rng = np.random.default_rng(0)
    t = np.arange(16_000) / 16_000
    waves = [
        (np.sin(2 * np.pi * f * t) + 0.01 * rng.standard_normal(t.size), 16_000)
        for f in np.r_[rng.uniform(150, 300, 12), rng.uniform(2000, 4000, 12)]
    ]
    X = embedder.transform(waves)
    y = np.repeat(["low", "high"], 12)
    vocabulary = example["ConceptVocabulary"].from_texts(
        ["low tone", "high tone", "hum", "whistle", "buzz", "chirp"], embedder
    )
    projector = FineTunedConceptProjector(
        ConceptDecomposer(vocabulary, l1_penalty=0.05, device="cpu"),
        text_encoder=embedder,
        max_epochs=0,
        device="cpu",
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        projector.fit(X, y)
    assert projector.prompts_.shape == (2, 32)
    assert set(projector.predict(X)) <= {"low", "high"}
