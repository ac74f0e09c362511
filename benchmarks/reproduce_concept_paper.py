"""Reproduce the experiments of Zhang, Thomaz and Lu (2025) on concept decompositions.

For dense audio embeddings and their sparse concept decompositions
(:class:`~sklearn_audioconcepts.ConceptDecomposer`), on held-out clips:

1. **Zero-shot accuracy** of the dense embedding and of the concept
   reconstruction (``inverse_transform``) against class-prompt text
   embeddings, across an L1 sweep (0.01 to 0.50) with the resulting L0
   (active concepts per clip), for each vocabulary size (2,000 to 5,000);
2. **Linear-probe accuracy** (logistic regression) on the dense embeddings
   and on the concept weights;
3. **Text-to-audio and audio-to-text retrieval** (R@1/5/10, mAP@10) with
   captions, dense versus reconstructed;
4. **Cosine similarity** between each embedding and its reconstruction;
5. **Top-5 concept distributions per class**: the concepts most often among
   a clip's five most prominent, per class.

After the sweep (solved per vocabulary with ``concept_path``, warm-started)
the paper's tables are printed with its numbers beside ours: Table I
(zero-shot, concept vs dense, bootstrap std and 95% interval over the
evaluation clips; F1 for DCASE 2017 task 4, mAP for AudioSet, accuracy
otherwise), Table II (retrieval, when there are captions) and Table III
(untuned, our fine-tuning and the paper's, concept vs dense).

Data sources:

- default: generated CLAP-like data
  (:func:`~sklearn_audioconcepts.datasets.make_concept_embeddings`): clips
  are sparse mixtures of named concepts plus a modality gap and noise; a
  class prompt is the text-side mixture of the class's concepts and a
  caption the text-side mixture of a clip's five strongest concepts. The
  smaller vocabularies are random subsets of the largest, so they miss some
  of the concepts the clips are made of, as a real vocabulary does.
- a data set in its official layout: ``--embedder CKPT --dataset FOLDER
  --layout esc50|urbansound8k|dcase2017_task4|audioset|vocalsound|tut2017|
  clotho`` (read by ``load_dataset``): the evaluation split (or the test
  fold) is evaluated, the development split tunes. ``--tags`` (FSD50K
  clips-info JSON or a CSV) builds the baseline, pruned and clustered
  vocabularies at each size; otherwise the bundled concept list is used.
- an ESC-50-style CSV folder (no ``--layout``): the clips listed in the CSV
  (columns ``filename`` and ``category``, optionally ``fold`` and
  ``caption``; see :func:`load_labelled_folder`). The test split is
  ``--test-fold`` (default: the last fold) or a stratified 30% when there
  are no folds.

Real clips are embedded with :class:`~sklearn_audioconcepts.CLAPEmbedder`
(``--embedder``, formerly ``--clap-checkpoint``): any published name of the
three CLAP families, a hub id, a checkpoint file or a model folder. The
paper evaluated Microsoft CLAP 2023, ``--embedder msclap-2023``
(``CLAPEmbedder("msclap-2023")``: HTS-AT and GPT-2, 1024-d, 44.1 kHz, 7 s
clips). ``--clap-family`` checks the family; ``--clap-audio-model`` (laion
only) is inferred from the name or the weights unless given. Class prompts
are ``"This is a sound of {category}."``.

Run from the repository root::

    python benchmarks/reproduce_concept_paper.py --quick            # seconds
    python benchmarks/reproduce_concept_paper.py --output results/  # minutes
    python benchmarks/reproduce_concept_paper.py \\
        --embedder msclap-2023 --dataset ESC-50-master \\
        --layout esc50 --output results/ --cache ~/.cache/esc50-msclap

Figures (``--output``): zero-shot and probe accuracy against L0 per
vocabulary size, reconstruction cosine per L1, per-class concept bars.
"""

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np
import pandas as pd
from sklearn.base import clone
from sklearn.linear_model import LogisticRegression
from sklearn.model_selection import train_test_split

from sklearn_audioconcepts import ConceptDecomposer, ConceptVocabulary
from sklearn_audioconcepts._paper_protocol import (
    PAPER_TABLE_I,
    PAPER_TABLE_II,
    PAPER_TABLE_III,
    bootstrap_interval,
    development_and_evaluation,
    layout_metric,
    zero_shot_metric,
)
from sklearn_audioconcepts.datasets import make_concept_embeddings
from sklearn_audioconcepts.decomposition import concept_path, explain_weights
from sklearn_audioconcepts.projector import FineTunedConceptProjector
from sklearn_audioconcepts.retrieval import retrieval_scores
from sklearn_audioconcepts.zero_shot import ZeroShotClassifier

