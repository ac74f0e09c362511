"""Static HTML reports: listen to what each latent or concept responds to.

:func:`write_report` turns a fitted
:class:`~sklearn_audioconcepts.TopKSparseAutoencoder` (or
:class:`~sklearn_audioconcepts.ConceptDecomposer`), the audio it was applied
to and optional labels into a folder of pages that open from ``file://`` with
no server and no network: an index of units (latents or concepts) sortable by
firing frequency, maximum activation and best attribute AUC, a page per unit
with its top-activating clips (short OGG Vorbis excerpts in audio players),
an activation histogram, its attribute AUCs, the concepts nearest to its
decoder direction and a steering preview, and a page per clip with its
strongest units.
"""

import os
import shutil
import warnings
from numbers import Integral, Real
from pathlib import Path

import numpy as np
import pandas as pd
import scipy.sparse as sp
from sklearn.utils import check_random_state
from sklearn.utils.validation import check_is_fitted

from . import _report_html as H
from ._progress import progress_bar
from ._validation import check_embeddings
from .audio import AudioInputError, audio_sources
from .decomposition import ConceptDecomposer
from .inspection import score_latents, steering_effect
from .sae import TopKSparseAutoencoder
from .vocabulary import ConceptVocabulary, as_vocabulary

__all__ = ["write_report"]

# An attribute with more distinct values than this is an identifier or a
# continuous quantity, not a class to score latents against.
_MAX_CLASSES = 50
_CLIP_TOP_UNITS = 10


