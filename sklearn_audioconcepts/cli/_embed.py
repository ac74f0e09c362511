"""``embed``: audio files or folders -> an embeddings file.

One row per file id, with CLAP, Resemblyzer or TitaNet. Files that cannot be
opened are known before any model loads; under ``--on-error skip`` they and
the files the embedder fails on are listed in ``OUTPUT.failed.csv``.
"""

import sys
import warnings
from pathlib import Path

from .. import __version__
from ._checks import UsageError
from ._common import (
    EXIT_OK,
    audio_files,
    clap_embedder,
    unreadable,
    user_embedder,
    write_output,
)


def cmd_embed(args, console):
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
    clap_only = (args.audio_model, args.text_model, args.enable_fusion)
    clap_options = any(value is not None for value in clap_only)
    clap_options = clap_options or args.family != "auto"
    if args.embedder is not None:
        if clap_options or args.checkpoint is not None or args.model != "clap":
            raise UsageError(
                "--embedder replaces --model, --checkpoint and the CLAP options; "
                "give one or the other."
            )
        embedder = user_embedder(args.embedder, args, console, needs="transform")
    elif args.model == "clap":
        embedder = clap_embedder(args.checkpoint or "630k-audioset-best", args, console)
    else:
        if clap_options:
            raise UsageError(
                "--family, --audio-model, --text-model and --enable-fusion apply "
                "to --model clap only."
            )
        embedder = _speaker_embedder(args, console)
    if args.on_error == "skip":
        if "on_error" not in getattr(embedder, "get_params", dict)():
            raise UsageError(
                "--on-error skip needs an embedder with an on_error parameter "
                "('nan' rows for the clips it cannot embed)."
            )
        embedder.set_params(on_error="nan")
    readable = [i for i in range(len(paths)) if i not in unopenable]
    model_name = args.embedder or args.model
    console.info(f"Embedding {len(readable)} files with {model_name}...")
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
        "model": model_name,
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
    written = write_output(
        args.output,
        [ids[i] for i in kept],
        X[kept],
        _column_names(embedder, X.shape[1]),
        metadata,
        console,
    )
    console.info(
        f"{len(ids)} audio files found, {len(kept)} rows written to {written}."
    )
    return EXIT_OK


def _speaker_embedder(args, console):
    from ..speaker import ResemblyzerEmbedder, TitaNetEmbedder

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


def _embed_paths(embedder, paths, args, console):
    import numpy as np

    if args.cache is not None:
        from ..cache import cached_transform

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


def _column_names(embedder, width):
    """The embedder's feature names, or ``dim0``... for one that has none."""
    names = getattr(embedder, "get_feature_names_out", None)
    if callable(names):
        return names()
    return [f"dim{i}" for i in range(width)]