FULL = {
    "n_samples": 2000,
    "n_classes": 10,
    "vocabulary_sizes": [2000, 3000, 4000, 5000],
    "penalties": [0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5],
    "bootstrap": 1000,
    "fine_tune_epochs": 50,
    "miniclap_train": 3000,
    "miniclap_epochs": 80,  # MiniCLAP's default
}
QUICK = {
    "n_samples": 240,
    "n_classes": 4,
    "vocabulary_sizes": [200, 400],
    "penalties": [0.02, 0.1, 0.5],
    "bootstrap": 200,
    "fine_tune_epochs": 5,
    "miniclap_train": 120,
    "miniclap_epochs": 2,
}
PROMPT_TEMPLATE = "This is a sound of {}."
PROBE_PENALTY = 0.05  # the linear probe, cosine and top-5 figures use this L1


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description=__doc__.split("\n\n")[0],
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--quick", action="store_true", help="small generated run")
    parser.add_argument(
        "--embedder",
        "--clap-checkpoint",
        dest="embedder",
        help="CLAP model embedding --dataset (real run): a published name "
        "(msclap-2023, Microsoft CLAP 2023, is the paper's model; "
        "630k-audioset-best, laion/larger_clap_general, ...; see "
        "'sklearn-audioconcepts models'), a hub id, a checkpoint file or a "
        "model folder; 'miniclap' without --dataset trains a MiniCLAP on "
        "generated sound scenes",
    )
    parser.add_argument(
        "--dataset",
        help="data set folder: an official layout (with --layout) or a folder "
        "with audio and an ESC-50-style CSV",
    )
    parser.add_argument(
        "--layout",
        choices=[
            "esc50",
            "urbansound8k",
            "dcase2017_task4",
            "audioset",
            "vocalsound",
            "tut2017",
            "clotho",
        ],  # fmt: skip
        help="read --dataset with load_dataset(folder, layout)",
    )
    parser.add_argument(
        "--tags",
        help="clip tags (FSD50K clips-info JSON or CSV): build the baseline, "
        "pruned and clustered vocabularies at each size",
    )
    parser.add_argument("--csv", help="the CSV (default: found in --dataset)")
    parser.add_argument("--test-fold", help="fold held out (default: the last)")
    parser.add_argument(
        "--clap-family",
        choices=["auto", "laion", "hf", "msclap"],
        default="auto",
        help="CLAP family of --embedder (default: told from the name or files)",
    )
    parser.add_argument(
        "--clap-text-model",
        help="local text-encoder folder (RoBERTa for laion, GPT-2 for "
        "msclap-2023, BERT for msclap-2022), for offline runs",
    )
    parser.add_argument(
        "--clap-audio-model",
        default=None,
        help="laion-clap audio architecture (HTSAT-tiny, HTSAT-base, ...); "
        "default: inferred from the name or the checkpoint",
    )
    parser.add_argument("--cache", help="embedding cache folder (real run)")
    parser.add_argument(
        "--vocabulary-sizes", type=int, nargs="+", help="override the sizes swept"
    )
    parser.add_argument(
        "--penalties", type=float, nargs="+", help="override the L1 sweep"
    )
    parser.add_argument(
        "--table-penalty",
        type=float,
        default=PROBE_PENALTY,
        help="L1 of the concept rows of Tables I-III",
    )
    parser.add_argument(
        "--bootstrap", type=int, help="bootstrap resamples for Table I's intervals"
    )
    parser.add_argument("--fine-tune-epochs", type=int, help="Table III epochs")
    parser.add_argument("--fine-tune-lr", type=float, default=3e-3)
    parser.add_argument("--device", default="auto")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--threads", type=int, default=None, help="torch threads")
    parser.add_argument("--output", help="folder for figures, tables and results.json")
    args = parser.parse_args(argv)
    if args.dataset is not None and args.embedder is None:
        parser.error("--dataset needs --embedder (a CLAP checkpoint) to embed it.")
    if args.dataset is None and args.embedder not in (None, "miniclap"):
        parser.error(
            "--embedder and --dataset go together (a real run); only "
            "--embedder miniclap runs without data (generated sound scenes)."
        )
    if args.tags and not args.dataset:
        parser.error("--tags needs --dataset and --embedder to embed the concepts.")
    return args


