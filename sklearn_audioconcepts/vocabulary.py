"""Concept vocabularies: human-readable names paired with text embeddings."""

import json
from pathlib import Path

import numpy as np

from ._validation import check_embeddings

__all__ = ["ConceptVocabulary"]

_FORMAT_VERSION = 1


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
        np.savez(
            path,
            names=np.array(self.names, dtype=str),
            embeddings=self.embeddings,
            header=np.array(json.dumps(header)),
        )
        return path

    @classmethod
    def load(cls, path):
        """Read a vocabulary written by :meth:`save`.

        Parameters
        ----------
        path : str or path-like
            A ``.npz`` file written by :meth:`save`.

        Returns
        -------
        vocabulary : ConceptVocabulary
            The vocabulary, with its metadata.
        """
        path = Path(path)
        if not path.exists():
            raise FileNotFoundError(f"No vocabulary file at {path}.")
        try:
            with np.load(path, allow_pickle=False) as archive:
                header = json.loads(str(archive["header"]))
                names = archive["names"].tolist()
                embeddings = archive["embeddings"]
        except (KeyError, ValueError, OSError) as exc:
            raise ValueError(
                f"{path} is not a vocabulary file written by ConceptVocabulary.save "
                f"({exc})."
            ) from None
        if header.get("format_version") != _FORMAT_VERSION:
            raise ValueError(
                f"{path} has vocabulary format {header.get('format_version')}; this "
                f"version of sklearn-audioconcepts reads format {_FORMAT_VERSION}."
            )
        return cls(names, embeddings, header.get("metadata"))


def _check_unique(names):
    if any(not name for name in names):
        raise ValueError("Concept names must be non-empty strings.")
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
