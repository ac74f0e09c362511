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
  embeddings, saved with joblib;
- ``demo``: both papers' pipelines end to end, offline.

Exit codes: 0 success; 1 the command failed (bad data, missing file or
model, missing optional dependency: the message says which); 2 the command
line itself is wrong (unknown option, missing argument, conflicting
options); 130 interrupted. Errors print one ``error: ...`` line on stderr;
``--debug`` shows the traceback instead.
"""

import argparse
import os
import sys
import warnings
from pathlib import Path

from . import __version__
from ._demo import run_concept_demo

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus")
_EMBEDDERS = ("clap", "resemblyzer", "titanet")


class UsageError(Exception):
    """The command line is inconsistent (exit code 2)."""


def run_demo(n_samples=1000, random_state=0, out=sys.stdout, output=None):
    """The sound-scenes concept demo (no model weights), printing to ``out``."""
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


def _audio_files(inputs, recursive):
    """(id, path) of every audio file named or found in the given folders."""
    found = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            pattern = "**/*" if recursive else "*"
            files = sorted(
                p
                for p in path.glob(pattern)
                if p.is_file() and p.suffix.lower() in AUDIO_SUFFIXES
            )
            found.extend((p.relative_to(path).as_posix(), p) for p in files)
        elif path.is_file():
            found.append((str(item), path))
        else:
            raise FileNotFoundError(f"{item}: no such file or folder.")
    if not found:
        raise ValueError(
            f"No audio files ({', '.join(AUDIO_SUFFIXES)}) found in "
            f"{', '.join(map(str, inputs))}."
        )
    ids = [file_id for file_id, _ in found]
    duplicates = sorted({i for i in ids if ids.count(i) > 1})
    if duplicates:
        raise UsageError(
            f"Several inputs give the same file id {duplicates[:3]}; embed the "
            "folders separately or pass the files one by one."
        )
    return found


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
    from ._tables import write_table

    written = write_table(path, ids, values, columns, metadata)
    console.info(f"Wrote {values.shape[0]} x {values.shape[1]} to {written}.")


# -- commands ------------------------------------------------------------------


def _cmd_embed(args, console):
    import numpy as np

    files = _audio_files(args.inputs, args.recursive)
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
    paths = [str(path) for _, path in files]
    console.info(f"Embedding {len(paths)} files with {args.model}...")
    if args.cache is not None:
        from .cache import cached_transform

        X = cached_transform(embedder, paths, args.cache, progress=console.progress)
    else:
        X = embedder.transform(paths)
    X = np.asarray(X, dtype=np.float32)
    metadata = {
        "kind": "embeddings",
        "model": args.model,
        "checkpoint": None if args.checkpoint is None else str(args.checkpoint),
        "version": __version__,
    }
    ids = [file_id for file_id, _ in files]
    failed = ~np.isfinite(X).all(axis=1)
    if failed.any():
        # on_error="skip": the embedder gave these files NaN rows; keep the
        # others (their ids still name them) and list the failures beside.
        import pandas as pd

        reasons = getattr(embedder, "failed_", None)
        table = pd.DataFrame(
            {"id": [ids[i] for i in np.flatnonzero(failed)],
             "path": [paths[i] for i in np.flatnonzero(failed)]}
        )  # fmt: skip
        if reasons is not None and len(reasons) == failed.sum():
            table["error"] = reasons["error"].to_numpy()
            table["message"] = reasons["message"].to_numpy()
        failures_path = Path(args.output).with_suffix(".failed.csv")
        table.to_csv(failures_path, index=False)
        print(
            f"warning: {failed.sum()} of {len(ids)} files could not be embedded and "
            f"were skipped; they are listed in {failures_path}.",
            file=sys.stderr,
        )
        ids = [file_id for file_id, bad in zip(ids, failed) if not bad]
        X = X[~failed]
        if not ids:
            raise ValueError("No file could be embedded; see " + str(failures_path))
    _write(args.output, ids, X, embedder.get_feature_names_out(), metadata, console)
    return EXIT_OK


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
    import joblib
    import numpy as np

    from ._tables import read_table

    ids, X, columns, _ = read_table(args.embeddings)
    if args.sae_command == "fit":
        from .sae import TopKSparseAutoencoder

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
        sae.fit(X)
        joblib.dump(sae, args.output)
        console.info(
            f"Trained on {len(X)} embeddings: {sae.n_latents_} latents, k={sae.k}, "
            f"variance explained {sae.score(X):.3f}, {len(sae.dead_latents_)} dead "
            f"latents. Saved to {args.output}."
        )
        return EXIT_OK

    sae = joblib.load(args.model)
    if not hasattr(sae, "steer"):
        raise ValueError(f"{args.model} does not hold a TopKSparseAutoencoder.")
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
    run_concept_demo(n_samples, args.random_state, output=output, say=say)
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
    parser = argparse.ArgumentParser(
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
    fit = sae_commands.add_parser("fit", help="train on an embeddings file")
    fit.add_argument("embeddings")
    fit.add_argument("-o", "--output", required=True, help="model file (.joblib)")
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
    transform.add_argument("-o", "--output", required=True)
    transform.add_argument(
        "--reconstruct", action="store_true", help="write reconstructions, not latents"
    )
    _add_common(transform, device=False)
    steer = sae_commands.add_parser("steer", help="edit latents, write embeddings")
    steer.add_argument("embeddings")
    steer.add_argument("--model", required=True, help="model file from sae fit")
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
    return parser


_COMMANDS = {
    "embed": _cmd_embed,
    "vocabulary": _cmd_vocabulary,
    "decompose": _cmd_decompose,
    "explain": _cmd_explain,
    "sae": _cmd_sae,
    "demo": _cmd_demo,
}


def _check_args(args):
    for name in ("batch_size", "top_k", "n_latents", "k", "max_epochs"):
        value = getattr(args, name, None)
        if value is not None and value < 1:
            raise UsageError(f"--{name.replace('_', '-')} must be at least 1.")
    if getattr(args, "vocabulary", None) == "bundled" and args.clap_checkpoint is None:
        raise UsageError(
            "--vocabulary bundled embeds the bundled concept list with a CLAP text "
            "encoder: give --clap-checkpoint (the checkpoint that embedded the audio)."
        )
    if args.command == "demo" and args.n_samples < 20:
        raise UsageError("--n-samples must be at least 20.")


def main(argv=None):
    """Run the command line; returns the exit code (see the module docstring)."""
    parser = _build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    # The SAE and LSTM kernels are small; torch's default thread pool only
    # contends with itself on a laptop. Respect an explicit user choice.
    if "OMP_NUM_THREADS" not in os.environ:
        try:
            import torch

            torch.set_num_threads(min(torch.get_num_threads(), 4))
        except ImportError:  # pragma: no cover - torch is a dependency
            pass
    if not args.debug:
        # webrtcvad (used by resemblyzer) imports the deprecated pkg_resources:
        # noise to a command-line user, not their concern.
        warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
    console = _Console(args.quiet)
    try:
        _check_args(args)
        return _COMMANDS[args.command](args, console)
    except UsageError as exc:
        if args.debug:
            raise
        parser.print_usage(sys.stderr)
        print(f"error: {exc}", file=sys.stderr)
        return EXIT_USAGE
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return EXIT_INTERRUPTED
    except Exception as exc:  # noqa: BLE001 - the CLI reports, --debug re-raises
        if args.debug:
            raise
        message = str(exc) or type(exc).__name__
        print(f"error: {message}", file=sys.stderr)
        return EXIT_FAILURE


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
