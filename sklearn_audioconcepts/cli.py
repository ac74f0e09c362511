"""The command line: ``sklearn-audioconcepts <command>``.

Also runs as ``python -m sklearn_audioconcepts``. Commands:

- ``embed``: audio files or folders -> an embeddings file (``.npz`` or
  ``.parquet``, one row per file id) with CLAP, Resemblyzer or TitaNet;
- ``vocabulary``: concept names (the bundled list or a text file) embedded by
  a CLAP text encoder -> a :class:`~sklearn_audioconcepts.ConceptVocabulary`
  file;
- ``decompose``: embeddings + vocabulary -> concept weights file;
- ``explain``: the top concepts of each file, as a table;
- ``sae fit | transform | steer``: a TopK sparse autoencoder on (speaker)
  embeddings, saved with skops (``.skops``; joblib/pickle model files load
  only with ``--trust-pickle``, since unpickling runs code);
- ``demo``: both papers' pipelines end to end, offline.

Exit codes: 0 success; 1 the command failed (bad data, missing file or
model, missing optional dependency: the message says which); 2 the command
line itself is wrong (unknown option, missing argument, conflicting
options, a numeric option out of range, an output file name with the wrong
suffix); 130 interrupted (Ctrl-C, at any moment: one line, no traceback).
Errors print one ``error: ...`` line on stderr; ``--debug`` shows the
traceback instead.

Output paths are checked before any work (suffix, folder creatable,
writable), so a command that cannot save its result fails at once rather than
after embedding or training. Under ``--quiet`` only results and errors are
printed; by default a warning is one ``warning: ...`` line; ``--debug`` shows
everything the libraries print.

Only light modules are imported at start-up: the heavy ones (torch,
laion-clap, scikit-learn) load inside :func:`main`, under its Ctrl-C handler.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

from . import __version__
from ._cli_checks import (
    AUDIO_SUFFIXES,  # noqa: F401 - part of this module's interface
    EXPLAIN_SUFFIXES,
    VOCABULARY_SUFFIXES,
    UsageError,
    audio_files,
    check_output_folder,
    check_output_path,
    library_output,
    unreadable,
)
from ._cli_checks import Parser as _Parser

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

_EMBEDDERS = ("clap", "resemblyzer", "titanet")


def run_demo(n_samples=1000, random_state=0, out=sys.stdout, output=None):
    """The sound-scenes concept demo (no model weights), printing to ``out``."""
    from ._demo import run_concept_demo

    run_concept_demo(
        n_samples,
        random_state,
        output=output,
        say=lambda text="": print(text, file=out),
    )
    return EXIT_OK


# -- small helpers -------------------------------------------------------------


class _Console:
    """Status messages on stderr unless ``--quiet``; results go to stdout."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.progress = False if quiet else "auto"

    def info(self, text=""):
        if not self.quiet:
            print(text, file=sys.stderr)


def _offline_if_unreachable(console):
    """Offline, make the Hugging Face hub fail fast instead of retrying for minutes.

    laion-clap reaches for the hub when imported (tokenizers) and when
    loading its text encoder; with no network each request retries for
    about a minute. Only set when the user has not chosen.
    """
    from ._demo import hub_reachable

    if "HF_HUB_OFFLINE" not in os.environ and not hub_reachable():
        os.environ["HF_HUB_OFFLINE"] = "1"
        console.info("huggingface.co is unreachable: using local files only.")


def _clap_embedder(checkpoint, args, console):
    from .clap import CLAPEmbedder

    _offline_if_unreachable(console)

    return CLAPEmbedder(
        checkpoint=checkpoint,
        audio_model=args.audio_model,
        text_model=args.text_model,
        enable_fusion=args.enable_fusion,
        device=args.device,
        batch_size=args.batch_size,
        progress=console.progress,
    )


def _speaker_embedder(args, console):
    from .speaker import ResemblyzerEmbedder, TitaNetEmbedder

    common = {
        "batch_size": args.batch_size,
        "device": args.device,
        "progress": console.progress,
    }
    if args.model == "resemblyzer":
        if args.checkpoint is not None:
            raise UsageError("--checkpoint does not apply to --model resemblyzer.")
        return ResemblyzerEmbedder(**common)
    checkpoint = args.checkpoint
    if checkpoint is not None and (
        Path(checkpoint).suffix == ".nemo" or Path(checkpoint).exists()
    ):
        return TitaNetEmbedder(checkpoint=checkpoint, **common)
    return TitaNetEmbedder(model_name=checkpoint or "titanet_large", **common)


