"""Readers for the official folder layouts of the paper's audio data sets.

Each reader takes the folder a data set unpacks to and returns the same
:class:`~sklearn.utils.Bunch` (see :func:`load_dataset`). Only metadata is
read (and each audio file's existence checked); audio is decoded later, by
the embedders.
"""

import csv
import os
import re
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.utils import Bunch

__all__ = ["LAYOUTS", "load_dataset"]

_AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".m4a")


def load_dataset(folder, layout, *, split=None, missing_audio="raise"):
    """Read a data set from its official folder layout.

    Parameters
    ----------
    folder : str or path-like
        The folder the data set unpacks to (see Notes for what each layout
        expects in it).
    layout : {"esc50", "urbansound8k", "dcase2017_task4", "audioset", \
"vocalsound", "tut2017", "clotho"}
        Which data set.
    split : str or None, default=None
        For data sets distributed in splits, only this one (``"training"``,
        ``"testing"``, ``"evaluation"`` for DCASE 2017 task 4;
        ``"balanced_train"``, ``"eval"``, ``"unbalanced_train"`` for AudioSet;
        ``"train"``, ``"validation"``, ``"test"`` for VocalSound;
        ``"development"``, ``"validation"``, ``"evaluation"`` for Clotho).
        ``None`` reads every split whose metadata file is present. Data sets
        with cross-validation folds (ESC-50, UrbanSound8K, TUT 2017) take no
        split: select with ``folds``.
    missing_audio : {"raise", "skip"}, default="raise"
        What to do when metadata names an audio file that is not there.
        ``"skip"`` drops those clips (the norm for AudioSet, whose audio
        everyone downloads from YouTube with some videos gone).

    Returns
    -------
    data : sklearn.utils.Bunch
        With keys

        - ``paths``: list of str, one audio file per clip;
        - ``labels``: one label (str) per clip, or for multi-label data sets
          (DCASE 2017 task 4, AudioSet) a list of labels per clip; ``None``
          for Clotho;
        - ``target``: int array of class indices (single-label), or a 0/1
          indicator matrix of shape (n_clips, n_classes) (multi-label);
          ``None`` for Clotho;
        - ``target_names``: class names, in ``target``'s order;
        - ``folds``: int array of cross-validation folds, or ``None``;
        - ``splits``: array of split names, or ``None``;
        - ``groups``: recording, speaker or source ids for grouped
          cross-validation (ESC-50 source file, UrbanSound8K ``fsID``,
          VocalSound speaker, TUT 2017 recording), or ``None``;
        - ``captions``: five captions per clip (Clotho), else ``None``;
        - ``frame``: the metadata as a :class:`pandas.DataFrame`, one row
          per clip;
        - ``layout`` and ``DESCR``.

    Notes
    -----
    Expected layouts (the official archives, unpacked):

    - ``esc50``: ``meta/esc50.csv`` (``filename, fold, target, category,
      esc10, src_file, take``) and ``audio/<filename>``.
    - ``urbansound8k``: ``metadata/UrbanSound8K.csv`` (``slice_file_name,
      fsID, start, end, salience, fold, classID, class``) and
      ``audio/fold<fold>/<slice_file_name>``.
    - ``dcase2017_task4``: ``metadata/training_set.csv`` and
      ``metadata/testing_set.csv`` (rows ``YTID,start,end,"label,label",mids``)
      and ``metadata/groundtruth_weak_label_evaluation_set.csv`` (tab-separated
      ``file, start, end, label``, a row per label); audio in ``training/``,
      ``testing/`` and ``evaluation/`` as ``Y<YTID>_<start>_<end>.wav``.
    - ``audioset``: ``balanced_train_segments.csv``, ``eval_segments.csv``,
      ``unbalanced_train_segments.csv`` (``YTID, start_seconds, end_seconds,
      positive_labels``) and ``class_labels_indices.csv`` (``index, mid,
      display_name``), in the folder or its ``metadata/``. AudioSet ships no
      audio: files anywhere under the folder named ``Y<YTID>_<start>_<end>``,
      ``<YTID>_<start>_<end>``, ``Y<YTID>`` or ``<YTID>`` (any audio
      suffix) are matched to their segment.
    - ``vocalsound``: ``meta/tr_meta.csv``, ``meta/val_meta.csv`` and
      ``meta/te_meta.csv`` (one speaker per row, no header: speaker, gender,
      age, country, native language, health condition) and
      ``audio_16k/`` (or ``audio_44k/``) with ``<speaker>_<n>_<label>.wav``;
      the label ``throatclearing`` reads as ``"throat clearing"``.
    - ``tut2017``: TUT Acoustic Scenes 2017 (development or evaluation
      folder): ``meta.txt`` (tab-separated ``audio/<file>.wav, scene,
      recording``) and, for the development set,
      ``evaluation_setup/fold<k>_evaluate.txt`` (fold ``k`` is the test fold;
      ``folds`` is 0 for clips in none).
    - ``clotho``: ``clotho_captions_<split>.csv`` (``file_name, caption_1``
      ... ``caption_5``) with audio in ``<split>/`` (or
      ``clotho_audio_<split>/``).
    """
    if layout not in LAYOUTS:
        raise ValueError(f"Unknown layout {layout!r}; choose one of {sorted(LAYOUTS)}.")
    if missing_audio not in ("raise", "skip"):
        raise ValueError(
            f'missing_audio must be "raise" or "skip", got {missing_audio!r}.'
        )
    folder = Path(os.fspath(folder)).expanduser()
    if not folder.is_dir():
        raise FileNotFoundError(f"Data set folder not found: '{folder}'.")
    reader, splits = LAYOUTS[layout]
    if split is not None and split not in (splits or ()):
        raise ValueError(
            f"{layout} has "
            + (f"the splits {list(splits)}" if splits else "no splits (use folds)")
            + f"; got split={split!r}."
        )
    parts = reader(folder, split)
    return _finish(layout, parts, missing_audio)


