"""Checks of the command line's arguments and outputs, before any work.

- :func:`check_output_path`, :func:`check_output_folder`: an output that
  could not be written fails before any work; :func:`check_outputs` applies
  them to every command's outputs;
- :class:`Parser`: an argument parser that range-checks every numeric option;
- :class:`UsageError`: the command line is inconsistent (exit code 2).

Light on purpose (standard library only): the command line imports it at
start-up, before its Ctrl-C handler can run heavy imports.
"""

import argparse
import math
import os
import tempfile
from pathlib import Path


class UsageError(Exception):
    """The command line is inconsistent (exit code 2)."""


# -- output paths --------------------------------------------------------------

# Output file suffixes per command (model files: persistence's).
VOCABULARY_SUFFIXES = (".npz",)
EXPLAIN_SUFFIXES = (".csv", ".tsv", ".tab")


def check_output_path(path, suffixes, *, option="--output"):
    """Fail at once, before any work, when ``path`` could not be written.

    Checks the suffix (``suffixes``: the allowed ones, lower case), that the
    path is not a folder, that its folder exists or can be created (the
    nearest existing ancestor is a folder) and takes a new file (a temporary
    file is created and removed there: permission bits alone say nothing for
    root, ACLs or read-only mounts), and that an existing file can be
    overwritten. Raises :class:`UsageError` for a wrong suffix (exit 2) and
    :class:`OSError` with a message naming the path otherwise (exit 1).
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in suffixes:
        raise UsageError(
            f"{option} {path}: unsupported file type {suffix or '(no suffix)'!r}; "
            f"name the file with {_one_of(suffixes)}."
        )
    if suffix == ".parquet" and not _has_module("pyarrow"):
        raise ImportError(
            f"{option} {path}: Parquet files need pyarrow: pip install pyarrow, or "
            "name the file .npz instead."
        )
    if path.is_dir():
        raise IsADirectoryError(
            f"{option} {path} is a folder; give a file name, e.g. "
            f"{path / ('output' + suffixes[0])}."
        )
    check_output_folder(path.parent, option=option, file=path)
    if path.exists():
        try:
            with open(path, "r+b"):
                pass
        except OSError as exc:
            raise PermissionError(
                f"{option} {path} exists and cannot be overwritten "
                f"({exc.strerror}); choose another file or fix its permissions."
            ) from None
    return path


def check_output_folder(folder, *, option="--output", file=None):
    """Fail at once when ``folder`` cannot be created or written in."""
    folder = Path(folder)
    target = folder if file is None else file
    existing = folder
    while not existing.exists():
        if existing.is_symlink():
            raise NotADirectoryError(
                f"{option} {target}: cannot create folder {folder}: {existing} is a "
                "broken symbolic link."
            )
        existing = existing.parent
    if not existing.is_dir():
        raise NotADirectoryError(
            f"{option} {target}: cannot create folder {folder}: {existing} is a "
            "file, not a folder."
        )
    try:
        handle, probe = tempfile.mkstemp(
            dir=existing, prefix=".sklearn-audioconcepts-write-test-"
        )
        os.close(handle)
        os.unlink(probe)
    except OSError as exc:
        raise PermissionError(
            f"{option} {target}: cannot write in {existing} ({exc.strerror}); "
            "choose another location or fix its permissions."
        ) from None
    return folder


def _one_of(names):
    return " or ".join(filter(None, [", ".join(names[:-1]), names[-1]]))


def _has_module(name):
    import importlib.util

    return importlib.util.find_spec(name) is not None


def check_outputs(args):
    """Every command's output path, checked before any work."""
    # numpy: imported under the Ctrl-C handler, like everything but argparse
    from .._tables import TABLE_SUFFIXES
    from ..persistence import PICKLE_SUFFIXES, SUFFIX

    if args.command == "models":  # writes nothing
        return
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


def check_args(args):
    """Option combinations that parsing alone cannot refuse."""
    if getattr(args, "vocabulary", None) == "bundled" and args.clap_checkpoint is None:
        raise UsageError(
            "--vocabulary bundled embeds the bundled concept list with a CLAP text "
            "encoder: give --clap-checkpoint (the checkpoint that embedded the audio)."
        )


# -- numeric options -----------------------------------------------------------


def _number(kind, low=None, high=None, *, low_open=False, text=None):
    """An argparse ``type`` that converts to ``kind`` and checks the range.

    Non-finite floats are refused too. A value out of range exits 2 with the
    subcommand's usage line, like any other command-line mistake.
    """

    def convert(value):
        number = kind(value)  # ValueError: argparse says "invalid int value"
        too_low = low is not None and (number <= low if low_open else number < low)
        too_high = high is not None and number > high
        if not math.isfinite(number) or too_low or too_high:
            raise argparse.ArgumentTypeError(f"must be {text}, got {value!r}")
        return number

    convert.__name__ = kind.__name__
    convert.kind = kind
    return convert


# The accepted values of every numeric option, by destination name (the
# estimators' own constraints, checked while parsing). Parser refuses a
# numeric option that is missing here.
_NUMERIC_OPTIONS = {
    "batch_size": _number(int, 1, text="at least 1"),
    "top_k": _number(int, 1, text="at least 1"),
    "n_latents": _number(int, 1, text="at least 1"),
    "k": _number(int, 1, text="at least 1"),
    "aux_k": _number(int, 0, text="at least 0"),
    "matryoshka_sizes": _number(int, 1, text="at least 1"),
    "max_epochs": _number(int, 1, text="at least 1"),
    "n_samples": _number(int, 20, text="at least 20"),
    "latent": _number(int, 0, text="a latent index, at least 0"),
    "random_state": _number(int, 0, 2**32 - 1, text="between 0 and 2**32 - 1"),
    "expansion_factor": _number(float, 0, low_open=True, text="a number above 0"),
    "lr": _number(float, 0, low_open=True, text="a number above 0"),
    "l1_penalty": _number(float, 0, text="a number at least 0"),
    "top_clips": _number(int, 1, text="at least 1"),
    "clip_seconds": _number(float, 0, 60, low_open=True, text="seconds in (0, 60]"),
    "similarity_threshold": _number(
        float, -1, 1, low_open=True, text="a cosine in (-1, 1]"
    ),
    "value": _number(float, text="a finite number"),
    "delta": _number(float, text="a finite number"),
    "scale": _number(float, text="a finite number"),
}


class Parser(argparse.ArgumentParser):
    """An argument parser that range-checks numeric options while parsing.

    Subcommand parsers are of the same class (``add_subparsers`` uses the
    parent's), so every option of every command goes through here.
    """

    def add_argument(self, *args, **kwargs):
        action = super().add_argument(*args, **kwargs)
        check = _NUMERIC_OPTIONS.get(action.dest)
        if check is not None:
            if action.type is not check.kind:
                raise TypeError(f"{action.dest} is declared {action.type}.")
            action.type = check
        elif action.type in (int, float):
            raise TypeError(
                f"numeric option {action.dest} has no range in _NUMERIC_OPTIONS."
            )
        return action
