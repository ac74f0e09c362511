"""``report``: a static HTML report to listen to latents or concepts."""

from ._checks import UsageError
from ._common import EXIT_OK, audio_files
from ._concepts import decompose, load_vocabulary


def cmd_report(args, console):
    """Static HTML report of an autoencoder's latents or of concept weights."""
    import pandas as pd

    from .._files import reading
    from .._tables import read_table
    from ..persistence import load_model
    from ..report import write_report
    from ..sae import TopKSparseAutoencoder

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
            vocabulary = load_vocabulary(args, console)
    else:
        _, _, _, model = decompose(args, console)
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