def write_report(
    model,
    audio,
    output,
    *,
    X=None,
    embedder=None,
    sample_rate=None,
    labels=None,
    metadata=None,
    ids=None,
    vocabulary=None,
    n_top_clips=8,
    clip_seconds=4.0,
    audio_sample_rate=16000,
    n_nearest_concepts=5,
    max_steered=200,
    overwrite=False,
    progress="auto",
    random_state=0,
):
    """Write a static HTML report of a fitted sparse autoencoder or decomposer.

    The folder holds ``index.html`` (every unit: latent or concept, sortable
    by firing frequency, maximum activation and best attribute AUC),
    ``clips.html`` (every clip), a page per unit under ``units/`` and per clip
    under ``clips/``, short OGG Vorbis excerpts under ``audio/`` and one
    stylesheet and script. It needs no server and no network: open
    ``index.html`` in a browser.

    A unit's page lists its top-activating clips with audio players and their
    activations, a histogram of its nonzero activations, its ROC AUC as a
    one-feature classifier of every class of every attribute (see
    :func:`~sklearn_audioconcepts.inspection.score_latents`) and, for a
    sparse autoencoder, the concepts nearest to its decoder direction (when
    ``vocabulary`` is given) and a steering preview: the mean relative
    similarity of clips outside its best class to that class, before and
    after the latent is set to its mean activation on the class (see
    :func:`~sklearn_audioconcepts.inspection.steering_effect`). For a
    :class:`~sklearn_audioconcepts.ConceptDecomposer` the units are the
    concepts active in at least one clip.

    Parameters
    ----------
    model : fitted TopKSparseAutoencoder or ConceptDecomposer
        The model whose latents (or concept weights) are reported.
    audio : list or 2-D array
        The clips, in any form the embedders accept (file paths, waveforms,
        ``(waveform, sample_rate)`` pairs; see
        :func:`~sklearn_audioconcepts.audio.audio_sources`), one per row of
        ``X``.
    output : str or path-like
        Folder to write. It must not exist or be empty, unless ``overwrite``.
    X : array-like of shape (n_clips, n_features) or None, default=None
        Embeddings of the clips (the model's input). When None, ``embedder``
        embeds ``audio``.
    embedder : embedder or None, default=None
        Embeds ``audio`` when ``X`` is None, and the concept names when
        ``vocabulary`` is a list of strings (``embed_text``).
    sample_rate : int or None, default=None
        Rate of raw waveforms given without their own.
    labels : array-like of shape (n_clips,), pandas.DataFrame, dict or None, \
            default=None
        Attributes to score units against (e.g. language, gender): one
        array, or several as the columns of a DataFrame or the values of a
        dict. Values are compared as strings; an attribute needs 2 to 50
        distinct values (and at most half as many as clips).
    metadata : pandas.DataFrame or None, default=None
        Other per-clip information (one row per clip) shown on clip pages,
        e.g. speaker or transcript; not scored.
    ids : array-like of str or None, default=None
        Clip names shown on the pages. Default: the file names of path
        inputs (their full paths when names repeat), ``clip-<i>`` otherwise.
    vocabulary : ConceptVocabulary, tuple (names, embeddings), list of str \
            or None, default=None
        Concepts in the space of ``X`` (e.g. a CLAP text vocabulary for an
        autoencoder on CLAP embeddings); each latent's page then lists the
        concepts whose text embeddings, centred on their mean (the SpLiCE
        centring that removes the modality gap), are most similar to its
        decoder direction. A list of names needs ``embedder``. Autoencoders
        only.
    n_top_clips : int, default=8
        Top-activating clips listed per unit.
    clip_seconds : float, default=4.0
        Length of each audio excerpt, from where its sound starts.
    audio_sample_rate : int, default=16000
        Rate of the excerpts (mono OGG Vorbis).
    n_nearest_concepts : int, default=5
        Concepts listed per latent when ``vocabulary`` is given.
    max_steered : int, default=200
        Clips steered per latent for the steering preview (a random subset
        of those outside the latent's best class).
    overwrite : bool, default=False
        Replace a report already in ``output``. A non-empty folder that does
        not hold a report written by this function is never emptied.
    progress : bool or "auto", default="auto"
        Progress bar over the files written; ``"auto"`` shows it on
        terminals.
    random_state : int, RandomState instance or None, default=0
        Seeds the choice of steered clips.

    Returns
    -------
    index : pathlib.Path
        The report's ``index.html``.

    Notes
    -----
    Each clip's excerpt is written once and shared by every page that plays
    it. With the defaults a clip costs about 25 kB (4 s of 16 kHz Vorbis,
    about 20 kB, and its share of the pages): a report on 1,000 clips and
    256 latents measured 25.4 MB on synthesised speech and 26.5 MB on
    broadband noise (``benchmarks/bench_report.py``).

    Examples
    --------
    >>> import tempfile
    >>> import numpy as np
    >>> from sklearn_audioconcepts import TopKSparseAutoencoder
    >>> from sklearn_audioconcepts.report import write_report
    >>> rng = np.random.default_rng(0)
    >>> X = rng.standard_normal((40, 8))
    >>> waves = [0.1 * rng.standard_normal(8000) for _ in range(40)]
    >>> sae = TopKSparseAutoencoder(n_latents=16, k=2, max_epochs=2,
    ...                             device="cpu", progress=False, random_state=0)
    >>> sae = sae.fit(X)
    >>> folder = tempfile.mkdtemp()
    >>> index = write_report(sae, waves, folder + "/report", X=X, sample_rate=8000,
    ...                      labels=np.repeat(["a", "b"], 20), progress=False)
    >>> index.name
    'index.html'
    """
    output, replace = _check_output(output, overwrite)
    kind = _model_kind(model)
    if not isinstance(audio, (list, tuple, np.ndarray, pd.Series, str, os.PathLike)):
        audio = list(audio)  # read twice: listed here, embedded below
    sources = audio_sources(audio, sample_rate=sample_rate)
    n_clips = len(sources)
    _check_int(n_top_clips, "n_top_clips")
    _check_int(n_nearest_concepts, "n_nearest_concepts")
    _check_int(max_steered, "max_steered")
    if not isinstance(clip_seconds, Real) or not 0 < clip_seconds <= 60:
        raise ValueError(
            "clip_seconds must be a number of seconds in (0, 60], got "
            f"{clip_seconds!r}."
        )
    if not isinstance(audio_sample_rate, Integral) or not (
        8000 <= audio_sample_rate <= 48000
    ):
        raise ValueError(
            "audio_sample_rate must be an integer rate in [8000, 48000] Hz (what "
            f"Vorbis and browsers play), got {audio_sample_rate!r}."
        )
    ids = _clip_ids(ids, sources)
    attributes = _attributes(labels, n_clips)
    metadata = _metadata(metadata, n_clips)
    if vocabulary is not None and kind != "sae":
        raise ValueError(
            "vocabulary applies to a TopKSparseAutoencoder (concepts nearest to its "
            "decoder directions); a ConceptDecomposer's units are already concepts."
        )
    concepts = None if vocabulary is None else _vocabulary(vocabulary, embedder, model)
    if X is None:
        if embedder is None:
            raise ValueError(
                "Give the clips' embeddings as X, or an embedder to compute them "
                "from audio."
            )
        X = embedder.transform(audio)
    X = check_embeddings(X, name="X")
    if len(X) != n_clips:
        raise ValueError(
            f"X has {len(X)} rows but audio has {n_clips} clips: give one "
            "embedding per clip, in the same order."
        )

    Z = model.transform(X)
    Z = Z.toarray() if sp.issparse(Z) else np.asarray(Z, dtype=np.float64)
    Z = Z.astype(np.float64, copy=False)
    units = _units(model, kind, Z)
    _add_scores(units, Z, attributes)
    if concepts is not None:
        _add_nearest_concepts(units, model, concepts, n_nearest_concepts)
    if kind == "sae" and attributes:
        _add_steering(units, model, X, Z, attributes, max_steered, random_state)
    clips = _clips(ids, attributes, metadata, Z, units)
    for unit in units:
        column = Z[:, unit["column"]]
        active = np.flatnonzero(column > 0)
        order = active[np.argsort(-column[active], kind="stable")][:n_top_clips]
        unit["top"] = [(int(i), float(column[i])) for i in order]
        unit["values"] = column[active]
        unit["n_zero"] = n_clips - len(active)

    context = _context(model, kind, n_clips, units, attributes, metadata, concepts)
    # The previous report goes only now, once everything above has succeeded.
    if replace:
        shutil.rmtree(output)
    failed = _write_folder(
        output, context, units, clips, sources, audio_sample_rate, clip_seconds,
        progress,
    )  # fmt: skip
    if failed:
        first = failed[0]
        warnings.warn(
            f"{len(failed)} of {n_clips} clips could not be read; their pages "
            f"have no audio player (first: {first[0]}: {first[1]}).",
            UserWarning,
            stacklevel=2,
        )
    return output / "index.html"