# -- readers (each returns a dict of columns, one entry per clip) ----------------


def _esc50(folder, split):
    meta = folder / "meta" / "esc50.csv"
    table = _read_csv(meta, "ESC-50 metadata", columns=["filename", "fold", "target",
                                                          "category"])  # fmt: skip
    return {
        "frame": table,
        "paths": [folder / "audio" / name for name in table["filename"]],
        "labels": list(table["category"]),
        "class_ids": table["target"].to_numpy(int),
        "folds": table["fold"].to_numpy(int),
        "groups": table["src_file"].to_numpy() if "src_file" in table else None,
    }


def _urbansound8k(folder, split):
    meta = folder / "metadata" / "UrbanSound8K.csv"
    table = _read_csv(
        meta,
        "UrbanSound8K metadata",
        columns=["slice_file_name", "fsID", "fold", "classID", "class"],
    )
    return {
        "frame": table,
        "paths": [
            folder / "audio" / f"fold{fold}" / name
            for name, fold in zip(table["slice_file_name"], table["fold"])
        ],
        "labels": list(table["class"]),
        "class_ids": table["classID"].to_numpy(int),
        "folds": table["fold"].to_numpy(int),
        "groups": table["fsID"].to_numpy(),
    }


_DCASE2017_FILES = {
    "training": "training_set.csv",
    "testing": "testing_set.csv",
    "evaluation": "groundtruth_weak_label_evaluation_set.csv",
}
# Labels are joined by commas, but AudioSet names may hold ", " themselves
# ("Fire engine, fire truck (siren)"): split only at a comma without a space.
_LABEL_SPLIT = re.compile(r",(?! )")


def _dcase2017_task4(folder, split):
    rows = []
    for name, path in _split_files(folder / "metadata", _DCASE2017_FILES, split):
        if name == "evaluation":
            labels = {}
            for record in _read_rows(path, "DCASE 2017 task 4 labels", "\t", 4):
                labels.setdefault(record[0], []).append(record[3])
            for file_name, clip_labels in labels.items():
                rows.append((name, "Y" + file_name, clip_labels))
        else:
            for record in _read_rows(path, "DCASE 2017 task 4 labels", ",", 4):
                ytid, start, end, joined = record[:4]
                file_name = f"Y{ytid}_{start}_{end}.wav"
                rows.append((name, file_name, _LABEL_SPLIT.split(joined)))
    frame = pd.DataFrame(rows, columns=["split", "file_name", "labels"])
    return {
        "frame": frame,
        "paths": [folder / s / f for s, f in zip(frame["split"], frame["file_name"])],
        "labels": list(frame["labels"]),
        "splits": frame["split"].to_numpy(),
    }


