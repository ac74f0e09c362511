"""Concept vocabularies: human-readable names paired with text embeddings.

Besides :class:`ConceptVocabulary`, three builders turn a user's own corpus
into candidate concept names, after the three vocabularies of Zhang, Thomaz
and Lu (2025): :func:`concepts_from_labels` (class labels),
:func:`concepts_from_tags` (tags ranked by frequency) and
:func:`concepts_from_captions` (frequent caption phrases). Each returns at
most ``max_size`` de-duplicated names, ready for
:meth:`ConceptVocabulary.from_texts`.

:func:`build_vocabulary` reproduces the paper's own three tag vocabularies
(baseline, pruned, clustered) from FSD50K's tags, which :func:`read_tags`
reads (also from a plain CSV).
"""

import json
import re
from collections import Counter
from numbers import Integral
from pathlib import Path

import numpy as np

from ._files import FileReadError, load_npz, parse_json, replacing
from ._numerics import unit_rows
from ._validation import check_embeddings
from ._vocabulary_builders import build_vocabulary, read_tags

__all__ = [
    "ConceptVocabulary",
    "build_vocabulary",
    "concepts_from_captions",
    "concepts_from_labels",
    "concepts_from_tags",
    "read_tags",
]

_FORMAT_VERSION = 1
_FILE_KIND = "vocabulary"


