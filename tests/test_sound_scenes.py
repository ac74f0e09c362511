"""make_sound_scenes: a controlled sound world with known factors."""

import shutil

import numpy as np
import pytest

from sklearn_audioconcepts._miniclap import tokenize
from sklearn_audioconcepts._sound_scenes import _SOURCE_NOUNS
from sklearn_audioconcepts.datasets import make_sound_scenes

pytestmark = pytest.mark.skipif(
    shutil.which("espeak-ng") is None and shutil.which("espeak") is None,
    reason="espeak-ng is not installed (apt-get install espeak-ng)",
)


@pytest.fixture(scope="module")
def scenes():
    return make_sound_scenes(240, random_state=0)


def test_same_seed_same_world_other_seed_other_world(scenes):
    again = make_sound_scenes(240, random_state=0)
    assert again.captions == scenes.captions
    assert again.factors.equals(scenes.factors)
    for a, b in zip(again.audio, scenes.audio):
        np.testing.assert_array_equal(a, b)
    other = make_sound_scenes(240, random_state=1)
    assert other.captions != scenes.captions
    assert not np.array_equal(other.audio[0], scenes.audio[0])


def test_shapes_types_and_levels(scenes):
    assert scenes.sample_rate == 16000
    assert len(scenes.audio) == len(scenes.captions) == len(scenes.factors) == 240
    for waveform in scenes.audio:
        assert waveform.dtype == np.float32 and waveform.shape == (24000,)
        assert np.isfinite(waveform).all()
        assert 0.05 < np.abs(waveform).max() <= 1.0
    loud = scenes.factors["loudness"].to_numpy() == "loud"
    peaks = np.array([np.abs(w).max() for w in scenes.audio])
    assert peaks[loud].min() > 5 * peaks[~loud].max()


def test_factor_coverage(scenes):
    factors = scenes.factors
    assert len(factors.columns) >= 6
    for name, values in scenes.factor_values.items():
        assert 2 <= len(values) <= 8
        # 240 clips draw every value of every factor.
        assert set(factors[name]) == set(values), name
    speech = factors["source"] == "speech"
    assert (factors.loc[~speech, ["language", "voice", "speed"]] == "none").all().all()
    assert (factors.loc[speech, ["language", "voice", "speed"]] != "none").all().all()
    # Mixtures of 1, 2 and 3 sources: an event only comes with a background.
    n_sources = 1 + (factors["background"] != "none") + (factors["event"] != "none")
    assert set(n_sources) == {1, 2, 3}
    assert not ((factors["event"] != "none") & (factors["background"] == "none")).any()


def test_captions_name_the_factors_in_varied_forms(scenes):
    assert len(set(scenes.captions)) > 0.9 * len(scenes.captions)
    for text, row in zip(scenes.captions, scenes.factors.to_dict("records")):
        lowered = text.lower()
        assert row["pitch"] in lowered
        if row["source"] == "speech":
            assert row["language"].lower() in lowered
        else:
            assert row["source"].split()[0] in lowered
        if row["background"] != "none":
            assert row["background"] in lowered
    # Several word orders: the main sound does not always come first.
    first_words = {text.split()[0] for text in scenes.captions}
    assert len(first_words) >= 8


def test_captions_say_sound_as_the_prompts_do(scenes):
    """The zero-shot prompts ("This is a sound of ...") say "sound": the
    captions must too, or the word is unknown to a model trained on them; and
    every word of an in-world concept is a caption word."""
    openings = [text.lower() for text in scenes.captions]
    assert any(text.startswith("this is a sound of ") for text in openings)
    assert any(text.startswith("the sound of ") for text in openings)
    caption_words = {w for text in scenes.captions for w in tokenize(text)}
    values = scenes.factor_values
    in_world = [
        concept
        for concept, asserted in scenes.concept_factors.items()
        if all(v in values[f] for f, v in asserted.items())
    ]
    for concept in in_world:
        assert set(tokenize(concept)) <= caption_words, concept