_AUDIOSET_FILES = {
    "balanced_train": "balanced_train_segments.csv",
    "eval": "eval_segments.csv",
    "unbalanced_train": "unbalanced_train_segments.csv",
}


def _audioset(folder, split):
    metadata = folder / "metadata" if (folder / "metadata").is_dir() else folder
    classes = _read_csv(
        metadata / "class_labels_indices.csv",
        "AudioSet class list",
        columns=["index", "mid", "display_name"],
    )
    names = dict(zip(classes["mid"], classes["display_name"]))
    rows = []
    for name, path in _split_files(metadata, _AUDIOSET_FILES, split):
        for record in _read_rows(path, "AudioSet segments", ",", 4, comment="#"):
            ytid, start, end, mids = record[0], record[1], record[2], record[3:]
            mids = [mid for part in mids for mid in part.split(",") if mid]
            unknown = [mid for mid in mids if mid not in names]
            if unknown:
                raise ValueError(
                    f"Could not read AudioSet segments '{path}': label {unknown[0]} "
                    f"of {ytid} is not in class_labels_indices.csv."
                )
            rows.append((name, ytid, start, end, [names[mid] for mid in mids]))
    frame = pd.DataFrame(rows, columns=["split", "YTID", "start_seconds",
                                        "end_seconds", "labels"])  # fmt: skip
    audio = _audio_index(folder)
    paths = []
    for ytid, start, end in zip(frame["YTID"], frame["start_seconds"],
                                frame["end_seconds"]):  # fmt: skip
        stems = (f"Y{ytid}_{start}_{end}", f"{ytid}_{start}_{end}", f"Y{ytid}", ytid)
        found = next((audio[stem] for stem in stems if stem in audio), None)
        paths.append(found if found is not None else folder / "audio" / f"Y{ytid}.wav")
    return {
        "frame": frame,
        "paths": paths,
        "labels": list(frame["labels"]),
        "splits": frame["split"].to_numpy(),
        "target_names": list(classes["display_name"]),
    }


_VOCALSOUND_FILES = {"train": "tr_meta.csv", "validation": "val_meta.csv",
                     "test": "te_meta.csv"}  # fmt: skip
_VOCALSOUND_COLUMNS = ["speaker", "gender", "age", "country", "native_language",
                       "health_condition"]  # fmt: skip


def _vocalsound(folder, split):
    speakers = {}
    for name, path in _split_files(folder / "meta", _VOCALSOUND_FILES, split):
        for record in _read_rows(path, "VocalSound speaker list", ",", 1):
            speakers[record[0]] = (name, *record[1:6])
    audio = next(
        (folder / sub for sub in ("audio_16k", "audio_44k") if (folder / sub).is_dir()),
        None,
    )
    if audio is None:
        raise FileNotFoundError(
            f"VocalSound audio folder not found: '{folder / 'audio_16k'}' (or "
            "audio_44k). Unpack the release's audio there."
        )
    rows = []
    for path in sorted(audio.iterdir()):
        speaker, _, label = path.stem.partition("_")
        label = label.rpartition("_")[2]
        if path.suffix.lower() not in _AUDIO_SUFFIXES or speaker not in speakers:
            continue  # other splits' speakers (or stray files)
        split_name, *details = speakers[speaker]
        details = (details + [None] * 5)[:5]
        label = "throat clearing" if label == "throatclearing" else label
        rows.append((path.name, split_name, speaker, label, *details))
    frame = pd.DataFrame(
        rows, columns=["file_name", "split", *_VOCALSOUND_COLUMNS[:1], "label",
                       *_VOCALSOUND_COLUMNS[1:]],
    )  # fmt: skip
    return {
        "frame": frame,
        "paths": [audio / name for name in frame["file_name"]],
        "labels": list(frame["label"]),
        "splits": frame["split"].to_numpy(),
        "groups": frame["speaker"].to_numpy(),
    }