# -- data ----------------------------------------------------------------------


def load_labelled_folder(folder, csv=None):
    """Audio paths, labels, folds and captions from an ESC-50-style folder.

    The CSV needs a ``filename`` column (relative to ``<folder>/audio`` when
    that folder exists, else to ``folder``) and a ``category`` column (a
    ``label`` or ``class`` column is accepted too); ``fold`` and ``caption``
    are used when present. Without ``csv``, ``<folder>/meta/esc50.csv`` or
    the only CSV file in ``folder`` or ``folder/meta`` is read.

    Returns
    -------
    table : pandas.DataFrame
        Columns ``path``, ``category`` and, when given, ``fold`` and
        ``caption``; one row per clip, in CSV order.
    """
    folder = Path(folder)
    if not folder.is_dir():
        raise FileNotFoundError(f"--dataset {folder} is not a folder.")
    if csv is None:
        known = folder / "meta" / "esc50.csv"
        candidates = (
            [known]
            if known.is_file()
            else sorted([*folder.glob("*.csv"), *folder.glob("meta/*.csv")])
        )
        if len(candidates) != 1:
            raise FileNotFoundError(
                f"Found {len(candidates)} CSV files in {folder} (and meta/); pass the "
                "one listing the clips with --csv."
            )
        csv = candidates[0]
    table = pd.read_csv(csv)
    label_column = next(
        (c for c in ("category", "label", "class") if c in table.columns), None
    )
    if "filename" not in table.columns or label_column is None:
        raise ValueError(
            f"{csv} needs a 'filename' and a 'category' column; it has "
            f"{list(table.columns)}."
        )
    audio_root = folder / "audio" if (folder / "audio").is_dir() else folder
    paths = [audio_root / name for name in table["filename"]]
    missing = [str(p) for p in paths if not p.is_file()]
    if missing:
        raise FileNotFoundError(
            f"{len(missing)} files listed in {csv} are missing, e.g. {missing[0]}."
        )
    result = pd.DataFrame(
        {"path": [str(p) for p in paths], "category": table[label_column].astype(str)}
    )
    for column in ("fold", "caption"):
        if column in table.columns:
            result[column] = table[column].to_numpy()
    return result


def generated_data(config, seed):
    """Generated clips, vocabulary, class prompts and captions (CLAP-like)."""
    rng = np.random.default_rng(seed)
    n_concepts = max(config["vocabulary_sizes"])
    X, vocabulary, codes, y = make_concept_embeddings(
        config["n_samples"],
        n_concepts,
        512,
        n_active=30,
        n_classes=config["n_classes"],
        random_state=seed,
    )
    names = np.asarray([f"class {c}" for c in range(config["n_classes"])])
    labels = names[y]
    C = vocabulary.embeddings
    # A class prompt lives on the text side: the mixture of its class's
    # concepts (mean planted code), plus the text encoder's own noise.
    class_codes = np.stack([codes[y == c].mean(axis=0) for c in range(len(names))])
    prompts = _unit(
        class_codes @ C + 0.05 * rng.standard_normal((len(names), C.shape[1]))
    )
    # A caption names a clip's five strongest concepts.
    top5 = np.argsort(-codes, axis=1)[:, :5]
    caption_codes = np.zeros_like(codes)
    np.put_along_axis(caption_codes, top5, np.take_along_axis(codes, top5, 1), 1)
    captions = _unit(caption_codes @ C + 0.1 * rng.standard_normal(X.shape))
    return {
        "X": X,
        "labels": labels,
        "class_names": list(names),
        "prompts": prompts,
        "captions": captions,
        "vocabulary": vocabulary,
        "folds": None,
        "source": "generated CLAP-like embeddings",
        **_single_label(labels, list(names)),
    }


def real_data(args, embedder):
    """Embeddings of an ESC-50-style CSV folder, bundled vocabulary, prompts."""
    from sklearn_audioconcepts.data import load_audio_concepts

    table = load_labelled_folder(args.dataset, args.csv)
    X = embed_audio(embedder, table["path"], args.cache)
    class_names = sorted(table["category"].unique())
    vocabulary = ConceptVocabulary.from_texts(load_audio_concepts(), embedder)
    prompts = embedder.embed_text([PROMPT_TEMPLATE.format(c) for c in class_names])
    captions = (
        embedder.embed_text(list(table["caption"].astype(str)))
        if "caption" in table
        else None
    )
    return {
        "X": X,
        "labels": table["category"].to_numpy(),
        "class_names": class_names,
        "prompts": prompts,
        "captions": captions,
        "vocabulary": vocabulary,
        "folds": table["fold"].to_numpy() if "fold" in table else None,
        "source": f"{args.dataset} embedded by CLAP {args.embedder}",
        **_single_label(table["category"].to_numpy(), class_names),
    }