def _load_vocabulary(args, console):
    from .vocabulary import ConceptVocabulary

    if args.vocabulary != "bundled":
        return ConceptVocabulary.load(args.vocabulary)
    return _embed_concepts(args, console)


def _embed_concepts(args, console):
    from .data import load_audio_concepts
    from .vocabulary import ConceptVocabulary

    if getattr(args, "texts", None):
        lines = Path(args.texts).read_text(encoding="utf-8").splitlines()
        names = [line.strip() for line in lines if line.strip()]
    else:
        names = load_audio_concepts(args.sections or None)
    embedder = _clap_embedder(args.clap_checkpoint, _clap_args(args), console)
    console.info(f"Embedding {len(names)} concepts with the CLAP text encoder...")
    return ConceptVocabulary.from_texts(
        names,
        embedder,
        template=args.template,
        similarity_threshold=args.similarity_threshold,
    )


def _clap_args(args):
    """The CLAP options of a vocabulary-building command, named as for embed."""
    return argparse.Namespace(
        audio_model=args.clap_audio_model,
        text_model=args.clap_text_model,
        enable_fusion=args.clap_enable_fusion,
        device=args.device,
        batch_size=16,
    )


def _decompose(args, console):
    """Concept weights of an embeddings file: (ids, weights, names, decomposer)."""
    from ._tables import read_table
    from .decomposition import ConceptDecomposer

    ids, X, _, _ = read_table(args.embeddings)
    vocabulary = _load_vocabulary(args, console)
    if X.shape[1] != vocabulary.n_features:
        raise ValueError(
            f"{args.embeddings} holds {X.shape[1]}-d embeddings but the vocabulary's "
            f"concepts are {vocabulary.n_features}-d: both must come from the same "
            "CLAP model."
        )
    decomposer = ConceptDecomposer(
        vocabulary,
        l1_penalty=args.l1_penalty,
        device=args.device,
        progress=console.progress,
    )
    weights = decomposer.fit_transform(X)
    console.info(
        f"{len(ids)} files over {len(vocabulary)} concepts: "
        f"{(weights > 0).sum(1).mean():.1f} active per file, reconstruction cosine "
        f"{decomposer.score(X):.3f}."
    )
    return ids, weights, decomposer.get_feature_names_out(), decomposer


def _write(path, ids, values, columns, metadata, console):
    from . import _tables

    # Written beside and renamed: a Ctrl-C or an error during the write never
    # leaves a partial file under the output's name.
    path = Path(path)
    partial = path.with_name(f".{path.stem}.partial{path.suffix}")
    try:
        _tables.write_table(partial, ids, values, columns, metadata)
        os.replace(partial, path)
    except BaseException:
        partial.unlink(missing_ok=True)
        raise
    console.info(f"Wrote {values.shape[0]} x {values.shape[1]} to {path}.")
    return path


# -- commands ------------------------------------------------------------------


