"""The argument parser: every command, its options and their help.

Numeric options are range-checked while parsing (:class:`._checks.Parser`).
"""

import argparse

from .. import __version__
from .._clap_models import FAMILIES
from ._checks import Parser

_EMBEDDERS = ("clap", "resemblyzer", "titanet")


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
        f"--{prefix}family",
        choices=("auto", *FAMILIES),
        default="auto",
        help="CLAP family: laion (laion-clap .pt), hf (transformers ClapModel), "
        "msclap (Microsoft CLAP); default: told from the name or files",
    )
    parser.add_argument(
        f"--{prefix}audio-model",
        default=None,
        help="laion-clap audio architecture or model-config JSON (default: read "
        "from the published name or the checkpoint)",
    )
    parser.add_argument(
        f"--{prefix}text-model",
        default=None,
        help="local directory of the text encoder and tokenizer (RoBERTa for "
        "laion, GPT-2 for msclap-2023; default: the Hugging Face cache)",
    )
    parser.add_argument(
        f"--{prefix}enable-fusion",
        action="store_true",
        default=None,
        help="the checkpoint is a feature-fusion model (default: read from it)",
    )


def _add_user_embedder(parser):
    parser.add_argument(
        "--embedder",
        metavar="MODULE:NAME",
        help="your own embedder instead of --model/--clap-checkpoint: a class "
        "(built with no arguments) or object following the embedder protocol, "
        "importable from the current folder or the environment",
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


EPILOG = """\
exit codes: 0 success; 1 the command failed (the message says why); 2 wrong
command line; 130 interrupted. --debug shows tracebacks."""


def build_parser():
    """The argument parser of every command."""
    parser = Parser(
        prog="sklearn-audioconcepts",
        description="Interpretable audio embeddings as scikit-learn estimators.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=__version__)
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    embed = commands.add_parser(
        "embed", help="audio files or folders -> embeddings file", epilog=EPILOG
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
        help="CLAP published name, hub id, checkpoint file or ClapModel folder "
        "(default 630k-audioset-best; see `sklearn-audioconcepts models`); "
        "TitaNet: a .nemo file or a NeMo model name (default titanet_large)",
    )
    _add_clap_options(embed, prefix="")
    _add_user_embedder(embed)
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
        epilog=EPILOG,
    )
    vocabulary.add_argument("-o", "--output", required=True, help="vocabulary .npz")
    vocabulary.add_argument(
        "--clap-checkpoint", help="CLAP published name, hub id, file or folder"
    )
    _add_clap_options(vocabulary)
    _add_user_embedder(vocabulary)
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
        "decompose", help="embeddings -> concept weights file", epilog=EPILOG
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
        epilog=EPILOG,
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
        "sae", help="TopK sparse autoencoder: fit, transform, steer", epilog=EPILOG
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
    fit.add_argument(
        "--sparsity",
        choices=["topk", "batch_topk"],
        default="topk",
        help="TopK per sample, or BatchTopK (k per sample on average, a learned "
        "threshold at transform) [topk]",
    )
    fit.add_argument(
        "--matryoshka-sizes",
        type=int,
        nargs="+",
        metavar="M",
        help="Matryoshka prefix sizes (increasing): each prefix of the latents is "
        "trained to reconstruct alone",
    )
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
        epilog=EPILOG,
    )
    demo.add_argument(
        "--output", default="demo-output", help="folder for report and figures"
    )
    demo.add_argument(
        "--quick", action="store_true", help="small corpus (seconds; for tests)"
    )
    demo.add_argument(
        "--clap-checkpoint",
        help="a CLAP model (published name, hub id, file or folder) for the "
        "concept section, besides the MiniCLAP trained on the spot",
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
        default=3000,
        help="training clips of the sound-scenes concept demo (a third as many "
        "are held out)",
    )
    demo.add_argument("--random-state", type=int, default=0)
    _add_common(demo)

    models = commands.add_parser(
        "models",
        help="the published CLAP models --checkpoint accepts by name",
        epilog=EPILOG,
    )
    models.add_argument(
        "--family", choices=FAMILIES, help="only the models of this family"
    )
    _add_common(models, device=False)

    report = commands.add_parser(
        "report",
        help="static HTML report to listen to latents or concepts",
        description="A folder of pages that open from file:// with no server: "
        "every latent (--model) or concept (--vocabulary without --model), "
        "sortable, each with its top clips to listen to, activation histogram "
        "and attribute AUCs; a page per clip.",
        epilog=EPILOG,
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