def miniclap_data(config, args):
    """Sound scenes embedded by a MiniCLAP trained on other scenes.

    ``--embedder miniclap`` without ``--dataset``: the classes are the
    scenes' sources (clips with none are left out), the captions the scenes'
    own, and the vocabulary the world's concept phrases, all embedded by the
    trained model's text tower. The model is trained as in
    ``benchmarks/reproduce_sound_scenes.py`` (full and short captions).
    """
    from sklearn_audioconcepts._scenes_experiment import (
        factor_prompts,
        training_captions,
    )
    from sklearn_audioconcepts.datasets import make_sound_scenes
    from sklearn_audioconcepts.miniclap import MiniCLAP

    start = time.perf_counter()
    train = make_sound_scenes(config["miniclap_train"], random_state=args.seed)
    scenes = make_sound_scenes(config["n_samples"], random_state=args.seed + 1)
    model = MiniCLAP(
        sample_rate=train.sample_rate,
        max_epochs=config["miniclap_epochs"],
        device=args.device,
        progress=False,
        random_state=args.seed,
    ).fit(train.audio, training_captions(train))  # as reproduce_sound_scenes.py
    print(
        f"MiniCLAP trained on {len(train.audio)} sound scenes in "
        f"{time.perf_counter() - start:.0f} s."
    )
    class_names, prompts = factor_prompts(train, "source")
    sources = scenes.factors["source"].to_numpy().astype(str)
    keep = np.isin(sources, class_names)
    X = np.asarray(model.transform(scenes.audio), dtype=np.float32)[keep]
    captions = [text for text, kept in zip(scenes.captions, keep) if kept]
    return {
        "X": X,
        "labels": sources[keep],
        "class_names": list(class_names),
        "prompts": model.embed_text(prompts),
        "captions": np.asarray(model.embed_text(captions)),
        "vocabulary": ConceptVocabulary.from_texts(train.concepts, model),
        "folds": None,
        "source": "sound scenes embedded by a MiniCLAP trained on other scenes",
        **_single_label(sources[keep], list(class_names)),
    }


def _single_label(labels, class_names):
    index = {name: i for i, name in enumerate(class_names)}  # any order
    target = np.asarray([index[label] for label in labels], dtype=int)
    return {"target": target, "metric": "accuracy", "layout": None}


def make_embedder(args):
    """The CLAP model named by ``--embedder`` (a published name, hub id or path)."""
    from sklearn_audioconcepts.clap import CLAPEmbedder

    return CLAPEmbedder(
        checkpoint=args.embedder,
        family=args.clap_family,
        audio_model=args.clap_audio_model,
        text_model=args.clap_text_model,
        device=args.device,
    )


def embed_audio(embedder, paths, cache=None):
    start = time.perf_counter()
    paths = [str(path) for path in paths]
    if cache:
        from sklearn_audioconcepts.cache import cached_transform

        X = cached_transform(embedder, paths, cache)
    else:
        X = embedder.transform(paths)
    print(f"Embedded {len(X)} clips in {time.perf_counter() - start:.0f} s.")
    return np.asarray(X, dtype=np.float32)


def layout_data(args, embedder):
    """A data set read by ``load_dataset(--dataset, --layout)``, embedded."""
    from sklearn_audioconcepts.data import load_audio_concepts
    from sklearn_audioconcepts.datasets import load_dataset

    # AudioSet ships no audio: clips whose video is gone are the norm, skipped.
    missing = "skip" if args.layout == "audioset" else "raise"
    bunch = load_dataset(args.dataset, args.layout, missing_audio=missing)
    X = embed_audio(embedder, bunch.paths, args.cache)
    data = {
        "X": X,
        "folds": bunch.folds,
        "splits": bunch.splits,
        "layout": args.layout,
        "metric": layout_metric(args.layout),
        "vocabulary": ConceptVocabulary.from_texts(load_audio_concepts(), embedder),
        "source": f"{args.dataset} ({args.layout}) embedded by {args.embedder}",
        "captions": None,
        "caption_clip": None,
    }
    if bunch.captions is not None:  # Clotho: five captions per clip
        texts = [text for captions in bunch.captions for text in captions]
        clip = [i for i, captions in enumerate(bunch.captions) for _ in captions]
        data["captions"] = np.asarray(embedder.embed_text(texts))
        data["caption_clip"] = np.asarray(clip)
    if bunch.target is None:
        data.update(
            prompts=None, class_names=None, target=np.zeros(len(X), dtype=int),
            labels=np.full(len(X), "all", dtype=object),
        )  # fmt: skip
        return data
    class_names = list(bunch.target_names)
    labels = [
        ", ".join(label) if isinstance(label, list) else label for label in bunch.labels
    ]
    data.update(
        class_names=class_names,
        target=np.asarray(bunch.target),
        labels=np.asarray(labels, dtype=object),
        prompts=embedder.embed_text([PROMPT_TEMPLATE.format(c) for c in class_names]),
    )
    return data