class ConceptVocabulary:
    """Named concepts and their embeddings, the dictionary a decomposition works over.

    Parameters
    ----------
    names : sequence of str of length n_concepts
        Human-readable concept names (e.g. ``"dog barking"``). Must be unique
        and non-empty.
    embeddings : array-like of shape (n_concepts, n_features)
        Embedding of each concept, typically from the CLAP text encoder. Rows
        must be finite and non-zero; they are stored as given (not normalised).
    metadata : dict, default=None
        JSON-serialisable facts about how the embeddings were made (model,
        checkpoint, prompt template, ...).

    Attributes
    ----------
    names : list of str
        Concept names, in row order.
    embeddings : ndarray of shape (n_concepts, n_features)
        Concept embeddings.
    metadata : dict
        Provenance of the embeddings.

    See Also
    --------
    ConceptDecomposer : Sparse nonnegative decomposition over a vocabulary.

    Examples
    --------
    >>> import numpy as np
    >>> from sklearn_audioconcepts import ConceptVocabulary
    >>> vocabulary = ConceptVocabulary(["dog barking", "rain"], np.eye(2, 4))
    >>> len(vocabulary), vocabulary.n_features
    (2, 4)
    >>> vocabulary.index("rain")
    1
    >>> vocabulary.deduplicate(0.9).names  # the first of near-identical concepts
    ['dog barking', 'rain']
    """

    def __init__(self, names, embeddings, metadata=None):
        names = [str(name) for name in names]
        embeddings = check_embeddings(
            embeddings, name="vocabulary embeddings", dtype=(np.float64, np.float32)
        )
        if len(names) != embeddings.shape[0]:
            raise ValueError(
                f"The vocabulary has {len(names)} names but {embeddings.shape[0]} "
                "embedding rows; give one embedding per name."
            )
        _check_unique(names)
        try:
            json.dumps(metadata or {})
        except TypeError as exc:
            raise TypeError(f"metadata must be JSON-serialisable: {exc}") from None
        self.names = names
        self.embeddings = embeddings
        self.metadata = dict(metadata or {})

    @property
    def n_features(self):
        """Dimension of the concept embeddings."""
        return self.embeddings.shape[1]

    def __len__(self):
        return len(self.names)

    def __repr__(self):
        return (
            f"ConceptVocabulary(n_concepts={len(self)}, n_features={self.n_features}, "
            f"names=[{', '.join(repr(n) for n in self.names[:3])}"
            f"{', ...' if len(self) > 3 else ''}])"
        )

    def __eq__(self, other):
        if not isinstance(other, ConceptVocabulary):
            return NotImplemented
        return (
            self.names == other.names
            and self.metadata == other.metadata
            and np.array_equal(self.embeddings, other.embeddings)
        )

    __hash__ = None

    def index(self, name):
        """Row of the concept called ``name``.

        Parameters
        ----------
        name : str
            A concept name.

        Returns
        -------
        index : int
            Its row in ``embeddings``.
        """
        try:
            return self.names.index(name)
        except ValueError:
            raise KeyError(f"No concept named {name!r} in the vocabulary.") from None

    def subset(self, concepts):
        """A new vocabulary with only the given concepts.

        Parameters
        ----------
        concepts : sequence of str or int
            Concept names or row indices, in the order wanted.

        Returns
        -------
        vocabulary : ConceptVocabulary
            The selected concepts, with the same metadata.
        """
        rows = [
            c if isinstance(c, (int, np.integer)) else self.index(c) for c in concepts
        ]
        return ConceptVocabulary(
            [self.names[r] for r in rows], self.embeddings[rows], self.metadata
        )

    @classmethod
    def from_texts(
        cls,
        texts,
        embedder,
        *,
        template="{}",
        similarity_threshold=None,
        metadata=None,
    ):
        """Embed concept names with a text encoder (e.g. the CLAP one).

        Parameters
        ----------
        texts : sequence of str
            Concept names. Repeats (after stripping whitespace and ignoring
            case) are dropped, keeping the first.
        embedder : object with an ``embed_text(list of str)`` method
            Returns one embedding row per text, e.g. a
            :class:`~sklearn_audioconcepts.CLAPEmbedder`; use the same model
            that embeds the audio.
        template : str, default="{}"
            Prompt each name is embedded as; ``"{}"`` is replaced by the name
            (e.g. ``"the sound of {}"``). Names stay as given.
        similarity_threshold : float or None, default=None
            When set, concepts whose embedding has cosine similarity above it
            with an earlier concept are dropped (see :meth:`deduplicate`).
        metadata : dict, default=None
            Extra provenance, merged over what is recorded automatically (the
            template and the embedder's class and plain parameters).

        Returns
        -------
        vocabulary : ConceptVocabulary
            Names and their embeddings.
        """
        names = _unique_names(texts)
        if not names:
            raise ValueError("texts has no non-empty concept names to embed.")
        if not hasattr(embedder, "embed_text"):
            raise TypeError(
                f"embedder must have an embed_text method (e.g. CLAPEmbedder), got "
                f"{type(embedder).__name__}."
            )
        _check_template(template)
        prompts = [template.replace("{}", name) for name in names]
        embeddings = np.asarray(embedder.embed_text(prompts))
        if embeddings.ndim != 2 or embeddings.shape[0] != len(names):
            raise ValueError(
                f"embedder.embed_text returned shape {embeddings.shape} for "
                f"{len(names)} texts; expected one row per text."
            )
        info = {"template": template, **_describe_embedder(embedder)}
        info.update(metadata or {})
        vocabulary = cls(names, embeddings, info)
        if similarity_threshold is not None:
            vocabulary = vocabulary.deduplicate(similarity_threshold)
        return vocabulary

    def deduplicate(self, similarity_threshold=0.95):
        """Drop near-duplicate concepts, keeping the first of each.

        Concepts are visited in order; one is dropped when the cosine
        similarity of its embedding with an already kept concept exceeds
        ``similarity_threshold`` (e.g. "dog bark" after "dog barking").

        Parameters
        ----------
        similarity_threshold : float, default=0.95
            In (-1, 1]; 1 keeps everything but exact duplicates.

        Returns
        -------
        vocabulary : ConceptVocabulary
            The kept concepts, in their original order, with the threshold
            recorded in the metadata.
        """
        if not -1 < similarity_threshold <= 1:
            raise ValueError(
                "similarity_threshold must be in (-1, 1], got "
                f"{similarity_threshold!r}."
            )
        keep = near_duplicate_mask(self.embeddings, similarity_threshold)
        metadata = {**self.metadata, "deduplicated_above": float(similarity_threshold)}
        rows = np.flatnonzero(keep)
        return ConceptVocabulary(
            [self.names[r] for r in rows], self.embeddings[rows], metadata
        )

    def save(self, path):
        """Write the vocabulary to one ``.npz`` file (arrays plus JSON metadata).

        Nothing is pickled, so loading a vocabulary never runs code.

        Parameters
        ----------
        path : str or path-like
            Destination; ``.npz`` is appended when missing.

        Returns
        -------
        path : pathlib.Path
            The file written.
        """
        path = Path(path)
        if path.suffix != ".npz":
            path = path.with_name(path.name + ".npz")
        header = {"format_version": _FORMAT_VERSION, "metadata": self.metadata}
        with replacing(path) as partial, open(partial, "wb") as stream:
            np.savez(
                stream,
                names=np.array(self.names, dtype=str),
                embeddings=self.embeddings,
                header=np.array(json.dumps(header)),
            )
        return path

    @classmethod
    def load(cls, path):
        """Read a vocabulary written by :meth:`save`.

        Nothing is unpickled (``allow_pickle=False``).

        Parameters
        ----------
        path : str or path-like
            A ``.npz`` file written by :meth:`save`.

        Returns
        -------
        vocabulary : ConceptVocabulary
            The vocabulary, with its metadata.

        Raises
        ------
        FileReadError
            When the file is missing (also a :class:`FileNotFoundError`),
            empty, truncated, damaged, or not a vocabulary file. The message
            names the file and what is wrong with it.
        """
        arrays = load_npz(
            _FILE_KIND,
            path,
            ("names", "embeddings", "header"),
            expected="a vocabulary file written by ConceptVocabulary.save",
        )
        path = Path(path)
        header = parse_json(_FILE_KIND, path, str(arrays["header"]))
        if header.get("format_version") != _FORMAT_VERSION:
            raise FileReadError(
                _FILE_KIND,
                path,
                f"it has vocabulary format {header.get('format_version')!r}; this "
                f"version of sklearn-audioconcepts reads format {_FORMAT_VERSION}.",
            )
        names, metadata = arrays["names"], header.get("metadata")
        if names.ndim != 1 or names.dtype.kind != "U":
            raise FileReadError(
                _FILE_KIND,
                path,
                f"its names are a {names.dtype} array of shape {names.shape}, "
                "not a list of strings.",
            )
        if metadata is not None and not isinstance(metadata, dict):
            raise FileReadError(
                _FILE_KIND, path, "its header's metadata is not a JSON object."
            )
        try:
            return cls(names.tolist(), arrays["embeddings"], metadata)
        except (TypeError, ValueError) as exc:
            raise FileReadError(_FILE_KIND, path, str(exc)) from exc