def _tut2017(folder, split):
    meta = folder / "meta.txt"
    records = _read_rows(meta, "TUT 2017 metadata", "\t", 2)
    frame = pd.DataFrame(
        [(r[0], r[1], r[2] if len(r) > 2 else None) for r in records],
        columns=["file_name", "scene", "recording"],
    )
    folds = np.zeros(len(frame), dtype=int)
    position = {name: i for i, name in enumerate(frame["file_name"])}
    for k in range(1, 10):
        setup = folder / "evaluation_setup" / f"fold{k}_evaluate.txt"
        if not setup.is_file():
            continue
        for record in _read_rows(setup, "TUT 2017 fold list", "\t", 1):
            if record[0] not in position:
                raise ValueError(
                    f"Could not read TUT 2017 fold list '{setup}': {record[0]} is "
                    f"not in {meta}."
                )
            folds[position[record[0]]] = k
    frame["fold"] = folds
    return {
        "frame": frame,
        "paths": [folder / name for name in frame["file_name"]],
        "labels": list(frame["scene"]),
        "folds": folds,
        "groups": frame["recording"].to_numpy(),
    }


_CLOTHO_SPLITS = ("development", "validation", "evaluation")


def _clotho(folder, split):
    files = {name: f"clotho_captions_{name}.csv" for name in _CLOTHO_SPLITS}
    frames, paths = [], []
    caption_columns = [f"caption_{i}" for i in range(1, 6)]
    for name, path in _split_files(folder, files, split):
        table = _read_csv(path, "Clotho captions",
                          columns=["file_name", *caption_columns])  # fmt: skip
        table.insert(1, "split", name)
        audio = next(
            (folder / sub for sub in (name, f"clotho_audio_{name}")
             if (folder / sub).is_dir()),
            folder / name,
        )  # fmt: skip
        frames.append(table)
        paths.extend(audio / file_name for file_name in table["file_name"])
    frame = pd.concat(frames, ignore_index=True)
    return {
        "frame": frame,
        "paths": paths,
        "splits": frame["split"].to_numpy(),
        "captions": frame[caption_columns].to_numpy(dtype=object).tolist(),
    }


LAYOUTS = {
    "esc50": (_esc50, None),
    "urbansound8k": (_urbansound8k, None),
    "dcase2017_task4": (_dcase2017_task4, tuple(_DCASE2017_FILES)),
    "audioset": (_audioset, tuple(_AUDIOSET_FILES)),
    "vocalsound": (_vocalsound, tuple(_VOCALSOUND_FILES)),
    "tut2017": (_tut2017, None),
    "clotho": (_clotho, _CLOTHO_SPLITS),
}

_DESCRIPTIONS = {
    "esc50": "ESC-50: 2,000 5-s environmental clips, 50 classes, 5 folds.",
    "urbansound8k": "UrbanSound8K: 8,732 urban clips (<= 4 s), 10 classes, 10 folds.",
    "dcase2017_task4": "DCASE 2017 task 4: 10-s AudioSet clips, 17 weak labels.",
    "audioset": "AudioSet: 10-s YouTube segments, 527 classes, multi-label.",
    "vocalsound": "VocalSound: laughter, sighs, coughs, throat clearing, sneezes "
    "and sniffs from 3,365 speakers.",
    "tut2017": "TUT Acoustic Scenes 2017: 10-s binaural scene clips, 15 scenes.",
    "clotho": "Clotho: 15-30-s Freesound clips, five captions each.",
}


# -- shared helpers ----------------------------------------------------------------