def _cmd_embed(args, console):
    import numpy as np

    files = audio_files(args.inputs, args.recursive, console)
    ids = [file_id for file_id, _ in files]
    paths = [str(path) for _, path in files]
    # Entries that cannot even be opened (broken links, link loops, no
    # permission) are known before any model loads: stop now under raise,
    # list them with the embedder's failures under skip.
    reasons = {i: unreadable(path) for i, (_, path) in enumerate(files)}
    unopenable = {i: reason for i, reason in reasons.items() if reason}
    if unopenable and args.on_error == "raise":
        first, reason = next(iter(unopenable.items()))
        more = f" (and {len(unopenable) - 1} more)" if len(unopenable) > 1 else ""
        raise OSError(
            f"{paths[first]}: {reason}{more}. Fix or remove it, or pass --on-error "
            "skip to leave such files out and list them in OUTPUT.failed.csv."
        )
    if args.model == "clap":
        embedder = _clap_embedder(
            args.checkpoint or "630k-audioset-best", args, console
        )
    else:
        if args.audio_model != "HTSAT-tiny" or args.text_model is not None:
            raise UsageError(
                "--audio-model and --text-model apply to --model clap only."
            )
        embedder = _speaker_embedder(args, console)
    if args.on_error == "skip":
        embedder.set_params(on_error="nan")
    readable = [i for i in range(len(paths)) if i not in unopenable]
    console.info(f"Embedding {len(readable)} files with {args.model}...")
    failures = [
        {"id": ids[i], "path": paths[i], "error": "OSError", "message": reason}
        for i, reason in unopenable.items()
    ]
    X = np.full((len(paths), 0), np.nan, dtype=np.float32)
    if readable:
        with warnings.catch_warnings():
            # The CLI lists failures itself (below), in CLI terms.
            warnings.filterwarnings("ignore", message=".*could not be embedded")
            X_read = _embed_paths(embedder, [paths[i] for i in readable], args, console)
        X = np.full((len(paths), X_read.shape[1]), np.nan, dtype=np.float32)
        X[readable] = X_read
        failures += _embedding_failures(embedder, X_read, readable, ids, paths)
    metadata = {
        "kind": "embeddings",
        "model": args.model,
        "checkpoint": None if args.checkpoint is None else str(args.checkpoint),
        "version": __version__,
    }
    kept = [i for i in range(len(paths)) if np.isfinite(X[i]).all() and X.shape[1]]
    if failures:
        import pandas as pd

        # The output's folder may not exist yet: make it before the list.
        failures_path = Path(args.output).with_suffix(".failed.csv")
        failures_path.parent.mkdir(parents=True, exist_ok=True)
        table = pd.DataFrame(failures, columns=["id", "path", "error", "message"])
        table.sort_values("id").to_csv(failures_path, index=False)
        print(
            f"warning: {len(failures)} of {len(ids)} files could not be embedded "
            f"and were skipped; they are listed in {failures_path}.",
            file=sys.stderr,
        )
        if not kept:
            raise ValueError("No file could be embedded; see " + str(failures_path))
    written = _write(
        args.output,
        [ids[i] for i in kept],
        X[kept],
        embedder.get_feature_names_out(),
        metadata,
        console,
    )
    console.info(
        f"{len(ids)} audio files found, {len(kept)} rows written to {written}."
    )
    return EXIT_OK


def _embed_paths(embedder, paths, args, console):
    import numpy as np

    if args.cache is not None:
        from .cache import cached_transform

        X = cached_transform(embedder, paths, args.cache, progress=console.progress)
    else:
        X = embedder.transform(paths)
    return np.asarray(X, dtype=np.float32)


def _embedding_failures(embedder, X, rows, ids, paths):
    """Failure records of the NaN rows of ``X`` (on_error="skip")."""
    import numpy as np

    failed = np.flatnonzero(~np.isfinite(X).all(axis=1))
    # failed_ describes the last transform call: all files, unless the cache
    # split them into batches; then only the ids are known here.
    reasons = getattr(embedder, "failed_", None)
    by_row = {}
    if reasons is not None and len(reasons) == len(failed):
        by_row = dict(zip(failed, zip(reasons["error"], reasons["message"])))
    return [
        {
            "id": ids[rows[row]],
            "path": paths[rows[row]],
            "error": by_row.get(row, (None, None))[0],
            "message": by_row.get(row, (None, None))[1],
        }
        for row in failed
    ]


def _cmd_vocabulary(args, console):
    if args.clap_checkpoint is None:
        raise UsageError(
            "vocabulary needs --clap-checkpoint (the model's text encoder)."
        )
    if args.texts and args.sections:
        raise UsageError("Give --texts or --sections, not both.")
    vocabulary = _embed_concepts(args, console)
    path = vocabulary.save(args.output)
    console.info(f"Wrote {len(vocabulary)} concepts to {path}.")
    return EXIT_OK


def _cmd_decompose(args, console):
    ids, weights, names, decomposer = _decompose(args, console)
    metadata = {
        "kind": "concept_weights",
        "l1_penalty": args.l1_penalty,
        "vocabulary": str(args.vocabulary),
        "embeddings": str(args.embeddings),
    }
    _write(args.output, ids, weights, names, metadata, console)
    return EXIT_OK