def _check_unique(names):
    if any(not name for name in names):
        raise ValueError("Concept names must be non-empty strings.")
    # NumPy string arrays (how save() stores names) drop trailing NULs, so
    # such a name would come back renamed, or empty and unloadable.
    with_nul = [name for name in names if "\x00" in name]
    if with_nul:
        raise ValueError(
            f"Concept names cannot contain NUL characters ('\\x00'), got "
            f"{with_nul[:3]!r}; remove them from the names."
        )
    seen, duplicates = set(), []
    for name in names:
        if name in seen:
            duplicates.append(name)
        seen.add(name)
    if duplicates:
        shown = ", ".join(repr(d) for d in sorted(set(duplicates))[:5])
        raise ValueError(
            f"The vocabulary has duplicate concept names ({shown}); each concept "
            "needs a unique name so its weight can be read off. Merge or rename them."
        )


def near_duplicate_mask(embeddings, similarity_threshold, block_size=1024):
    """Boolean mask of rows kept by greedy near-duplicate filtering.

    Row ``i`` is kept unless its cosine similarity with a kept row ``j < i``
    exceeds ``similarity_threshold``. Similarities are computed in blocks, so
    memory stays O(block_size * n) for large vocabularies.
    """
    units = unit_rows(embeddings)
    n_rows = units.shape[0]
    keep = np.ones(n_rows, dtype=bool)
    for start in range(0, n_rows, block_size):
        stop = min(start + block_size, n_rows)
        block = units[start:stop] @ units[:stop].T
        for offset, row in enumerate(range(start, stop)):
            earlier = block[offset, :row]
            if np.any(earlier[keep[:row]] > similarity_threshold):
                keep[row] = False
    return keep