def tag_vocabularies(args, embedder, sizes):
    """The paper's three tag vocabularies at each size, embedded."""
    from sklearn_audioconcepts.vocabulary import build_vocabulary, read_tags

    tags = read_tags(args.tags)
    vocabularies = {}
    for kind in ("baseline", "pruned", "clustered"):
        for size in sizes:
            names = build_vocabulary(
                tags, kind, size, embedder=embedder, random_state=args.seed
            )
            vocabularies[f"{kind} V={len(names)}"] = ConceptVocabulary.from_texts(
                names, embedder
            )
    return vocabularies


def split(data, test_fold, seed):
    """Boolean test mask: a held-out fold, or a stratified 30%."""
    n = len(data["X"])
    if data["folds"] is not None:
        folds = data["folds"].astype(str)
        fold = str(test_fold) if test_fold is not None else sorted(set(folds))[-1]
        if fold not in set(folds):
            raise ValueError(f"--test-fold {fold} is not one of {sorted(set(folds))}.")
        return folds == fold
    _, test = train_test_split(
        np.arange(n), test_size=0.3, stratify=data["labels"], random_state=seed
    )
    mask = np.zeros(n, dtype=bool)
    mask[test] = True
    return mask


def _unit(A):
    return A / np.linalg.norm(A, axis=1, keepdims=True)


def vocabulary_subsets(vocabulary, sizes, seed):
    """Nested random subsets of the vocabulary, one per size (sizes capped)."""
    order = np.random.default_rng(seed).permutation(len(vocabulary))
    subsets = {}
    for size in sorted(sizes):
        if size > len(vocabulary):
            print(f"(vocabulary size {size} skipped: only {len(vocabulary)} concepts)")
            continue
        keep = np.sort(order[:size])
        subsets[size] = vocabulary.subset([vocabulary.names[i] for i in keep])
    if not subsets:
        raise ValueError(f"No vocabulary size fits the {len(vocabulary)} concepts.")
    return subsets


# -- experiments ---------------------------------------------------------------


