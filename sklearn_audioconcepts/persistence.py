"""Saving and loading fitted models without running code from the file.

:func:`save_model` writes a model with :mod:`skops.io`; :func:`load_model`
reads it back trusting only the package's own estimators (listed in
:data:`TRUSTED_TYPES`) and the NumPy, SciPy, scikit-learn and builtin types
skops trusts by default. A file that holds any other type is refused before
anything in it is built, so a tampered model file cannot run code.

Pickle-based files (joblib, ``pickle``) run whatever code they hold when
loaded. :func:`load_model` refuses them unless ``trust_pickle=True`` (on the
command line, ``--trust-pickle``): pass it only for files you made or whose
source you trust, then re-save them with :func:`save_model`.

Every failure raises :class:`FileReadError`, whose message names the file.
"""

import zipfile
import zlib
from pathlib import Path

from ._files import FileReadError, describe, reading, replacing

__all__ = ["TRUSTED_TYPES", "FileReadError", "load_model", "save_model"]

# The types, beyond skops' defaults, that loading each public estimator needs.
# tests/test_persistence.py checks each list is exactly what skops reports
# for a fitted estimator, so this list (and the docs) cannot go stale.
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

SUFFIX = ".skops"
PICKLE_SUFFIXES = (".joblib", ".pkl", ".pickle")
# First bytes of a pickle (protocol 2+) and of joblib's compressed pickles
# (zlib, gzip, bz2, xz, lzma, lz4): only used to word the refusal.
_PICKLE_MAGIC = (b"\x80", b"\x78", b"\x1f\x8b", b"BZh", b"\xfd7zXZ", b"\x5d\x00\x00")
_PICKLE_MAGIC += (b"\x04\x22\x4d\x18",)
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")


def _package_types():
    return sorted({name for names in TRUSTED_TYPES.values() for name in names})


def save_model(model, path):
    """Write a model (any of the package's estimators, or a pipeline of them).

    The file is a :mod:`skops.io` archive: :func:`load_model` reads it back
    without unpickling anything.

    Parameters
    ----------
    model : estimator
        The model to save, fitted or not.
    path : str or path-like
        Destination, named ``*.skops``; missing folders are created.

    Returns
    -------
    path : pathlib.Path
        The file written.

    Examples
    --------
    >>> import tempfile, numpy as np
    >>> from pathlib import Path
    >>> from sklearn_audioconcepts import TopKSparseAutoencoder
    >>> from sklearn_audioconcepts.persistence import load_model, save_model
    >>> X = np.random.default_rng(0).standard_normal((64, 8)).astype("float32")
    >>> sae = TopKSparseAutoencoder(n_latents=16, k=2, max_epochs=1,
    ...                             device="cpu", progress=False).fit(X)
    >>> path = save_model(sae, Path(tempfile.mkdtemp()) / "sae.skops")
    >>> loaded = load_model(path, expected=TopKSparseAutoencoder)
    >>> bool(np.array_equal(loaded.transform(X), sae.transform(X)))
    True
    """
    import skops.io as sio

    path = Path(path)
    if path.suffix.lower() != SUFFIX:
        raise ValueError(
            f"Model files are skops archives named *{SUFFIX}: name the file "
            f"'{path.with_suffix(SUFFIX).name}' rather than '{path.name}'."
        )
    with replacing(path) as partial:  # never a partial model under its name
        sio.dump(model, partial)
    return path


def load_model(path, *, expected=None, trusted=None, trust_pickle=False):
    """Read a model written by :func:`save_model`, running no code from the file.

    Parameters
    ----------
    path : str or path-like
        A ``.skops`` file (or, with ``trust_pickle=True``, a joblib/pickle
        file).
    expected : type or None, default=None
        The class the model must be an instance of (e.g.
        :class:`~sklearn_audioconcepts.TopKSparseAutoencoder`); anything else
        is refused.
    trusted : list of str or None, default=None
        Further type names to trust (``"module.Class"``), for archives that
        also hold your own classes, e.g. a pipeline step. Only name types
        whose code you trust.
    trust_pickle : bool, default=False
        Also load joblib/pickle files. Unpickling runs any code the file
        holds, so pass True only for files you made or whose source you
        trust.

    Returns
    -------
    model : object
        The loaded model.

    Raises
    ------
    FileReadError
        When the file is missing (also a :class:`FileNotFoundError`), empty,
        damaged, not a model file, holds types that are not trusted, is a
        pickle while ``trust_pickle`` is False, or holds something other than
        ``expected``. The message names the file and what is wrong.
    """
    kind = f"{expected.__name__} model" if isinstance(expected, type) else "model"
    with reading(kind, path) as path, open(path, "rb") as handle:
        head = handle.read(8)
    if head.startswith(_ZIP_MAGIC):
        model = _load_skops(kind, path, [*_package_types(), *(trusted or [])])
    elif trust_pickle:
        model = _load_pickle(kind, path)
    elif path.suffix.lower() in PICKLE_SUFFIXES or head.startswith(_PICKLE_MAGIC):
        raise FileReadError(
            kind,
            path,
            "joblib/pickle files are refused by default, since loading one runs "
            "any code it holds. Load it only if you made it or trust its source: "
            "trust_pickle=True (command line: --trust-pickle); then re-save it as "
            ".skops with save_model ('sae fit -o MODEL.skops'), which loads "
            "without running code.",
        )
    else:
        raise FileReadError(
            kind,
            path,
            f"it is not a model file (a {SUFFIX} archive written by save_model or "
            f"'sae fit -o MODEL{SUFFIX}'); it begins with {head!r}.",
        )
    if expected is not None and not isinstance(model, expected):
        raise FileReadError(
            kind,
            path,
            f"it holds a {type(model).__name__}, not a {_names(expected)}.",
        )
    return model


def _names(expected):
    if isinstance(expected, tuple):
        return " or ".join(cls.__name__ for cls in expected)
    return expected.__name__


def _load_skops(kind, path, trusted):
    import skops.io as sio

    with reading(kind, path):
        with zipfile.ZipFile(path) as archive:
            if "schema.json" not in archive.namelist():
                raise FileReadError(
                    kind,
                    path,
                    "it is a zip archive without skops' schema.json, not a model "
                    "file (an .npz array file?).",
                )
        found = sio.get_untrusted_types(file=path)
    foreign = sorted(set(found) - set(trusted))
    if foreign:
        raise FileReadError(
            kind,
            path,
            f"it holds types this package does not trust: {', '.join(foreign)}. "
            "Model files of sklearn-audioconcepts hold only its estimators and "
            "the NumPy, SciPy and scikit-learn types skops trusts; other types can "
            "run code when loaded, so nothing was loaded. If these are your own "
            "classes, pass their names in load_model(..., trusted=[...]).",
        )
    try:
        # Every type in the file is trusted: what fails now is damaged data.
        return sio.load(path, trusted=found)
    except (zipfile.BadZipFile, zlib.error) as exc:
        raise FileReadError(kind, path, describe(exc)) from exc
    except Exception as exc:  # noqa: BLE001 - reported with the file, cause kept
        raise FileReadError(
            kind, path, f"the skops archive does not load: {describe(exc)}"
        ) from exc


def _load_pickle(kind, path):
    import joblib

    try:
        return joblib.load(path)
    except Exception as exc:  # noqa: BLE001 - unpickling garbage raises anything
        raise FileReadError(
            kind, path, f"it is not a readable joblib/pickle file: {describe(exc)}"
        ) from exc