def concepts_from_labels(labels, *, max_size=None):
    """Concept names from class labels, most frequent first.

    Labels such as ``"Dog_and_bark"`` or ``"acoustic-guitar"`` become
    ``"dog and bark"`` and ``"acoustic guitar"``. A multi-label row (a list or
    a string joined by commas) counts each of its labels.

    Parameters
    ----------
    labels : iterable of str or of iterables of str
        One label, or one list of labels, per clip (or just the label set).
    max_size : int or None, default=None
        Keep at most this many names (the ``V`` of the vocabulary).

    Returns
    -------
    names : list of str
        De-duplicated names, by decreasing frequency then alphabetically.

    Examples
    --------
    >>> from sklearn_audioconcepts.vocabulary import concepts_from_labels
    >>> concepts_from_labels(["Dog_bark", "Rain", "dog bark", ["Rain", "Thunder"]])
    ['dog bark', 'rain', 'thunder']
    """
    counts = Counter()
    for row in labels:
        items = row.split(",") if isinstance(row, str) else row
        counts.update({name for name in map(_normalise_label, items) if name})
    return _ranked(counts, max_size, min_count=1)


def concepts_from_tags(tags, *, max_size=2000, min_count=1):
    """Concept names from free-form tags, ranked by how many clips carry them.

    Parameters
    ----------
    tags : iterable of iterables of str, or of str
        The tags of each clip; a string is split on commas (or, with no
        comma, on whitespace, as Freesound tags are written).
    max_size : int or None, default=2000
        Keep the ``max_size`` most frequent tags.
    min_count : int, default=1
        Drop tags carried by fewer clips.

    Returns
    -------
    names : list of str
        De-duplicated tags (lower case, ``_`` and ``-`` read as spaces), by
        decreasing frequency then alphabetically.

    Examples
    --------
    >>> from sklearn_audioconcepts.vocabulary import concepts_from_tags
    >>> concepts_from_tags([["field-recording", "birds"], "birds forest"], max_size=2)
    ['birds', 'field recording']
    """
    counts = Counter()
    for row in tags:
        if isinstance(row, str):
            row = row.split(",") if "," in row else row.split()
        counts.update({name for name in map(_normalise_label, row) if name})
    return _ranked(counts, max_size, min_count)


_STOP_WORDS = frozenset(
    """a an the and or but of in on at to from by with without for into onto
    over under while as is are was were be been being it its this that these
    those there here then than so very some any each other another one two
    three several many much more most few lot lots can could would should
    will may might has have had having do does did not no yes someone
    something somebody he she they we you i his her their our your my me him
    them us up down out off away again just also very too""".split()  # noqa: SIM905
)
_WORD = re.compile(r"[a-z][a-z']*")