def _cmd_explain(args, console):
    from ._tables import read_table
    from .decomposition import explain_weights

    if args.vocabulary is None:
        ids, weights, names, metadata = read_table(args.input)
        if metadata.get("kind") != "concept_weights":
            raise UsageError(
                f"{args.input} holds embeddings, not concept weights: give "
                "--vocabulary to decompose them, or run decompose first."
            )
    else:
        args.embeddings = args.input
        ids, weights, names, _ = _decompose(args, console)
    table = explain_weights(weights, names, top_k=args.top_k)
    table.insert(0, "id", [ids[i] for i in table["sample"]])
    table = table.drop(columns="sample")
    if args.output is not None:
        separator = (
            "\t" if Path(args.output).suffix.lower() in (".tsv", ".tab") else ","
        )
        table.to_csv(args.output, sep=separator, index=False)
        console.info(
            f"Wrote the top {args.top_k} concepts of {len(ids)} files to {args.output}."
        )
    elif args.format in ("csv", "tsv"):
        table.to_csv(sys.stdout, sep="," if args.format == "csv" else "\t", index=False)
    else:
        _print_explanation(table, ids)
    return EXIT_OK


def _print_explanation(table, ids):
    by_id = dict(iter(table.groupby("id", sort=False)))
    for file_id in ids:
        print(file_id)
        rows = by_id.get(file_id)
        if rows is None:
            print("    (no active concept)")
            continue
        for _, row in rows.iterrows():
            print(f"  {row['rank']:>3}  {row['weight']:.4f}  {row['concept']}")


def _cmd_sae(args, console):
    import numpy as np

    from ._tables import read_table
    from .persistence import PICKLE_SUFFIXES, SUFFIX, load_model, save_model
    from .sae import TopKSparseAutoencoder

    if args.sae_command == "fit":
        suffix = Path(args.output).suffix.lower()
        if suffix not in (SUFFIX, *PICKLE_SUFFIXES):
            raise UsageError(
                f"name the model file *{SUFFIX} (loads without running code), "
                f"not {Path(args.output).name!r}."
            )
    ids, X, columns, _ = read_table(args.embeddings, kind="embeddings file")
    if args.sae_command == "fit":
        sae = TopKSparseAutoencoder(
            n_latents=args.n_latents,
            expansion_factor=args.expansion_factor,
            k=args.k,
            aux_k=args.aux_k,
            lr=args.lr,
            batch_size=args.batch_size,
            max_epochs=args.max_epochs,
            normalize=args.normalize,
            device=args.device,
            progress=console.progress,
            random_state=args.random_state,
        )
        console.info(f"Training on {len(X)} embeddings ({args.max_epochs} epochs)...")
        sae.fit(X)
        if suffix == SUFFIX:
            save_model(sae, args.output)
        else:
            import joblib

            # Asked for by name; loading it back needs --trust-pickle.
            Path(args.output).parent.mkdir(parents=True, exist_ok=True)
            joblib.dump(sae, args.output)
        console.info(
            f"Trained on {len(X)} embeddings: {sae.n_latents_} latents, k={sae.k}, "
            f"variance explained {sae.score(X):.3f}, {len(sae.dead_latents_)} dead "
            f"latents. Saved to {args.output}."
        )
        if suffix != SUFFIX:
            console.info(
                f"{args.output} is a pickle: 'sae transform' and 'sae steer' load it "
                f"only with --trust-pickle. A {SUFFIX} file needs no flag."
            )
        return EXIT_OK

    sae = load_model(
        args.model, expected=TopKSparseAutoencoder, trust_pickle=args.trust_pickle
    )
    metadata = {"model": str(args.model), "embeddings": str(args.embeddings)}
    if args.sae_command == "transform":
        if args.reconstruct:
            values = sae.inverse_transform(sae.transform(X))
            names, metadata["kind"] = columns, "reconstructions"
        else:
            values = sae.transform(X)
            names, metadata["kind"] = sae.get_feature_names_out(), "latents"
        _write(args.output, ids, np.asarray(values), names, metadata, console)
        return EXIT_OK

    edits = {"value": args.value, "delta": args.delta, "scale": args.scale}
    given = {name: v for name, v in edits.items() if v is not None}
    if len(given) != 1:
        raise UsageError("sae steer needs exactly one of --value, --delta or --scale.")
    steered = sae.steer(X, args.latent, **given)
    metadata.update(kind="embeddings", steered_latents=args.latent, **given)
    _write(args.output, ids, np.asarray(steered), columns, metadata, console)
    return EXIT_OK