def run(data, test, sizes, penalties, device, seed, vocabularies=None, train=None):
    X = data["X"]
    train = ~test if train is None else train
    zero_shot = None
    if data["prompts"] is not None:
        zero_shot = ZeroShotClassifier(
            data["class_names"], text_embeddings=data["prompts"]
        ).fit(X[train])

    def zero_shot_on_test(embeddings):
        if zero_shot is None:  # Clotho: captions, no classes
            return float("nan")
        return zero_shot_value(data, zero_shot.decision_function(embeddings), test)

    dense = {
        "zero_shot": zero_shot_on_test(X[test]),
        "probe": _probe(X[train], X[test], data, train, test),
    }
    retrieval_texts, retrieval_index = retrieval_pairs(data, test)
    if retrieval_texts is not None:
        dense["retrieval"] = retrieval_scores(X[test], retrieval_texts, retrieval_index)

    subsets = (
        vocabularies
        if vocabularies is not None
        else {
            f"V={size}": vocabulary
            for size, vocabulary in vocabulary_subsets(
                data["vocabulary"], sizes, seed
            ).items()
        }
    )
    shown_name = list(subsets)[-1]
    # The probe-level figures (top concepts, per-class bars) use one setting.
    shown = min(penalties, key=lambda p: abs(p - PROBE_PENALTY))
    rows, cosines, best = [], {}, None
    for name, vocabulary in subsets.items():
        start = time.perf_counter()
        # One fit learns the training mean; concept_path then solves every
        # penalty of the sweep warm-started, on the training and test clips.
        decomposer = ConceptDecomposer(vocabulary, device=device, progress=False)
        decomposer.fit(X[train])
        path = {"vocabulary": vocabulary, "center": decomposer.mean_}
        path.update(device=device, progress=False, output="dense")
        order, train_codes = concept_path(X[train], l1_penalties=penalties, **path)
        _, test_codes = concept_path(X[test], l1_penalties=penalties, **path)
        seconds = (time.perf_counter() - start) / len(penalties)
        for penalty, W_train, W_test in zip(order, train_codes, test_codes):
            penalty = float(penalty)
            reconstruction = decomposer.inverse_transform(W_test)
            cosine = np.einsum("ij,ij->i", _unit(X[test]), _unit(reconstruction))
            row = {
                "vocabulary": name,
                "vocabulary_size": len(vocabulary),
                "l1_penalty": penalty,
                "l0": float((W_test > 0).sum(axis=1).mean()),
                "zero_shot": zero_shot_on_test(reconstruction),
                "probe": _probe(W_train, W_test, data, train, test),
                "cosine": float(cosine.mean()),
                "seconds": seconds,
            }
            if retrieval_texts is not None:
                scores = retrieval_scores(
                    reconstruction, retrieval_texts, retrieval_index
                )
                row.update({f"retrieval {k}": v for k, v in scores.items()})
            rows.append(row)
            if name == shown_name:
                cosines[f"L1={penalty}"] = cosine
                if penalty == shown:
                    best = (name, penalty, decomposer, W_test)
            print(
                f"  {name:<16} L1={penalty:<5} L0={row['l0']:6.1f}  zero-shot "
                f"{row['zero_shot']:.3f}  probe {row['probe']:.3f}  cosine "
                f"{row['cosine']:.3f}  ({seconds:.1f} s per penalty)",
                flush=True,
            )
    return dense, pd.DataFrame(rows), cosines, best


def zero_shot_value(data, scores, mask):
    """The data set's zero-shot metric of class scores on the clips in ``mask``."""
    return zero_shot_metric(data["metric"], scores, data["target"][mask])


def _probe(W_train, W_test, data, train, test):
    """Linear-probe accuracy (single-label data); NaN for multi-label or none."""
    if data["prompts"] is None or data["target"].ndim != 1:
        return float("nan")
    probe = LogisticRegression(max_iter=3000).fit(W_train, data["target"][train])
    return float(probe.score(W_test, data["target"][test]))


def retrieval_pairs(data, test):
    """Caption embeddings of the test clips and the test clip each describes."""
    if data["captions"] is None:
        return None, None
    clip = data.get("caption_clip")
    if clip is None:  # one caption per clip
        return data["captions"][test], np.arange(test.sum())
    position = np.cumsum(test) - 1  # clip index -> its row among test clips
    keep = test[clip]
    return data["captions"][keep], position[clip[keep]]


def paper_tables(data, development, evaluation, vocabulary, args, config):
    """Tables I to III of the paper, ours beside theirs."""
    X, layout = data["X"], data["layout"]
    n_eval = int(evaluation.sum())
    penalty = config["table_penalty"]
    decomposer = ConceptDecomposer(
        vocabulary, l1_penalty=penalty, device=args.device, progress=False
    ).fit(X[development])
    reconstruction = decomposer.inverse_transform(decomposer.transform(X[evaluation]))
    tables = {}
    print()
    if data["prompts"] is not None:
        zero_shot = ZeroShotClassifier(
            data["class_names"], text_embeddings=data["prompts"]
        ).fit(X[development])
        target = data["target"][evaluation]
        dense_scores = zero_shot.decision_function(X[evaluation])
        concept_scores = zero_shot.decision_function(reconstruction)
        row = {}
        for name, scores in (("concept", concept_scores), ("dense", dense_scores)):
            row[name] = bootstrap_interval(
                lambda i, scores=scores: zero_shot_metric(
                    data["metric"], scores[i], target[i]
                ),
                n_eval,
                n_resamples=config["bootstrap"],
                random_state=args.seed,
            )
        tables["table_i"] = row
        paper = PAPER_TABLE_I.get(layout)
        print(
            f"Table I, zero-shot {data['metric']} ({n_eval} evaluation clips, "
            f"L1={penalty}, {len(vocabulary)} concepts; +- bootstrap std, [95% CI]):"
        )
        for name in ("concept", "dense"):
            ours = row[name]
            theirs = (
                ""
                if paper is None
                else (
                    f"   paper {paper[0]:.3f} +- {paper[1]:.3f}"
                    if name == "concept"
                    else f"   paper {paper[2]:.3f}"
                )
            )
            print(
                f"  {name:<8} {ours['value']:.3f} +- {ours['std']:.3f} "
                f"[{ours['low']:.3f}, {ours['high']:.3f}]{theirs}"
            )
    texts, index = retrieval_pairs(data, evaluation)
    if texts is not None:
        scores = {
            "concept": retrieval_scores(reconstruction, texts, index),
            "dense": retrieval_scores(X[evaluation], texts, index),
        }
        tables["table_ii"] = scores
        print(
            f"Table II, retrieval ({n_eval} clips, {len(texts)} captions; "
            "concept / dense, paper's Clotho numbers beside):"
        )
        for key, (concept, dense) in PAPER_TABLE_II.items():
            print(
                f"  {key:<22} {scores['concept'][key]:.3f} / "
                f"{scores['dense'][key]:.3f}   paper {concept:.3f} / {dense:.3f}"
            )
    if data["prompts"] is not None and data["target"].ndim == 1:
        tables["table_iii"] = fine_tuned_table(
            data, development, evaluation, decomposer, args, config
        )
    return tables