def test_a_single_value_is_named_in_the_captions_own_words(scenes):
    """A concept naming one value other than the source is a phrase the
    captions use for that value ("quiet", "with an echo"), found verbatim in
    the caption of every clip that has the value: no "quiet sound", whose
    "sound" belongs to the captions' openings and names nothing."""
    values = scenes.factor_values
    rows = scenes.factors
    texts = np.array([text.lower() for text in scenes.captions])
    checked = 0
    for concept, asserted in scenes.concept_factors.items():
        if len(asserted) != 1 or "source" in asserted:
            continue
        ((factor, value),) = asserted.items()
        if value not in values[factor]:
            continue  # a distractor
        assert "sound" not in tokenize(concept), concept
        has_value = (rows[factor] == value).to_numpy()
        assert has_value.any(), concept
        found = np.array([concept.lower() in text for text in texts])
        # Effects have two wordings, the concept is the first.
        assert found[has_value].mean() >= 0.3, concept
        checked += 1
    assert checked == 16  # 3 pitches, 5 backgrounds, 2 events, 2 loudness, 4 effects


def test_the_vocabulary_is_balanced_across_sources(scenes):
    """Every source gets the same compositions; speech adds only its own
    values (language, voice, speed) and the distractor languages. A
    vocabulary heavy on one source pulls the concept mean that
    ConceptDecomposer centres on toward it (see _sound_scenes.concepts)."""
    asserted = scenes.concept_factors
    sources = scenes.factor_values["source"]
    counts = {
        source: sum(a.get("source") == source for a in asserted.values())
        for source in sources
    }
    others = {counts[s] for s in sources if s != "speech"}
    assert len(others) == 1, counts
    (per_source,) = others
    speech_only = [
        c for c, a in asserted.items()
        if a.get("source") == "speech" and set(a) & {"language", "voice", "speed"}
    ]  # fmt: skip
    assert counts["speech"] == per_source + len(speech_only)
    assert all(len(asserted[c]) == 2 for c in speech_only)
    assert len(speech_only) <= 11


def test_short_captions_name_the_source_and_other_values(scenes):
    assert len(scenes.short_captions) == 240
    assert all(len(short) == 2 for short in scenes.short_captions)
    rows = scenes.factors.to_dict("records")
    for short, row in zip(scenes.short_captions, rows):
        for text in short:
            # The source and at least one other value, no template words.
            assert len(text.split()) >= 2 and not text.endswith(".")
            lowered = text.lower()
            nouns = _SOURCE_NOUNS[row["source"]] or ("speech",)
            assert any(noun in lowered for noun in nouns), (text, row["source"])
    assert len({t for short in scenes.short_captions for t in short}) > 200
    # Drawn last: audio and captions of a seed do not depend on them.
    none = make_sound_scenes(240, n_short_captions=0, random_state=0)
    assert none.short_captions == [[]] * 240
    assert none.captions == scenes.captions
    np.testing.assert_array_equal(none.audio[-1], scenes.audio[-1])
    again = make_sound_scenes(240, random_state=0)
    assert again.short_captions == scenes.short_captions


def test_concepts_and_what_they_assert(scenes):
    concepts, asserted = scenes.concepts, scenes.concept_factors
    assert len(concepts) >= 150 and len(set(concepts)) == len(concepts)
    assert set(asserted) == set(concepts)
    values = scenes.factor_values
    singles = [c for c in concepts if len(asserted[c]) == 1]
    compositions = [c for c in concepts if len(asserted[c]) >= 2]
    distractors = [
        c for c in concepts if any(v not in values[f] for f, v in asserted[c].items())
    ]
    assert len(compositions) >= 100 and len(distractors) >= 25
    # Every value of every factor (but "none") is asserted by some concept.
    for factor, factor_values in values.items():
        named = {a[factor] for a in asserted.values() if factor in a}
        assert set(factor_values) - {"none"} <= named, factor
    assert asserted["pink noise"] == {"background": "pink noise"}
    assert asserted["dog barking"] == {"source": "dog barking"}
    assert len(singles) >= 30


def test_bad_parameters_raise():
    with pytest.raises(ValueError, match="n_samples"):
        make_sound_scenes(0)
    with pytest.raises(ValueError, match="sample_rate"):
        make_sound_scenes(2, sample_rate=4000)
    with pytest.raises(ValueError, match="duration"):
        make_sound_scenes(2, duration=0.1)
    with pytest.raises(ValueError, match="max_sources"):
        make_sound_scenes(2, max_sources=4)
    with pytest.raises(ValueError, match="n_short_captions"):
        make_sound_scenes(2, n_short_captions=-1)


def test_one_source_and_other_rate():
    scenes = make_sound_scenes(20, sample_rate=22050, max_sources=1, random_state=3)
    assert (scenes.factors["background"] == "none").all()
    assert scenes.audio[0].shape == (int(round(1.5 * 22050)),)
