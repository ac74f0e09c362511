"""The paper's tag vocabularies (baseline, pruned, clustered) and tag readers."""

import json
from collections import Counter

import numpy as np
import pandas as pd
import pytest

from sklearn_audioconcepts.vocabulary import build_vocabulary, read_tags

CLIPS = [
    ["dog", "dogs", "bark"],
    ["dog", "barking", "Rain "],
    ["dog", "fucking", "noise"],
    ["coughing", "cough", "couhg"],
    ["cough", "coughs", "808", "x"],
    ["cough", "synth", "rain"],
    ["automobile", "car", "rain"],
    ["car", "field-recording"],
    ["synth", "dog"],
]


def test_baseline_counts_each_tag_once_per_clip_and_drops_expletives():
    names = build_vocabulary(CLIPS + [["dog", "dog", "dog"]], size=4)
    # dog: 5 clips (repeats in one clip count once); ties broken by name.
    assert names == ["dog", "cough", "rain", "car"]
    everything = build_vocabulary(CLIPS, size=100)
    assert "fucking" not in everything and "noise" in everything
    assert "fucking" in build_vocabulary(CLIPS, size=100, expletives=None)
    assert "noise" not in build_vocabulary(CLIPS, size=100, expletives=["noise"])
    # Tag counts give the same list as the clips they count.
    counts = Counter(tag.strip().lower() for clip in CLIPS for tag in set(clip))
    assert build_vocabulary(dict(counts), size=100) == everything
    assert build_vocabulary(pd.Series(counts), size=100) == everything


def test_pruned_drops_letters_and_numbers_merges_misspellings_roots_synonyms():
    names = build_vocabulary(CLIPS, "pruned", size=100)
    # Roots: dog + dogs, cough + coughs + coughing (+ the misspelt couhg),
    # bark + barking, each named by its most frequent form.
    assert names[:2] == ["cough", "dog"]
    for gone in ("dogs", "coughs", "coughing", "couhg", "barking", "808", "x"):
        assert gone not in names
    assert {"bark", "rain", "car", "synth", "field-recording"} <= set(names)
    assert "automobile" in names  # no synonym given
    merged = build_vocabulary(CLIPS, "pruned", size=100, synonyms={"automobile": "car"})
    assert "automobile" not in merged and merged.index("car") < names.index("car")
    assert build_vocabulary(CLIPS, "pruned", size=2) == ["cough", "dog"]
    # n_candidates limits the pool before pruning.
    assert len(build_vocabulary(CLIPS, "pruned", size=100, n_candidates=3)) <= 3


def test_jargon_unknown_to_the_word_list_is_not_a_misspelling():
    clips = [["soundscape"], ["soundscape"], ["synth"], ["whoosh", "woosh"]]
    names = build_vocabulary(clips, "pruned", size=10)
    assert {"soundscape", "synth", "whoosh"} <= set(names)


class PlantedTextEmbedder:
    """embed_text puts each tag near one of three planted directions.

    Each tag also leans by ``noise[tag]`` along a direction of its own, so
    within a cluster the tag with the least noise is nearest the centroid.
    """

    def __init__(self, groups, noise):
        self.groups = groups
        self.noise = noise

    def embed_text(self, texts):
        own = {tag: 3 + i for i, tag in enumerate(sorted(self.groups))}
        rows = np.zeros((len(texts), 3 + len(own)), dtype=np.float32)
        for row, text in zip(rows, texts):
            row[self.groups[text]] = 1.0
            row[own[text]] = self.noise[text]
        return rows