def _write_folder(
    output, context, units, clips, sources, audio_sample_rate, clip_seconds, progress
):
    """Write every file of the report; returns the clips that could not be read."""
    output.mkdir(parents=True, exist_ok=True)
    # The marker first: a report interrupted half-way can still be replaced.
    (output / H.MARKER).write_text("sklearn-audioconcepts report\n", encoding="utf-8")
    for folder in ("units", "clips", "audio"):
        (output / folder).mkdir(exist_ok=True)
    H.write_assets(output)
    total = len(clips) * 2 + len(units) + 2
    with progress_bar(
        progress=progress, total=total, desc="Writing report", unit="file"
    ) as bar:
        failed = _write_audio(
            output, sources, clips, audio_sample_rate, clip_seconds, bar
        )
        for position, unit in enumerate(units):
            text = H.unit_page(context, units, position, clips)
            (output / unit["href"]).write_text(text, encoding="utf-8")
            bar.update()
        for clip in clips:
            text = H.clip_page(context, clip, clips, units)
            (output / clip["href"]).write_text(text, encoding="utf-8")
            bar.update()
        (output / "clips.html").write_text(
            H.clips_index(context, clips, units), encoding="utf-8"
        )
        (output / "index.html").write_text(
            H.units_index(context, units), encoding="utf-8"
        )
        bar.update(2)
    return failed


# -- validation ------------------------------------------------------------------


def _check_output(output, overwrite):
    """The output folder, checked before any work is done, and whether a
    previous report there is to be replaced."""
    output = Path(os.fspath(output))
    if output.exists() and not output.is_dir():
        raise FileExistsError(f"{output} exists and is not a folder; choose another.")
    if output.is_dir() and any(output.iterdir()):
        if not overwrite:
            raise FileExistsError(
                f"{output} exists and is not empty; choose a new folder or pass "
                "overwrite=True (--overwrite) to replace a report written there."
            )
        if not (output / H.MARKER).is_file():
            raise FileExistsError(
                f"{output} is not empty and holds no report written by "
                "sklearn-audioconcepts; overwrite=True only replaces such a report, "
                "so nothing was deleted. Choose a new or empty folder."
            )
        return output, True
    return output, False


def _model_kind(model):
    if isinstance(model, TopKSparseAutoencoder):
        kind = "sae"
    elif isinstance(model, ConceptDecomposer):
        kind = "concepts"
    else:
        raise TypeError(
            "model must be a fitted TopKSparseAutoencoder or ConceptDecomposer, got "
            f"{type(model).__name__}."
        )
    check_is_fitted(model)
    return kind


def _check_int(value, name):
    if not isinstance(value, Integral) or isinstance(value, bool) or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}.")


def _clip_ids(ids, sources):
    if ids is not None:
        ids = [str(i) for i in ids]
        if len(ids) != len(sources):
            raise ValueError(
                f"ids has {len(ids)} entries but audio has {len(sources)} clips."
            )
        return ids
    names = [
        source.path.name if source.path is not None else None for source in sources
    ]
    repeated = len(set(n for n in names if n)) < sum(1 for n in names if n)
    return [
        f"clip-{i}"
        if source.path is None
        else (str(source.path) if repeated else source.path.name)
        for i, source in enumerate(sources)
    ]


