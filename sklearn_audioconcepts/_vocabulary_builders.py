"""Tag vocabularies after Zhang, Thomaz and Lu (2025), and readers for tag files.

The paper builds its CLAP concept vocabularies from FSD50K's Freesound tags
(20,793 unique tags over 51,197 clips):

- **baseline**: the ``size`` most frequent tags (2,000; also 3,000 and
  5,000), after removing expletives;
- **pruned**: from the ``n_candidates`` (10,000) most frequent, drop
  misspellings, single letters and numbers, merge synonyms and words that
  share a root (cough / coughs / coughing -> the most frequent form), keep the
  ``size`` most frequent of what remains;
- **clustered**: k-means of the candidates' text embeddings into ``size``
  clusters, each represented by the tag nearest its centroid.

The pruning rules, in the order applied (documented in
:func:`build_vocabulary`), use two small offline libraries of the ``vocab``
extra: `snowballstemmer <https://pypi.org/project/snowballstemmer/>`_ (the
Snowball English stemmer, pure Python) for shared roots and
`pyspellchecker <https://pypi.org/project/pyspellchecker/>`_ (an English word
frequency list shipped in the package) for misspellings. Neither downloads
anything at run time.
"""

import json
import os
import re
from collections import Counter
from collections.abc import Mapping
from importlib import resources
from numbers import Integral
from pathlib import Path

import numpy as np
import pandas as pd

__all__ = ["build_vocabulary", "read_tags"]

KINDS = ("baseline", "pruned", "clustered")
_WORD_SPLIT = re.compile(r"[\s\-_]+")
_LETTER = re.compile(r"[^\W\d_]")  # a letter in any script