def _cmd_report(args, console):
    """Static HTML report of an autoencoder's latents or of concept weights."""
    import pandas as pd

    from ._files import reading
    from ._tables import read_table
    from .persistence import load_model
    from .report import write_report
    from .sae import TopKSparseAutoencoder

    if args.model is None and args.vocabulary is None:
        raise UsageError(
            "report needs --model (a TopK sparse autoencoder from 'sae fit') or "
            "--vocabulary (to report concept weights), or both."
        )
    if args.attributes and args.labels is None:
        raise UsageError("--attributes names columns of --labels: give --labels.")
    ids, X, _, _ = read_table(args.embeddings)
    files = dict(audio_files(args.audio, args.recursive, console))
    missing = [file_id for file_id in ids if file_id not in files]
    if missing:
        raise ValueError(
            f"{len(missing)} of {len(ids)} ids of {args.embeddings} match no audio "
            f"file in {', '.join(args.audio)} (first: {missing[:3]}); give the "
            "folders or files that were embedded, as they were given to embed."
        )
    labels = metadata = None
    if args.labels is not None:
        with reading("labels file", args.labels) as path:
            table = pd.read_csv(path, dtype={"id": str})
        if "id" not in table:
            raise ValueError(f"{args.labels} has no 'id' column to match the clips.")
        unknown = [c for c in args.attributes or [] if c not in table]
        if unknown:
            raise ValueError(f"{args.labels} has no column {unknown[0]!r}.")
        table = table.drop_duplicates("id").set_index("id")
        absent = [file_id for file_id in ids if file_id not in table.index]
        if absent:
            raise ValueError(
                f"{len(absent)} clips have no row in {args.labels} (first: "
                f"{absent[:3]})."
            )
        table = table.loc[list(ids)].reset_index(drop=True)
        labels = table[args.attributes] if args.attributes else None
        rest = table.drop(columns=args.attributes or [])
        metadata = rest if len(rest.columns) else None
    if args.model is not None:
        model = load_model(
            args.model, expected=TopKSparseAutoencoder, trust_pickle=args.trust_pickle
        )
        vocabulary = None
        if args.vocabulary is not None:
            vocabulary = _load_vocabulary(args, console)
    else:
        _, _, _, model = _decompose(args, console)
        vocabulary = None
    index = write_report(
        model,
        [str(files[file_id]) for file_id in ids],
        args.output,
        X=X,
        labels=labels,
        metadata=metadata,
        ids=list(ids),
        vocabulary=vocabulary,
        n_top_clips=args.top_clips,
        clip_seconds=args.clip_seconds,
        overwrite=args.overwrite,
        progress=console.progress,
    )
    console.info(f"Report written: open {index.resolve().as_uri()} in a browser.")
    print(index)
    return EXIT_OK


