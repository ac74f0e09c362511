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
- ``demo``: both papers' pipelines end to end, offline;
- ``report``: embeddings + the audio files they came from -> a static HTML
  report (a folder of pages that open from ``file://``) to listen to the top
  clips of each latent of an autoencoder (``--model``) or of each concept
  (``--vocabulary``).

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

The package: ``_parser`` (the argument parser), one module per command or
group of commands (``_embed``; ``_concepts``: vocabulary, decompose and
explain; ``_sae``; ``_report``; ``_demo``), ``_checks`` (checks of arguments
and output paths) and ``_common`` (exit codes, console, audio files, output
tables, CLAP embedders).
"""

import os
import sys

from ._checks import UsageError, check_args, check_outputs
from ._common import (
    AUDIO_SUFFIXES,
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    EXIT_OK,
    EXIT_USAGE,
    Console,
    library_output,
)
from ._concepts import cmd_decompose, cmd_explain, cmd_vocabulary
from ._demo import cmd_demo, run_demo
from ._embed import cmd_embed
from ._models import cmd_models
from ._parser import build_parser
from ._report import cmd_report
from ._sae import cmd_sae

__all__ = [
    "AUDIO_SUFFIXES",
    "EXIT_FAILURE",
    "EXIT_INTERRUPTED",
    "EXIT_OK",
    "EXIT_USAGE",
    "UsageError",
    "main",
    "run_demo",
]

_COMMANDS = {
    "embed": cmd_embed,
    "vocabulary": cmd_vocabulary,
    "decompose": cmd_decompose,
    "explain": cmd_explain,
    "sae": cmd_sae,
    "demo": cmd_demo,
    "report": cmd_report,
    "models": cmd_models,
}


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
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or usage error (2)
        return exc.code if isinstance(exc.code, int) else EXIT_USAGE
    console = Console(args.quiet)
    with library_output(args.quiet, args.debug):
        try:
            check_args(args)
            check_outputs(args)  # before any work: fail in well under a second
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
