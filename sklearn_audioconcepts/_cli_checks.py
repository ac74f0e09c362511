"""Checks of the command line's inputs and outputs, and what libraries print.

- :func:`audio_files`: the audio files named or found in folders, keeping
  entries that cannot be opened so that they are reported, not dropped;
- :func:`check_output_path`, :func:`check_output_folder`: an output that
  could not be written fails before any work;
- :class:`Parser`: an argument parser that range-checks every numeric option;
- :func:`library_output`: warnings, log records and progress bars of the
  libraries under ``--quiet``, by default and under ``--debug``.

Light on purpose (standard library only): the command line imports it at
start-up, before its Ctrl-C handler can run heavy imports.
"""

import argparse
import contextlib
import errno
import logging
import math
import os
import stat
import sys
import tempfile
import warnings
from pathlib import Path

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus")


class UsageError(Exception):
    """The command line is inconsistent (exit code 2)."""


def audio_files(inputs, recursive, console):
    """(id, path) of every audio file named, or found in the given folders.

    A folder entry is taken by its name (an audio suffix), not by whether it
    can be opened: a broken link or a link loop named ``x.wav`` is an input
    that fails and is reported (see :func:`unreadable`), never dropped in
    silence. Links to folders are followed, except one that leads back to a
    folder already being walked (a loop), which is skipped with a note.
    """
    found = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            files = sorted(_walk(path, recursive, console))
            found.extend((p.relative_to(path).as_posix(), p) for p in files)
        elif path.is_file():
            found.append((str(item), path))
        elif path.is_symlink():
            raise FileNotFoundError(f"{item}: {unreadable(path)}.")
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


def _walk(folder, recursive, console):
    """Entries with an audio suffix under ``folder``, following folder links.

    Each folder carries the (device, inode) of its ancestors, so a link back
    to one of them is a loop and is skipped; a link to a sibling folder is
    walked like a folder.
    """
    pending = [(folder, frozenset())]
    while pending:
        current, ancestors = pending.pop()
        try:
            info = current.stat()
            entries = sorted(os.scandir(current), key=lambda entry: entry.name)
        except OSError as exc:
            raise OSError(
                f"{current}: cannot list this folder ({exc.strerror})."
            ) from None
        ancestors = ancestors | {(info.st_dev, info.st_ino)}
        for entry in entries:
            path = current / entry.name
            try:
                is_dir = entry.is_dir()  # follows links; False for broken ones
            except OSError:  # a link loop, or no permission to look
                is_dir = False
            if is_dir:
                if not recursive:
                    continue
                target = path.stat()
                if (target.st_dev, target.st_ino) in ancestors:
                    console.info(
                        f"note: skipped {path}: it links back to a folder above it."
                    )
                else:
                    pending.append((path, ancestors))
            elif Path(entry.name).suffix.lower() in AUDIO_SUFFIXES:
                yield path


def unreadable(path):
    """Why ``path`` cannot be opened as an audio file, or None when it can."""
    try:
        if not stat.S_ISREG(path.stat().st_mode):
            return "not a regular file"
        with open(path, "rb"):
            pass
    except FileNotFoundError:
        if path.is_symlink():
            return f"broken symbolic link (its target {os.readlink(path)} is missing)"
        return "no such file"
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return "symbolic link loop (the link leads back to itself)"
        return f"cannot be opened ({exc.strerror or exc})"
    return None


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


# -- what libraries print ------------------------------------------------------

# Modules whose own warnings are about their internals (deprecated calls
# inside laion-clap, torch kernels), not about the user's data or options.
_LIBRARY_MODULES = (
    r"(torch|torchaudio|transformers|huggingface_hub|laion_clap|nemo|lightning"
    r"|pytorch_lightning|librosa|numba|resemblyzer|webrtcvad|pkg_resources)(\.|$)"
)


def _show_warning(message, category, filename, lineno, file=None, line=None):
    """One ``warning: ...`` line, without the file and line it was raised at."""
    print(f"warning: {message}", file=sys.stderr if file is None else file)


@contextlib.contextmanager
def library_output(quiet, debug):
    """What warnings, loggers and progress bars of libraries print.

    ``--debug``: everything, as the libraries print it. Default: a warning
    about the user's data is one ``warning:`` line; deprecations and the
    libraries' warnings about their own internals are dropped. ``--quiet``:
    no warnings, no log records below errors and no library progress bars
    (nor off a terminal, as for ours). Hugging Face and tqdm read their
    switches when first imported, which the command line does after this
    point. Everything is restored on exit.
    """
    if debug:
        yield
        return
    environment = {}
    if quiet or not sys.stderr.isatty():
        # Our own bars show on terminals only ("auto"); so do the libraries'.
        environment["HF_HUB_DISABLE_PROGRESS_BARS"] = "1"
    if quiet:
        environment.update(TRANSFORMERS_VERBOSITY="error", TQDM_DISABLE="1")
    added = [name for name in environment if name not in os.environ]
    disabled = logging.root.manager.disable
    with warnings.catch_warnings():
        if quiet:
            warnings.simplefilter("ignore")
            logging.disable(logging.WARNING)
        else:
            for category in (DeprecationWarning, PendingDeprecationWarning):
                warnings.filterwarnings("ignore", category=category)
            warnings.filterwarnings("ignore", category=FutureWarning)
            warnings.filterwarnings("ignore", module=_LIBRARY_MODULES)
            # webrtcvad (used by resemblyzer) imports the deprecated
            # pkg_resources; the warning names webrtcvad's own line.
            warnings.filterwarnings("ignore", message="pkg_resources is deprecated")
            warnings.showwarning = _show_warning
        for name in added:
            os.environ[name] = environment[name]
        try:
            yield
        finally:
            for name in added:
                os.environ.pop(name, None)
            logging.disable(disabled)


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