def test_clustered_names_each_cluster_by_the_tag_nearest_its_centroid():
    every = ["dog", "puppy", "hound", "rain", "drizzle", "shower", "car", "truck",
             "bus"]  # fmt: skip
    clips = [every, every, ["dog"], ["rain"], ["rain"], ["truck"], ["puppy"]]
    groups = {"dog": 0, "puppy": 0, "hound": 0, "rain": 1, "drizzle": 1,
              "shower": 1, "car": 2, "truck": 2, "bus": 2}  # fmt: skip
    noise = {"dog": 0.5, "puppy": 0.1, "hound": 0.6, "rain": 0.3, "drizzle": 0.05,
             "shower": 0.4, "car": 0.2, "truck": 0.5, "bus": 0.6}  # fmt: skip
    embedder = PlantedTextEmbedder(groups, noise)
    names = build_vocabulary(
        clips, "clustered", size=3, embedder=embedder, random_state=0
    )
    # Nearest the centroids: puppy (3 clips), drizzle (2), car (2).
    assert names == ["puppy", "car", "drizzle"]
    again = build_vocabulary(
        clips, "clustered", size=3, embedder=embedder, random_state=0,
        clustering="minibatch",
    )  # fmt: skip
    assert sorted(again) == sorted(names)
    with pytest.raises(ValueError, match="embed_text"):
        build_vocabulary(clips, "clustered", size=3)
    with pytest.raises(ValueError, match="Cannot make 30 clusters from 9"):
        build_vocabulary(clips, "clustered", size=30, embedder=embedder)


def test_bad_arguments_say_what_is_wrong():
    with pytest.raises(ValueError, match="kind must be one of"):
        build_vocabulary(CLIPS, "tfidf")
    with pytest.raises(TypeError, match="one list of tags per clip"):
        build_vocabulary(["dog", "rain"])
    with pytest.raises(ValueError, match="size must be a positive integer"):
        build_vocabulary(CLIPS, size=0)
    with pytest.raises(ValueError, match="non-negative integers"):
        build_vocabulary({"dog": -1})
    with pytest.raises(TypeError, match="synonyms must map"):
        build_vocabulary(CLIPS, "pruned", synonyms=[("a", "b")])


def test_read_tags_from_fsd50k_clips_info_and_csv(tmp_path):
    info = {
        "64760": {"title": "Dog.wav", "description": "a dog", "tags": ["dog", "bark"],
                  "license": "CC0", "uploader": "someone"},
        "16399": {"title": "Rain", "description": "", "tags": ["rain"],
                  "license": "CC-BY", "uploader": "other"},
    }  # fmt: skip
    path = tmp_path / "dev_clips_info_FSD50K.json"
    path.write_text(json.dumps(info))
    tags = read_tags(path)
    assert tags.to_dict() == {"64760": ["dog", "bark"], "16399": ["rain"]}
    assert build_vocabulary(tags, size=2) == ["bark", "dog"]

    csv = tmp_path / "tags.csv"
    csv.write_text('clip,tags\n1,"dog, bark"\n2,rain\n3,\n')
    table = read_tags(csv)
    assert table.to_dict() == {"1": ["dog", "bark"], "2": ["rain"], "3": []}
    semicolons = tmp_path / "semi.csv"
    semicolons.write_text("labels,name\ndog;bark,a.wav\n")
    assert read_tags(semicolons, tags_column="labels", sep=";").to_dict() == {
        "a.wav": ["dog", "bark"]
    }


def test_read_tags_errors_name_the_file(tmp_path):
    missing = tmp_path / "eval_clips_info_FSD50K.json"
    with pytest.raises(FileNotFoundError, match="eval_clips_info_FSD50K.json"):
        read_tags(missing)
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    with pytest.raises(ValueError, match=f"FSD50K clips info '{broken}'"):
        read_tags(broken)
    no_tags = tmp_path / "no_tags.json"
    no_tags.write_text(json.dumps({"1": {"title": "x"}}))
    with pytest.raises(ValueError, match="clip '1' has no list"):
        read_tags(no_tags)
    csv = tmp_path / "t.csv"
    csv.write_text("clip,labels\n1,dog\n")
    with pytest.raises(ValueError, match=r"no column 'tags'.*tags_column"):
        read_tags(csv)