def _finish(layout, parts, missing_audio):
    frame = parts["frame"].reset_index(drop=True)
    paths = [Path(path) for path in parts["paths"]]
    present = np.array([path.is_file() for path in paths], dtype=bool)
    if not present.all():
        missing = [str(path) for path, ok in zip(paths, present) if not ok]
        if missing_audio == "raise":
            raise FileNotFoundError(
                f"{len(missing)} of {len(paths)} audio files named in the {layout} "
                f"metadata are missing, e.g. '{missing[0]}'. Check the folder, or "
                'pass missing_audio="skip" to leave those clips out.'
            )
    keep = np.flatnonzero(present) if missing_audio == "skip" else np.arange(len(paths))

    def take(values):
        if values is None:
            return None
        if isinstance(values, np.ndarray):
            return values[keep]
        return [values[i] for i in keep]

    labels = take(parts.get("labels"))
    target, target_names = _targets(
        labels, take(parts.get("class_ids")), parts.get("target_names")
    )
    return Bunch(
        paths=[str(path) for path in take(paths)],
        labels=labels,
        target=target,
        target_names=target_names,
        folds=take(parts.get("folds")),
        splits=take(parts.get("splits")),
        groups=take(parts.get("groups")),
        captions=take(parts.get("captions")),
        frame=frame.iloc[keep].reset_index(drop=True),
        layout=layout,
        DESCR=_DESCRIPTIONS[layout],
    )


def _targets(labels, class_ids, target_names):
    if labels is None:
        return None, None
    if labels and isinstance(labels[0], list):  # multi-label
        names = (
            list(target_names)
            if target_names
            else sorted({label for clip in labels for label in clip})
        )
        index = {name: i for i, name in enumerate(names)}
        target = np.zeros((len(labels), len(names)), dtype=np.int8)
        for row, clip in enumerate(labels):
            target[row, [index[label] for label in clip]] = 1
        return target, names
    if class_ids is not None:  # the data set's own class numbering
        names = [None] * (int(class_ids.max()) + 1 if len(class_ids) else 0)
        for class_id, label in zip(class_ids, labels):
            names[class_id] = label
        return np.asarray(class_ids, dtype=int), names
    names = sorted(set(labels))
    index = {name: i for i, name in enumerate(names)}
    return np.array([index[label] for label in labels], dtype=int), names


def _split_files(folder, files, split):
    """``(split, path)`` of the metadata files to read.

    One split: its file must exist. All splits: those present, and at least
    one.
    """
    if split is not None:
        path = folder / files[split]
        _require(path)
        return [(split, path)]
    present = [(name, folder / file) for name, file in files.items()
               if (folder / file).is_file()]  # fmt: skip
    if not present:
        expected = ", ".join(f"'{folder / file}'" for file in files.values())
        raise FileNotFoundError(
            f"No metadata file found; expected at least one of {expected}."
        )
    return present


def _require(path):
    if not path.is_file():
        raise FileNotFoundError(
            f"Metadata file not found: '{path}'. Is the folder the unpacked "
            "official release?"
        )


def _read_csv(path, kind, columns):
    _require(path)
    try:
        table = pd.read_csv(path, skipinitialspace=True)
    except (pd.errors.ParserError, pd.errors.EmptyDataError, UnicodeDecodeError) as exc:
        raise ValueError(f"Could not read {kind} '{path}': {exc}") from None
    absent = [column for column in columns if column not in table]
    if absent:
        raise ValueError(
            f"Could not read {kind} '{path}': no column(s) {absent} (columns: "
            f"{list(table.columns)})."
        )
    return table


def _read_rows(path, kind, delimiter, min_fields, comment=None):
    """Rows of a header-less delimited file, each with ``min_fields`` or more."""
    _require(path)
    rows = []
    try:
        with open(path, newline="", encoding="utf-8") as handle:
            lines = (
                line for line in handle
                if line.strip() and not (comment and line.startswith(comment))
            )  # fmt: skip
            for number, row in enumerate(
                csv.reader(lines, delimiter=delimiter, skipinitialspace=True), 1
            ):
                row = [field.strip() for field in row]
                if len(row) < min_fields:
                    raise ValueError(
                        f"row {number} has {len(row)} field(s), expected at least "
                        f"{min_fields}: {delimiter.join(row)!r}"
                    )
                rows.append(row)
    except (ValueError, UnicodeDecodeError, csv.Error) as exc:
        raise ValueError(f"Could not read {kind} '{path}': {exc}.") from None
    return rows


def _audio_index(folder):
    """Audio files under ``folder`` by stem (the first found wins)."""
    index = {}
    for root, _, names in os.walk(folder):
        for name in sorted(names):
            stem, suffix = os.path.splitext(name)
            if suffix.lower() in _AUDIO_SUFFIXES:
                index.setdefault(stem, Path(root) / name)
    return index