def fine_tuned_table(data, development, evaluation, decomposer, args, config):
    """Table III: untuned, today's fine-tuning and the paper's, concept and dense."""
    X, target = data["X"], data["target"]
    paper = PAPER_TABLE_III.get(data["layout"])
    # Keyed by class index: the development split may lack some classes.
    prompts = dict(enumerate(np.asarray(data["prompts"])))
    print(
        f"Table III, fine-tuned on the development split ({int(development.sum())} "
        "clips), accuracy on the evaluation clips, concept / dense"
        + (f"; paper {paper[0]:.3f} / {paper[1]:.3f}" if paper else "")
        + ":"
    )
    variants = {
        "untuned": {"max_epochs": 0},
        "concepts (ours)": {"recipe": "concepts"},
        "paper": {"recipe": "paper"},
    }
    rows = {}
    for name, params in variants.items():
        start = time.perf_counter()
        settings = dict(
            class_embeddings=prompts,
            max_epochs=config["fine_tune_epochs"],
            lr=config["fine_tune_lr"],
            device=args.device,
            progress=False,
            random_state=args.seed,
        )
        settings.update(params)
        projector = FineTunedConceptProjector(clone(decomposer), **settings)
        projector.fit(X[development], target[development])
        concept = projector.score(X[evaluation], target[evaluation])
        # Dense: the projected embedding itself against the prompts.
        projected = projector._project(X[evaluation])
        dense_pred = np.argmax(projected @ projector.prompts_.T, axis=1)
        dense = float(np.mean(projector.classes_[dense_pred] == target[evaluation]))
        rows[name] = {"concept": float(concept), "dense": dense}
        print(
            f"  {name:<16} {concept:.3f} / {dense:.3f}  "
            f"({projector.n_iter_} epochs, {time.perf_counter() - start:.1f} s)"
        )
    return rows


def class_top_concepts(decomposer, W_test, labels, top_k=5):
    """Per class, the concepts most often among a clip's top-5, with counts."""
    table = explain_weights(W_test, decomposer.get_feature_names_out(), top_k=top_k)
    table["class"] = labels[table["sample"].to_numpy()]
    counts = (
        table.groupby("class")["concept"]
        .value_counts()
        .groupby(level=0)
        .head(top_k)
        .rename("count")
        .reset_index()
    )
    return counts


def report(dense, results, top_concepts, best):
    print()
    print(
        f"Dense embeddings: zero-shot {dense['zero_shot']:.3f}, "
        f"probe {dense['probe']:.3f}"
    )
    if "retrieval" in dense:
        print("Retrieval (held-out clips and their captions):")
        size = results["vocabulary"].iloc[-1]
        at_size = results[results["vocabulary"] == size]
        for key, value in dense["retrieval"].items():
            concept = ", ".join(
                f"L1={p}: {v:.3f}"
                for p, v in zip(at_size["l1_penalty"], at_size[f"retrieval {key}"])
            )
            print(f"  {key:<22} dense {value:.3f} | concepts ({size}) {concept}")
    size, penalty = best[0], best[1]
    print(f"Top-5 concepts per class ({size}, L1={penalty}; count of held-out clips):")
    for label, rows in top_concepts.groupby("class"):
        listed = "; ".join(f"{c} ({n})" for c, n in zip(rows["concept"], rows["count"]))
        print(f"  {label}: {listed}")