def _cmd_demo(args, console):
    from . import _demo

    output = Path(args.output)
    output.mkdir(parents=True, exist_ok=True)
    lines = []

    def say(text=""):
        lines.append(text)
        if not args.quiet:
            print(text, flush=True)

    say(f"sklearn-audioconcepts {__version__} demo; files go to {output}/")
    say()
    if not args.skip_speech:
        reason = _demo.speech_demo_unavailable()
        if reason is None:
            _demo.run_speech_demo(
                output,
                quick=args.quick,
                random_state=args.random_state,
                device=args.device,
                progress=console.progress,
                say=say,
            )
        else:
            say(f"Speech SAE demo skipped: {reason}.")
            say()

    checkpoint = args.clap_checkpoint or _demo.find_cached_clap_checkpoint()
    if checkpoint is None:
        say(_demo.CLAP_HOWTO)
        say()
    else:
        embedder = _clap_embedder(checkpoint, _clap_args(args), console)
        _demo.run_clap_demo(
            embedder,
            output,
            sections=args.sections or None,
            say=say,
            progress=console.progress,
        )

    n_samples = 300 if args.quick else args.n_samples
    _demo.run_concept_demo(n_samples, args.random_state, output=output, say=say)
    (output / "report.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    console.info(f"Report written to {output / 'report.txt'}.")
    return EXIT_OK


# -- parser --------------------------------------------------------------------


def _add_common(parser, *, device=True):
    parser.add_argument(
        "--quiet", "-q", action="store_true", help="no progress or status"
    )
    parser.add_argument(
        "--debug", action="store_true", help="show tracebacks on errors"
    )
    if device:
        parser.add_argument(
            "--device", default="auto", help="auto (CUDA when available), cpu or cuda"
        )


def _add_clap_options(parser, prefix="clap-"):
    parser.add_argument(
        f"--{prefix}audio-model",
        default="HTSAT-tiny",
        help="laion-clap audio architecture or model-config JSON (default HTSAT-tiny)",
    )
    parser.add_argument(
        f"--{prefix}text-model",
        default=None,
        help="local directory of the RoBERTa text encoder and tokenizer "
        "(default: roberta-base from the Hugging Face cache)",
    )
    parser.add_argument(
        f"--{prefix}enable-fusion",
        action="store_true",
        help="the checkpoint is a feature-fusion model",
    )


def _add_vocabulary_source(parser, required):
    parser.add_argument(
        "--vocabulary",
        required=required,
        help="a ConceptVocabulary .npz file, or 'bundled' to embed the bundled "
        "concept list with --clap-checkpoint",
    )
    parser.add_argument(
        "--clap-checkpoint", help="CLAP checkpoint whose text encoder embeds concepts"
    )
    _add_clap_options(parser)
    parser.add_argument(
        "--sections",
        nargs="+",
        metavar="SECTION",
        help="only these sections of the bundled concept list",
    )
    parser.add_argument(
        "--template", default="{}", help="prompt each concept is embedded as"
    )
    parser.add_argument(
        "--similarity-threshold",
        type=float,
        default=None,
        help="drop concepts more similar than this to an earlier one",
    )
    parser.add_argument(
        "--l1-penalty", type=float, default=0.05, help="sparsity (default 0.05)"
    )


_EPILOG = """\
exit codes: 0 success; 1 the command failed (the message says why); 2 wrong
command line; 130 interrupted. --debug shows tracebacks."""


def _build_parser():
    parser = _Parser(
        prog="sklearn-audioconcepts",
        description="Interpretable audio embeddings as scikit-learn estimators.",
        epilog=_EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    embed = commands.add_parser(
        "embed", help="audio files or folders -> embeddings file", epilog=_EPILOG
    )
    embed.add_argument("inputs", nargs="+", help="audio files and/or folders")
    embed.add_argument(
        "-o", "--output", required=True, help="embeddings file (.npz or .parquet)"
    )
    embed.add_argument(
        "--model", choices=_EMBEDDERS, default="clap", help="embedder (default clap)"
    )
    embed.add_argument(
        "--checkpoint",
        help="CLAP checkpoint file or published name (default 630k-audioset-best); "
        "TitaNet: a .nemo file or a NeMo model name (default titanet_large)",
    )
    _add_clap_options(embed, prefix="")
    embed.add_argument("--batch-size", type=int, default=16)
    embed.add_argument(
        "--no-recursive",
        dest="recursive",
        action="store_false",
        help="do not look into sub-folders",
    )
    embed.add_argument(
        "--cache", help="embedding cache folder: finished files are not recomputed"
    )
    embed.add_argument(
        "--on-error",
        choices=("raise", "skip"),
        default="raise",
        help="a file that cannot be read or embedded: stop (raise, the default) "
        "or leave it out and list it in OUTPUT.failed.csv (skip)",
    )
    _add_common(embed)

    vocabulary = commands.add_parser(
        "vocabulary",
        help="concept names -> ConceptVocabulary file (CLAP text embeddings)",
        epilog=_EPILOG,
    )
    vocabulary.add_argument("-o", "--output", required=True, help="vocabulary .npz")
    vocabulary.add_argument("--clap-checkpoint", help="CLAP checkpoint file or name")
    _add_clap_options(vocabulary)
    vocabulary.add_argument(
        "--texts", help="text file, one concept per line (default: the bundled list)"
    )
    vocabulary.add_argument(
        "--sections",
        nargs="+",
        metavar="SECTION",
        help="only these sections of the bundled list",
    )
    vocabulary.add_argument("--template", default="{}")
    vocabulary.add_argument("--similarity-threshold", type=float, default=None)
    _add_common(vocabulary)

    decompose = commands.add_parser(
        "decompose", help="embeddings -> concept weights file", epilog=_EPILOG
    )
    decompose.add_argument("embeddings", help="embeddings file (.npz or .parquet)")
    decompose.add_argument("-o", "--output", required=True, help="weights file")
    _add_vocabulary_source(decompose, required=True)
    _add_common(decompose)

    explain = commands.add_parser(
        "explain",
        help="top concepts per file as a table",
        description="Top concepts of each file: from a concept weights file, or "
        "from an embeddings file decomposed over --vocabulary.",
        epilog=_EPILOG,
    )
    explain.add_argument("input", help="concept weights file, or embeddings file")
    explain.add_argument("--top-k", type=int, default=5)
    explain.add_argument("-o", "--output", help="write a .csv or .tsv table")
    explain.add_argument(
        "--format",
        choices=("pretty", "csv", "tsv"),
        default="pretty",
        help="stdout format when no --output",
    )
    _add_vocabulary_source(explain, required=False)
    _add_common(explain)

    sae = commands.add_parser(
        "sae", help="TopK sparse autoencoder: fit, transform, steer", epilog=_EPILOG
    )
    sae_commands = sae.add_subparsers(
        dest="sae_command", required=True, metavar="ACTION"
    )
    trust_pickle = (
        "also load a joblib/pickle --model file. Unpickling runs any code the file "
        "holds, so use it only for files you made or trust; .skops files need no flag"
    )
    fit = sae_commands.add_parser("fit", help="train on an embeddings file")
    fit.add_argument("embeddings")
    fit.add_argument(
        "-o",
        "--output",
        required=True,
        help="model file: NAME.skops (skops; loads without running code), or "
        "NAME.joblib (a pickle, which transform/steer load only with --trust-pickle)",
    )
    fit.add_argument("--n-latents", type=int, default=None)
    fit.add_argument("--expansion-factor", type=float, default=8)
    fit.add_argument("--k", type=int, default=32)
    fit.add_argument("--aux-k", type=int, default=256)
    fit.add_argument("--lr", type=float, default=1e-3)
    fit.add_argument("--batch-size", type=int, default=256)
    fit.add_argument("--max-epochs", type=int, default=100)
    fit.add_argument("--normalize", default="scale")
    fit.add_argument("--random-state", type=int, default=0)
    _add_common(fit)
    transform = sae_commands.add_parser(
        "transform", help="latents (or reconstructions)"
    )
    transform.add_argument("embeddings")
    transform.add_argument("--model", required=True, help="model file from sae fit")
    transform.add_argument("--trust-pickle", action="store_true", help=trust_pickle)
    transform.add_argument("-o", "--output", required=True)
    transform.add_argument(
        "--reconstruct", action="store_true", help="write reconstructions, not latents"
    )
    _add_common(transform, device=False)
    steer = sae_commands.add_parser("steer", help="edit latents, write embeddings")
    steer.add_argument("embeddings")
    steer.add_argument("--model", required=True, help="model file from sae fit")
    steer.add_argument("--trust-pickle", action="store_true", help=trust_pickle)
    steer.add_argument("-o", "--output", required=True)
    steer.add_argument("--latent", type=int, nargs="+", required=True)
    steer.add_argument("--value", type=float)
    steer.add_argument("--delta", type=float)
    steer.add_argument("--scale", type=float)
    _add_common(steer, device=False)

    demo = commands.add_parser(
        "demo",
        help="both papers' pipelines end to end, offline: report and figures",
        epilog=_EPILOG,
    )
    demo.add_argument(
        "--output", default="demo-output", help="folder for report and figures"
    )
    demo.add_argument(
        "--quick", action="store_true", help="small corpus (seconds; for tests)"
    )
    demo.add_argument(
        "--clap-checkpoint",
        help="LAION-CLAP checkpoint file, or a published name to download",
    )
    _add_clap_options(demo)
    demo.add_argument(
        "--sections",
        nargs="+",
        metavar="SECTION",
        help="only these sections of the bundled concepts (CLAP part)",
    )
    demo.add_argument(
        "--skip-speech", action="store_true", help="skip the speech SAE part"
    )
    demo.add_argument(
        "--n-samples",
        type=int,
        default=1000,
        help="training clips of the sound-scenes concept demo",
    )
    demo.add_argument("--random-state", type=int, default=0)
    _add_common(demo)

    report = commands.add_parser(
        "report",
        help="static HTML report to listen to latents or concepts",
        description="A folder of pages that open from file:// with no server: "
        "every latent (--model) or concept (--vocabulary without --model), "
        "sortable, each with its top clips to listen to, activation histogram "
        "and attribute AUCs; a page per clip.",
        epilog=_EPILOG,
    )
    report.add_argument("embeddings", help="embeddings file (.npz or .parquet)")
    report.add_argument(
        "--audio",
        nargs="+",
        required=True,
        help="the audio files or folders that were embedded (ids must match)",
    )
    report.add_argument("-o", "--output", required=True, help="report folder")
    report.add_argument("--model", help="TopK sparse autoencoder from 'sae fit'")
    report.add_argument("--trust-pickle", action="store_true", help=trust_pickle)
    report.add_argument(
        "--labels",
        help="CSV with an 'id' column; its other columns are shown per clip",
    )
    report.add_argument(
        "--attributes",
        nargs="+",
        metavar="COLUMN",
        help="columns of --labels to score each unit against (AUC)",
    )
    report.add_argument("--top-clips", type=int, default=8, help="clips per unit")
    report.add_argument(
        "--clip-seconds", type=float, default=4.0, help="length of audio excerpts"
    )
    report.add_argument(
        "--overwrite", action="store_true", help="replace a report in --output"
    )
    report.add_argument(
        "--no-recursive",
        dest="recursive",
        action="store_false",
        help="do not look into sub-folders of --audio",
    )
    _add_vocabulary_source(report, required=False)
    _add_common(report)
    return parser


_COMMANDS = {
    "embed": _cmd_embed,
    "vocabulary": _cmd_vocabulary,
    "decompose": _cmd_decompose,
    "explain": _cmd_explain,
    "sae": _cmd_sae,
    "demo": _cmd_demo,
    "report": _cmd_report,
}


def _check_outputs(args):
    """Every command's output path, checked before any work."""
    # numpy: imported under the Ctrl-C handler, like everything but argparse
    from ._tables import TABLE_SUFFIXES
    from .persistence import PICKLE_SUFFIXES, SUFFIX

    if args.command in ("demo", "report"):  # their output is a folder
        check_output_folder(args.output)
        return
    if args.command == "sae":
        model_suffixes = (SUFFIX, *PICKLE_SUFFIXES)
        suffixes = model_suffixes if args.sae_command == "fit" else TABLE_SUFFIXES
    else:
        suffixes = {
            "embed": TABLE_SUFFIXES,
            "vocabulary": VOCABULARY_SUFFIXES,
            "decompose": TABLE_SUFFIXES,
            "explain": EXPLAIN_SUFFIXES,
        }[args.command]
    if args.output is not None:
        check_output_path(args.output, suffixes)
    if getattr(args, "cache", None) is not None:  # embed --cache writes there too
        check_output_folder(args.cache, option="--cache")


def _check_args(args):
    if getattr(args, "vocabulary", None) == "bundled" and args.clap_checkpoint is None:
        raise UsageError(
            "--vocabulary bundled embeds the bundled concept list with a CLAP text "
            "encoder: give --clap-checkpoint (the checkpoint that embedded the audio)."
        )


def _limit_torch_threads():
    # The SAE and LSTM kernels are small; torch's default thread pool only
    # contends with itself on a laptop. Respect an explicit user choice.
    if "OMP_NUM_THREADS" not in os.environ:
        try:
            import torch

            torch.set_num_threads(min(torch.get_num_threads(), 4))
        except ImportError:  # pragma: no cover - torch is a dependency
            pass


def main(argv=None):
    """Run the command line; returns the exit code (see the module docstring)."""
    debug = "--debug" in (sys.argv[1:] if argv is None else argv)
    try:
        return _main(argv)
    except KeyboardInterrupt:
        # At any moment: start-up imports, parsing, the work, an error report.
        if debug:
            import traceback

            traceback.print_exc()
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED


def _main(argv):
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    console = _Console(args.quiet)
    with library_output(args.quiet, args.debug):
        try:
            _check_args(args)
            _check_outputs(args)  # before any work: fail in well under a second
            _limit_torch_threads()
            return _COMMANDS[args.command](args, console)
        except UsageError as exc:
            if args.debug:
                raise
            parser.print_usage(sys.stderr)
            print(f"error: {exc}", file=sys.stderr)
            return EXIT_USAGE
        except Exception as exc:  # noqa: BLE001 - the CLI reports, --debug re-raises
            if args.debug:
                raise
            message = str(exc) or type(exc).__name__
            print(f"error: {message}", file=sys.stderr)
            return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