def concepts_from_captions(captions, *, max_size=2000, ngram_range=(1, 3), min_count=2):
    """Concept names from frequent phrases of free-text captions.

    Each caption is split into clauses at punctuation, then into word
    n-grams that neither start nor end with a function word ("the", "of",
    "while", ...), which keeps phrases such as "dog barking" or "heavy rain"
    and drops fragments such as "barking in the". Phrases are ranked by the
    number of captions containing them. An n-gram contained in a longer kept
    phrase with the same count is dropped as redundant.

    Parameters
    ----------
    captions : iterable of str
        Captions (e.g. Clotho or AudioCaps descriptions).
    max_size : int or None, default=2000
        Keep the ``max_size`` most frequent phrases.
    ngram_range : tuple (min_n, max_n), default=(1, 3)
        Phrase lengths in words.
    min_count : int, default=2
        Drop phrases found in fewer captions.

    Returns
    -------
    names : list of str
        De-duplicated phrases, by decreasing frequency then alphabetically.

    Examples
    --------
    >>> from sklearn_audioconcepts.vocabulary import concepts_from_captions
    >>> concepts_from_captions(
    ...     ["A dog is barking loudly.", "The dog barking in the rain",
    ...      "Heavy rain falls while a dog is barking"], ngram_range=(1, 2)
    ... )[:3]
    ['barking', 'dog', 'rain']
    """
    min_n, max_n = ngram_range
    if not (isinstance(min_n, Integral) and isinstance(max_n, Integral)) or not (
        1 <= min_n <= max_n
    ):
        raise ValueError(
            f"ngram_range must be (min_n, max_n) with 1 <= min_n <= max_n, "
            f"got {ngram_range!r}."
        )
    counts = Counter()
    for caption in captions:
        if not isinstance(caption, str):
            raise TypeError(f"captions must be strings, got {type(caption).__name__}.")
        counts.update(_caption_phrases(caption.lower(), min_n, max_n))
    # A sub-phrase counted exactly as often as a longer phrase adds nothing.
    redundant = set()
    for phrase, count in counts.items():
        words = phrase.split()
        for n in range(1, len(words)):
            for start in range(len(words) - n + 1):
                part = " ".join(words[start : start + n])
                if counts.get(part) == count:
                    redundant.add(part)
    for phrase in redundant:
        del counts[phrase]
    return _ranked(counts, max_size, min_count)


def _caption_phrases(caption, min_n, max_n):
    phrases = set()
    for clause in re.split(r"[^a-z' ]+", caption):
        words = _WORD.findall(clause)
        for n in range(min_n, max_n + 1):
            for start in range(len(words) - n + 1):
                gram = words[start : start + n]
                if gram[0] in _STOP_WORDS or gram[-1] in _STOP_WORDS:
                    continue
                phrases.add(" ".join(gram))
    return phrases


def _normalise_label(label):
    if not isinstance(label, str):
        raise TypeError(f"labels and tags must be strings, got {type(label).__name__}.")
    return " ".join(re.sub(r"[_\-]+", " ", label).lower().split())


def _ranked(counts, max_size, min_count):
    if max_size is not None and (not isinstance(max_size, Integral) or max_size < 1):
        raise ValueError(
            f"max_size must be a positive integer or None, got {max_size!r}."
        )
    ranked = sorted(
        (name for name, count in counts.items() if count >= min_count),
        key=lambda name: (-counts[name], name),
    )
    return ranked[:max_size] if max_size is not None else ranked


def _unique_names(texts):
    if isinstance(texts, str):
        raise TypeError("texts must be a list of concept names, not one string.")
    seen, names = set(), []
    for text in texts:
        if not isinstance(text, str):
            raise TypeError(
                f"concept names must be strings, got {type(text).__name__}."
            )
        name = " ".join(text.split())
        key = name.lower()
        if name and key not in seen:
            seen.add(key)
            names.append(name)
    return names


def _check_template(template):
    if not isinstance(template, str) or template.count("{}") != 1:
        raise ValueError(
            f"template must be a string with one '{{}}' where the concept name goes "
            f"(e.g. 'the sound of {{}}'), got {template!r}."
        )


def _describe_embedder(embedder):
    """JSON-safe provenance: the embedder's class and plain parameter values."""
    info = {"embedder": type(embedder).__name__}
    if hasattr(embedder, "get_params"):
        for key, value in embedder.get_params(deep=False).items():
            if isinstance(value, (str, bool, int, float)) or value is None:
                info[key] = value
            elif hasattr(value, "__fspath__"):
                info[key] = str(value)
    return info


def as_vocabulary(vocabulary):
    """Accept a ConceptVocabulary or a ``(names, embeddings)`` pair."""
    if isinstance(vocabulary, ConceptVocabulary):
        return vocabulary
    if isinstance(vocabulary, tuple) and len(vocabulary) == 2:
        return ConceptVocabulary(*vocabulary)
    raise TypeError(
        "vocabulary must be a ConceptVocabulary or a (names, embeddings) pair, got "
        f"{type(vocabulary).__name__}."
    )