def figures(output, dense, results, cosines, best, labels_test):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from sklearn_audioconcepts.plotting import (
        plot_class_concepts,
        plot_reconstruction_cosine,
        plot_sparsity_tradeoff,
    )

    sizes = list(dict.fromkeys(results["vocabulary"]))
    penalties = sorted(results["l1_penalty"].unique())
    for metric in ("zero_shot", "probe"):
        pivot_l0 = results.pivot(index="vocabulary", columns="l1_penalty", values="l0")
        pivot = results.pivot(index="vocabulary", columns="l1_penalty", values=metric)
        figure = plot_sparsity_tradeoff(
            pivot_l0.loc[sizes, penalties].to_numpy(),
            pivot.loc[sizes, penalties].to_numpy(),
            penalties=penalties,
            baseline=dense[metric],
            labels=sizes,
        )
        figure.axes[0].set_ylabel(f"{metric.replace('_', '-')} accuracy")
        figure.savefig(output / f"{metric}_vs_l0.png", dpi=110, bbox_inches="tight")
        plt.close(figure)
    figure = plot_reconstruction_cosine(cosines)
    figure.savefig(output / "reconstruction_cosine.png", dpi=110, bbox_inches="tight")
    plt.close(figure)
    _, _, decomposer, W_test = best
    figure = plot_class_concepts(
        W_test, labels_test, decomposer.get_feature_names_out(), top_k=3
    )
    figure.savefig(output / "class_concepts.png", dpi=110, bbox_inches="tight")
    plt.close(figure)


def main(argv=None, embedder=None):
    """Run the protocol; ``embedder`` (an object with ``transform(paths)`` and
    ``embed_text(texts)``) replaces loading ``--embedder``."""
    args = parse_args(argv)
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    config = dict(QUICK if args.quick else FULL)
    if args.vocabulary_sizes:
        config["vocabulary_sizes"] = args.vocabulary_sizes
    if args.penalties:
        config["penalties"] = args.penalties
    config["table_penalty"] = args.table_penalty
    config["fine_tune_lr"] = args.fine_tune_lr
    for key in ("bootstrap", "fine_tune_epochs"):
        if getattr(args, key) is not None:
            config[key] = getattr(args, key)
    vocabularies = None
    if args.dataset:
        embedder = make_embedder(args) if embedder is None else embedder
        if args.layout:
            data = layout_data(args, embedder)
            development, test = development_and_evaluation(data, args.test_fold)
        else:
            data = real_data(args, embedder)
            test = split(data, args.test_fold, args.seed)
            development = ~test
        if args.tags:
            vocabularies = tag_vocabularies(args, embedder, config["vocabulary_sizes"])
    elif args.embedder == "miniclap":
        data = miniclap_data(config, args)
        # The world has fewer concepts than the paper's sizes: use them all.
        vocabularies = {f"world V={len(data['vocabulary'])}": data["vocabulary"]}
        test = split(data, args.test_fold, args.seed)
        development = ~test
    else:
        data = generated_data(config, args.seed)
        test = split(data, args.test_fold, args.seed)
        development = ~test
    data.setdefault("caption_clip", None)
    print(
        f"{data['source']}: {len(data['X'])} clips ({development.sum()} train, "
        f"{test.sum()} test), {len(data['class_names'] or [])} classes, vocabulary "
        f"{len(data['vocabulary'])} concepts."
    )
    dense, results, cosines, best = run(
        data,
        test,
        config["vocabulary_sizes"],
        config["penalties"],
        args.device,
        args.seed,
        vocabularies,
        development,
    )
    top_concepts = class_top_concepts(best[2], best[3], data["labels"][test])
    report(dense, results, top_concepts, best)
    tables = paper_tables(data, development, test, best[2].vocabulary, args, config)
    if args.output:
        output = Path(args.output)
        output.mkdir(parents=True, exist_ok=True)
        results.to_csv(output / "sweep.csv", index=False)
        top_concepts.to_csv(output / "class_top_concepts.csv", index=False)
        (output / "results.json").write_text(
            json.dumps(
                {"dense": dense, "sweep": results.to_dict("records"), **tables},
                indent=2,
            )
        )
        figures(output, dense, results, cosines, best, data["labels"][test])
        print(f"Tables and figures in {output}/")
    return {
        "dense": dense,
        "sweep": results,
        "top_concepts": top_concepts,
        **tables,
    }


if __name__ == "__main__":
    main(sys.argv[1:])