def build_vocabulary(
    tags,
    kind="baseline",
    size=2000,
    *,
    embedder=None,
    n_candidates=10000,
    expletives="default",
    synonyms=None,
    clustering="kmeans",
    random_state=None,
):
    """Concept names from clip tags: the paper's baseline, pruned or clustered list.

    Parameters
    ----------
    tags : list of list of str, or mapping of str to int
        One list of tags per clip (a tag counts once per clip, e.g. the
        output of :func:`read_tags`), or ready-made counts ``{tag: count}``
        (a dict, :class:`collections.Counter` or :class:`pandas.Series`).
        Tags are lower-cased and their whitespace collapsed.
    kind : {"baseline", "pruned", "clustered"}, default="baseline"
        Which construction (see Notes).
    size : int, default=2000
        Number of names returned (fewer when fewer tags remain).
    embedder : object with ``embed_text``, default=None
        Text encoder for ``kind="clustered"`` (e.g. a ``CLAPEmbedder``);
        unused otherwise.
    n_candidates : int, default=10000
        For ``"pruned"`` and ``"clustered"``: how many of the most frequent
        tags are considered.
    expletives : "default", None or iterable of str, default="default"
        Words whose tags are removed first (every kind): the short list
        bundled in ``sklearn_audioconcepts/data/expletives.txt``, none, or
        your own list.
    synonyms : mapping of str to str, default=None
        For ``"pruned"``: tags to merge into another, ``{"automobile":
        "car"}``. The count of a merged tag is added to its target.
    clustering : {"kmeans", "minibatch"}, default="kmeans"
        For ``"clustered"``: scikit-learn's :class:`~sklearn.cluster.KMeans`
        (about a minute for 10,000 tags into 2,000 clusters on two CPU
        cores) or the approximate :class:`~sklearn.cluster.MiniBatchKMeans`,
        which can leave clusters empty and so return fewer than ``size``
        names.
    random_state : int, RandomState instance or None, default=None
        Seeds the k-means of ``"clustered"``; an int makes it reproducible.

    Returns
    -------
    names : list of str
        At most ``size`` names, most frequent first (for ``"clustered"``,
        ordered by the frequency of each cluster's representative). Ties in
        frequency are broken alphabetically, so the result is deterministic.

    Notes
    -----
    Counting: a tag counts once per clip. Ranking is by count, then name.

    ``"baseline"``: drop tags containing an expletive; keep the ``size`` most
    frequent.

    ``"pruned"``, applied in this order to the ``n_candidates`` most frequent
    tags (after the expletive filter):

    1. *Single letters and numbers*: tags with fewer than two letters
       (``"a"``, ``"808"``, ``"2010"``) are dropped.
    2. *Synonyms*: each ``synonyms`` key is merged into its value.
    3. *Misspellings*: a one-word tag that is not in pyspellchecker's English
       word list and is one edit (insertion, deletion, substitution or
       transposition) away from a known word that is a more frequent candidate
       is a misspelling of it and merged into it (``"couhg"`` -> ``"cough"``).
       Unknown words with no such neighbour are kept: Freesound jargon
       (``"synth"``, ``"soundscape"``, ``"fieldrecording"``) is not a
       misspelling.
    4. *Shared roots*: tags whose words have the same Snowball English stems
       form one group (``"cough"``, ``"coughs"``, ``"coughing"``;
       ``"dog-barking"`` and ``"dogs barking"``), named by its most frequent
       member and counted as the sum of its members.
    5. The ``size`` most frequent groups are kept.

    ``"clustered"``: the ``n_candidates`` most frequent tags (after the
    expletive filter) are embedded with ``embedder.embed_text``, the unit rows
    clustered into ``size`` clusters, and each cluster named by the member
    nearest (in cosine) to its centroid.

    Examples
    --------
    >>> from sklearn_audioconcepts.vocabulary import build_vocabulary
    >>> clips = [["dog", "bark"], ["dog", "barking"], ["dogs", "rain"],
    ...          ["rain", "a"], ["dog", "couhg", "cough"], ["cough"]]
    >>> build_vocabulary(clips, size=4)
    ['dog', 'cough', 'rain', 'a']
    >>> build_vocabulary(clips, "pruned", size=4)
    ['dog', 'cough', 'bark', 'rain']
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}.")
    size = _check_positive_int(size, "size")
    counts = _count_tags(tags)
    blocked = _expletive_words(expletives)
    counts = Counter({tag: n for tag, n in counts.items() if not _words(tag) & blocked})
    if kind == "baseline":
        return _ranked(counts)[:size]
    n_candidates = _check_positive_int(n_candidates, "n_candidates")
    candidates = Counter({tag: counts[tag] for tag in _ranked(counts)[:n_candidates]})
    if kind == "pruned":
        return _pruned(candidates, size, synonyms)
    return _clustered(candidates, size, embedder, clustering, random_state)


def read_tags(path, *, tags_column="tags", id_column=None, sep=","):
    """Read clip tags from FSD50K's clips-info JSON or a plain CSV.

    Parameters
    ----------
    path : str or path-like
        ``.json``: FSD50K's ``dev_clips_info_FSD50K.json`` or
        ``eval_clips_info_FSD50K.json``, a mapping of clip id to
        ``{"title", "description", "tags": [...], "license", "uploader"}``.
        Anything else is read as CSV with one row per clip.
    tags_column : str, default="tags"
        CSV column holding each clip's tags, separated by ``sep``.
    id_column : str or None, default=None
        CSV column of clip ids; ``None`` uses the first column other than
        ``tags_column`` (or the row number when there is none).
    sep : str, default=","
        Separator of the tags inside a CSV cell (quote the cell, as FSD50K's
        ground-truth CSVs do: ``"dog,bark"``).

    Returns
    -------
    tags : pandas.Series of list of str
        One list of tags per clip, indexed by clip id (as strings); pass it
        to :func:`build_vocabulary`.

    Examples
    --------
    >>> import json, tempfile, os
    >>> path = os.path.join(tempfile.mkdtemp(), "dev_clips_info_FSD50K.json")
    >>> with open(path, "w") as f:
    ...     json.dump({"64760": {"title": "dog.wav", "tags": ["dog", "bark"]}}, f)
    >>> read_tags(path).to_dict()
    {'64760': ['dog', 'bark']}
    """
    path = Path(os.fspath(path)).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"Tag file not found: '{path}'.")
    if path.suffix.lower() == ".json":
        return _read_clips_info(path)
    return _read_tag_csv(path, tags_column, id_column, sep)


# -- constructions -------------------------------------------------------------


def _pruned(candidates, size, synonyms):
    counts = Counter(
        {tag: n for tag, n in candidates.items() if len(_LETTER.findall(tag)) >= 2}
    )
    for source, target in _check_synonyms(synonyms).items():
        if source in counts and source != target:
            counts[target] += counts.pop(source)
    counts = _merge_misspellings(counts)
    groups = {}
    stem = _stemmer()
    for tag in _ranked(counts):  # most frequent first: it names the group
        key = tuple(stem(word) for word in _WORD_SPLIT.split(tag) if word)
        name, total = groups.get(key, (tag, 0))
        groups[key] = (name, total + counts[tag])
    merged = Counter(dict(groups.values()))
    return _ranked(merged)[:size]


def _merge_misspellings(counts):
    spell = _spell_checker()
    single = [tag for tag in counts if tag.isalpha()]
    unknown = spell.unknown(single)
    merged = Counter(counts)
    for tag in sorted(unknown, key=lambda t: (counts[t], t)):  # rarest first
        neighbours = [
            word
            for word in spell.known(spell.edit_distance_1(tag))
            if word in merged and merged[word] > counts[tag]
        ]
        if neighbours:
            target = min(neighbours, key=lambda word: (-merged[word], word))
            merged[target] += merged.pop(tag)
    return merged


def _clustered(candidates, size, embedder, clustering, random_state):
    if embedder is None or not callable(getattr(embedder, "embed_text", None)):
        raise ValueError(
            'kind="clustered" clusters the tags\' text embeddings: pass an embedder '
            "with an embed_text method, e.g. embedder=CLAPEmbedder()."
        )
    if clustering not in ("kmeans", "minibatch"):
        raise ValueError(
            f'clustering must be "kmeans" or "minibatch", got {clustering!r}.'
        )
    names = _ranked(candidates)
    if size > len(names):
        raise ValueError(
            f"Cannot make {size} clusters from {len(names)} candidate tags; lower "
            "size or raise n_candidates."
        )
    from sklearn.cluster import KMeans, MiniBatchKMeans

    embeddings = np.asarray(embedder.embed_text(names), dtype=np.float64)
    if embeddings.shape[0] != len(names) or not np.isfinite(embeddings).all():
        raise ValueError(
            f"{type(embedder).__name__}.embed_text returned shape "
            f"{embeddings.shape} (or non-finite values) for {len(names)} tags; "
            "expected one finite row per tag."
        )
    norms = np.linalg.norm(embeddings, axis=1, keepdims=True)
    embeddings = embeddings / np.where(norms > 0, norms, 1.0)
    if clustering == "kmeans":
        model = KMeans(n_clusters=size, n_init=1, random_state=random_state)
    else:
        model = MiniBatchKMeans(n_clusters=size, n_init=1, random_state=random_state)
    labels = model.fit_predict(embeddings)
    centroids = model.cluster_centers_
    similarity = np.einsum("ij,ij->i", embeddings, centroids[labels])
    representatives = {}
    for index in np.lexsort((np.arange(len(names)), -similarity)):
        representatives.setdefault(labels[index], names[index])
    return sorted(representatives.values(), key=lambda t: (-candidates[t], t))


# -- reading -------------------------------------------------------------------


def _read_clips_info(path):
    try:
        info = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"Could not read FSD50K clips info '{path}': {exc}.") from None
    if not isinstance(info, dict):
        raise ValueError(
            f"Could not read FSD50K clips info '{path}': expected a JSON object "
            f"mapping clip ids to clip records, got a {type(info).__name__}."
        )
    tags = {}
    for clip, record in info.items():
        clip_tags = record.get("tags") if isinstance(record, dict) else None
        if not isinstance(clip_tags, list):
            raise ValueError(
                f"Could not read FSD50K clips info '{path}': clip {clip!r} has no "
                'list of "tags".'
            )
        tags[str(clip)] = [str(tag) for tag in clip_tags]
    return pd.Series(tags, name="tags", dtype=object)


def _read_tag_csv(path, tags_column, id_column, sep):
    try:
        table = pd.read_csv(path, dtype=str, keep_default_na=False)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"Could not read tag CSV '{path}': {exc}") from None
    if tags_column not in table:
        raise ValueError(
            f"Could not read tag CSV '{path}': no column {tags_column!r} (columns: "
            f"{list(table.columns)}); name the tags column with tags_column=."
        )
    if id_column is None:
        others = [column for column in table.columns if column != tags_column]
        ids = table[others[0]] if others else table.index.astype(str)
    elif id_column in table:
        ids = table[id_column]
    else:
        raise ValueError(
            f"Could not read tag CSV '{path}': no column {id_column!r} (columns: "
            f"{list(table.columns)})."
        )
    values = [
        [tag.strip() for tag in cell.split(sep) if tag.strip()]
        for cell in table[tags_column]
    ]
    return pd.Series(values, index=list(ids), name="tags", dtype=object)


# -- helpers -------------------------------------------------------------------


def _count_tags(tags):
    if isinstance(tags, pd.Series) and pd.api.types.is_numeric_dtype(tags):
        tags = tags.to_dict()
    counts = Counter()
    if isinstance(tags, Mapping):
        for tag, count in tags.items():
            if (
                not isinstance(tag, str)
                or isinstance(count, bool)
                or not (isinstance(count, Integral) and count >= 0)
            ):
                raise ValueError(
                    "Tag counts must map tag strings to non-negative integers; got "
                    f"{tag!r}: {count!r}."
                )
            if _normalise(tag):
                counts[_normalise(tag)] += int(count)
        return counts
    if isinstance(tags, str):
        raise TypeError(
            "tags must be one list of tags per clip (or {tag: count}), got a single "
            "string."
        )
    for index, clip in enumerate(tags):
        if isinstance(clip, str) or not hasattr(clip, "__iter__"):
            raise TypeError(
                f"tags must be one list of tags per clip; clip {index} is "
                f"{clip!r}. Wrap a clip's tags in a list, or pass {{tag: count}}."
            )
        counts.update({_normalise(str(tag)) for tag in clip} - {""})
    if not counts:
        raise ValueError("No tags given: every clip's tag list is empty.")
    return counts


def _normalise(tag):
    return " ".join(tag.lower().split())


def _words(tag):
    return set(_WORD_SPLIT.split(tag))


def _ranked(counts):
    return [tag for tag, n in sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))]


def _expletive_words(expletives):
    if expletives is None:
        return set()
    if isinstance(expletives, str):
        if expletives != "default":
            raise ValueError(
                'expletives must be "default", None or a list of words, got '
                f"{expletives!r}."
            )
        text = (
            resources.files("sklearn_audioconcepts.data")
            .joinpath("expletives.txt")
            .read_text("utf-8")
        )
        expletives = [
            line for line in text.splitlines() if line and not line.startswith("#")
        ]
    return {_normalise(word) for word in expletives} - {""}


def _check_synonyms(synonyms):
    if synonyms is None:
        return {}
    if not isinstance(synonyms, Mapping) or not all(
        isinstance(k, str) and isinstance(v, str) for k, v in synonyms.items()
    ):
        raise TypeError(
            'synonyms must map tags to the tag they merge into, e.g. {"automobile": '
            f'"car"}}; got {synonyms!r}.'
        )
    return {_normalise(k): _normalise(v) for k, v in synonyms.items()}


def _check_positive_int(value, name):
    if isinstance(value, bool) or not isinstance(value, Integral) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")
    return int(value)


def _stemmer():
    try:
        import snowballstemmer
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(_missing("snowballstemmer")) from None
    return snowballstemmer.stemmer("english").stemWord


def _spell_checker():
    try:
        from spellchecker import SpellChecker
    except ImportError:  # pragma: no cover - depends on the environment
        raise ImportError(_missing("pyspellchecker")) from None
    return SpellChecker(language="en", distance=1)


def _missing(package):
    return (
        f'kind="pruned" needs {package}: pip install "sklearn-audioconcepts[vocab]" '
        f"(or pip install {package})."
    )