def _attributes(labels, n_clips):
    """Attribute name -> string array of length n_clips."""
    if labels is None:
        return {}
    if isinstance(labels, pd.DataFrame):
        columns = {str(c): labels[c] for c in labels.columns}
    elif isinstance(labels, dict):
        columns = {str(k): v for k, v in labels.items()}
    else:
        name = getattr(labels, "name", None)
        columns = {str(name) if name is not None else "label": labels}
    attributes = {}
    for name, values in columns.items():
        values = np.asarray(pd.Series(np.asarray(values, dtype=object)).astype(str))
        if values.shape != (n_clips,):
            raise ValueError(
                f"Attribute {name!r} has shape {values.shape}; give one value per "
                f"clip ({n_clips})."
            )
        n_classes = len(np.unique(values))
        # More classes than half the clips: most classes hold one clip, and
        # their AUCs say nothing.
        most = max(2, min(_MAX_CLASSES, n_clips // 2))
        if not 2 <= n_classes <= most:
            raise ValueError(
                f"Attribute {name!r} has {n_classes} distinct values in {n_clips} "
                f"clips; scoring needs 2 to {most}. Pass identifiers or continuous "
                "values as metadata instead."
            )
        attributes[name] = values
    return attributes


def _metadata(metadata, n_clips):
    if metadata is None:
        return None
    if not isinstance(metadata, pd.DataFrame):
        raise TypeError(
            f"metadata must be a pandas DataFrame, got {type(metadata).__name__}."
        )
    if len(metadata) != n_clips:
        raise ValueError(
            f"metadata has {len(metadata)} rows but audio has {n_clips} clips."
        )
    return metadata.reset_index(drop=True)


def _vocabulary(vocabulary, embedder, model):
    if isinstance(vocabulary, (list, np.ndarray)) and all(
        isinstance(name, str) for name in vocabulary
    ):
        if embedder is None or not hasattr(embedder, "embed_text"):
            raise ValueError(
                "vocabulary is a list of concept names: give an embedder with "
                "embed_text (e.g. the CLAPEmbedder that embedded the audio)."
            )
        vocabulary = ConceptVocabulary.from_texts(list(vocabulary), embedder)
    vocabulary = as_vocabulary(vocabulary)
    if vocabulary.n_features != model.n_features_in_:
        raise ValueError(
            f"The vocabulary's concepts are {vocabulary.n_features}-d but the model "
            f"was fitted on {model.n_features_in_}-d embeddings: both must come "
            "from the same embedding model."
        )
    return vocabulary


# -- the numbers on the pages ----------------------------------------------------


def _units(model, kind, Z):
    """One record per unit page: latents, or the concepts that ever fire."""
    names = np.asarray(model.get_feature_names_out(), dtype=object)
    if kind == "sae":
        columns = np.arange(Z.shape[1])
        folder, word = "units/latent-{:05d}.html", "Latent"
    else:
        columns = np.flatnonzero((Z > 0).any(axis=0))
        folder, word = "units/concept-{:05d}.html", "Concept"
    units = []
    for column in columns:
        values = Z[:, column]
        active = values > 0
        n_active = int(active.sum())
        units.append(
            {
                "column": int(column),
                "name": str(names[column])
                if kind == "concepts"
                else f"{word} {column}",
                "href": folder.format(column),
                "n_active": n_active,
                "frequency": n_active / len(Z),
                "max": float(values.max()) if len(values) else 0.0,
                "mean_active": float(values[active].mean()) if n_active else 0.0,
                "scores": [],
                "best": None,
                "nearest": None,
                "steering": None,
            }
        )
    return units


def _add_scores(units, Z, attributes):
    if not units:
        return
    columns = [unit["column"] for unit in units]
    for attribute, values in attributes.items():
        table = score_latents(Z[:, columns], values)
        for row in table.itertuples(index=False):
            unit = units[row.latent]
            unit["scores"].append(
                (attribute, str(row[0]), float(row.auc), float(row.accuracy))
            )
    for unit in units:
        unit["scores"].sort(key=lambda s: -s[2])
        if unit["scores"]:
            attribute, cls, auc, _ = unit["scores"][0]
            unit["best"] = (auc, attribute, cls)


def _add_nearest_concepts(units, model, vocabulary, n_nearest):
    concepts = vocabulary.embeddings.astype(np.float64)
    concepts = _unit_rows(_unit_rows(concepts) - _unit_rows(concepts).mean(axis=0))
    directions = _unit_rows(np.asarray(model.components_, dtype=np.float64))
    cosines = directions @ concepts.T
    names = np.asarray(vocabulary.names, dtype=object)
    for unit in units:
        row = cosines[unit["column"]]
        order = np.argsort(-row, kind="stable")[:n_nearest]
        unit["nearest"] = [(str(names[i]), float(row[i])) for i in order]


def _add_steering(units, model, X, Z, attributes, max_steered, random_state):
    """Steering preview of each firing latent toward its best class.

    The latent is set to its mean activation on the class, as
    steering_effect does by default; the mean is taken from the latents
    already computed, which saves an encoding pass per latent.
    """
    rng = check_random_state(random_state)
    for unit in units:
        if unit["best"] is None or unit["n_active"] == 0:
            continue
        _, attribute, cls = unit["best"]
        values = attributes[attribute]
        outside = np.flatnonzero(values != cls)
        if len(outside) > max_steered:
            outside = np.sort(rng.choice(outside, size=max_steered, replace=False))
        value = float(Z[values == cls, unit["column"]].mean())
        effect = steering_effect(
            model,
            X[outside],
            unit["column"],
            reference=X,
            reference_labels=values,
            attribute=cls,
            value=value,
        )
        unit["steering"] = {
            "attribute": attribute,
            "class": cls,
            "value": value,
            "n": len(outside),
            "before": effect.mean_before,
            "after": effect.mean_after,
            "shift": effect.mean_shift,
            "fraction_increased": effect.fraction_increased,
        }


def _clips(ids, attributes, metadata, Z, units):
    position = {unit["column"]: i for i, unit in enumerate(units)}
    clips = []
    for i, clip_id in enumerate(ids):
        row = Z[i]
        active = np.flatnonzero(row > 0)
        order = active[np.argsort(-row[active], kind="stable")][:_CLIP_TOP_UNITS]
        clips.append(
            {
                "index": i,
                "id": clip_id,
                "href": f"clips/clip-{i:05d}.html",
                "audio": f"audio/clip-{i:05d}.ogg",
                "audio_error": None,
                "duration": None,
                "attributes": {name: values[i] for name, values in attributes.items()},
                "metadata": {}
                if metadata is None
                else {str(c): metadata.iloc[i][c] for c in metadata.columns},
                "top": [(position[int(j)], float(row[j])) for j in order],
                "n_active": len(active),
            }
        )
    return clips


def _write_audio(output, sources, clips, audio_sample_rate, clip_seconds, bar):
    """One excerpt per clip; unreadable clips are noted, not fatal."""
    failed = []
    for source, clip in zip(sources, clips):
        try:
            waveform = source.load(audio_sample_rate)
            clip["duration"] = H.write_clip_audio(
                waveform,
                audio_sample_rate,
                output / clip["audio"],
                seconds=clip_seconds,
            )
        except (AudioInputError, OSError) as exc:
            clip["audio"] = None
            clip["audio_error"] = str(exc)
            failed.append((clip["id"], str(exc)))
        bar.update()
    return failed


def _context(model, kind, n_clips, units, attributes, metadata, vocabulary):
    if kind == "sae":
        title = f"TopKSparseAutoencoder: {model.n_latents_} latents, k={model.k}"
        word = "latent"
        facts = [
            f"{n_clips} clips; {model.n_latents_} latents, at most {model.k} active "
            "per clip.",
            _dead_fact(sum(unit["n_active"] == 0 for unit in units)),
        ]
    else:
        n_concepts = len(model.concept_names_)
        title = f"ConceptDecomposer: {n_concepts} concepts"
        word = "concept"
        facts = [
            f"{n_clips} clips; {len(units)} of {n_concepts} concepts are active in "
            f"at least one clip (l1_penalty={model.l1_penalty}).",
        ]
    if attributes:
        facts.append(
            "AUCs score each unit alone as a classifier of each class of: "
            + ", ".join(attributes)
            + "."
        )
    if vocabulary is not None:
        facts.append(
            f"Nearest concepts: cosine of the decoder direction with {len(vocabulary)} "
            "centred concept embeddings."
        )
    return {
        "kind": kind,
        "word": word,
        "value": "activation" if kind == "sae" else "weight",
        "title": title,
        "facts": facts,
        "attributes": list(attributes),
        "metadata_columns": [] if metadata is None else [str(c) for c in metadata],
        "has_nearest": vocabulary is not None,
        "has_steering": kind == "sae" and bool(attributes),
    }


def _dead_fact(n_dead):
    if n_dead == 0:
        return "Every latent fires on at least one clip."
    if n_dead == 1:
        return "1 latent fires on no clip here."
    return f"{n_dead} latents fire on no clip here."


def _unit_rows(X):
    norms = np.linalg.norm(X, axis=1, keepdims=True)
    return np.divide(X, norms, out=np.zeros_like(X), where=norms > 0)
