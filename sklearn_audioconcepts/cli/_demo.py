"""``demo``: both papers' pipelines end to end, offline.

The pipelines themselves live in :mod:`sklearn_audioconcepts._demo`; this
module runs them from the command line.
"""

import sys
from pathlib import Path

from .. import __version__
from ._common import EXIT_OK, clap_args, clap_embedder


def run_demo(n_samples=3000, random_state=0, out=sys.stdout, output=None):
    """The sound-scenes concept demo (no model weights), printing to ``out``."""
    from .._demo import run_concept_demo

    run_concept_demo(
        n_samples,
        random_state,
        output=output,
        say=lambda text="": print(text, file=out),
    )
    return EXIT_OK


def cmd_demo(args, console):
    from .. import _demo

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
        embedder = clap_embedder(checkpoint, clap_args(args), console)
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
