"""``vocabulary``, ``decompose``, ``explain``: named concepts over CLAP embeddings.

``vocabulary`` embeds concept names with a CLAP text encoder into a
:class:`~sklearn_audioconcepts.ConceptVocabulary` file; ``decompose`` writes
the concept weights of an embeddings file; ``explain`` prints or writes the
top concepts of each file. They share the vocabulary source options
(a vocabulary file, or ``bundled`` embedded with ``--clap-checkpoint``).
"""

import sys
from pathlib import Path

from ._checks import UsageError
from ._common import EXIT_OK, clap_args, clap_embedder, user_embedder, write_output


def load_vocabulary(args, console):
    from ..vocabulary import ConceptVocabulary

    if args.vocabulary != "bundled":
        return ConceptVocabulary.load(args.vocabulary)
    return _embed_concepts(args, console)


def _embed_concepts(args, console):
    from .._files import read_text
    from ..data import load_audio_concepts
    from ..vocabulary import ConceptVocabulary

    if getattr(args, "texts", None):
        lines = read_text("concept list", args.texts).splitlines()
        names = [line.strip() for line in lines if line.strip()]
    else:
        names = load_audio_concepts(args.sections or None)
    if getattr(args, "embedder", None) is not None:
        embedder = user_embedder(args.embedder, args, console, needs="embed_text")
    else:
        embedder = clap_embedder(args.clap_checkpoint, clap_args(args), console)
    console.info(f"Embedding {len(names)} concepts with the text encoder...")
    return ConceptVocabulary.from_texts(
        names,
        embedder,
        template=args.template,
        similarity_threshold=args.similarity_threshold,
    )


def decompose(args, console):
    """Concept weights of an embeddings file: (ids, weights, names, decomposer)."""
    from .._tables import read_table
    from ..decomposition import ConceptDecomposer

    ids, X, _, _ = read_table(args.embeddings)
    vocabulary = load_vocabulary(args, console)
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


def cmd_vocabulary(args, console):
    if (args.clap_checkpoint is None) == (args.embedder is None):
        raise UsageError(
            "vocabulary needs --clap-checkpoint (the model's text encoder) or "
            "--embedder MODULE:NAME (your own), one of the two."
        )
    if args.texts and args.sections:
        raise UsageError("Give --texts or --sections, not both.")
    vocabulary = _embed_concepts(args, console)
    path = vocabulary.save(args.output)
    console.info(f"Wrote {len(vocabulary)} concepts to {path}.")
    return EXIT_OK


def cmd_decompose(args, console):
    ids, weights, names, decomposer = decompose(args, console)
    metadata = {
        "kind": "concept_weights",
        "l1_penalty": args.l1_penalty,
        "vocabulary": str(args.vocabulary),
        "embeddings": str(args.embeddings),
    }
    write_output(args.output, ids, weights, names, metadata, console)
    return EXIT_OK


def cmd_explain(args, console):
    from .._tables import read_table
    from ..decomposition import explain_weights

    if args.vocabulary is None:
        ids, weights, names, metadata = read_table(args.input)
        if metadata.get("kind") != "concept_weights":
            raise UsageError(
                f"{args.input} holds embeddings, not concept weights: give "
                "--vocabulary to decompose them, or run decompose first."
            )
    else:
        args.embeddings = args.input
        ids, weights, names, _ = decompose(args, console)
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
