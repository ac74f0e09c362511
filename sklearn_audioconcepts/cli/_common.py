"""What the commands share: exit codes, the console, audio files, output tables.

- :class:`Console`: status messages on stderr unless ``--quiet``;
- :func:`library_output`: warnings, log records and progress bars of the
  libraries under ``--quiet``, by default and under ``--debug``;
- :func:`audio_files`: the audio files named or found in folders, keeping
  entries that cannot be opened (:func:`unreadable`) so that they are
  reported, not dropped;
- :func:`write_output`: an output table, written whole or not at all;
- :func:`clap_embedder`: a CLAP embedder from the command's CLAP options.

Light on purpose (standard library only): the command line imports it at
start-up, before its Ctrl-C handler can run heavy imports.
"""

import argparse
import contextlib
import errno
import logging
import os
import stat
import sys
import warnings
from pathlib import Path

from ._checks import UsageError

EXIT_OK = 0
EXIT_FAILURE = 1
EXIT_USAGE = 2
EXIT_INTERRUPTED = 130

AUDIO_SUFFIXES = (".wav", ".flac", ".ogg", ".mp3", ".aif", ".aiff", ".opus")


class Console:
    """Status messages on stderr unless ``--quiet``; results go to stdout."""

    def __init__(self, quiet):
        self.quiet = quiet
        self.progress = False if quiet else "auto"

    def info(self, text=""):
        if not self.quiet:
            print(text, file=sys.stderr)


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


# -- audio files ---------------------------------------------------------------


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


# -- output tables -------------------------------------------------------------


def write_output(path, ids, values, columns, metadata, console):
    """Write an output table (renamed into place: never a partial file)."""
    from .. import _tables

    _tables.write_table(path, ids, values, columns, metadata)
    console.info(f"Wrote {values.shape[0]} x {values.shape[1]} to {path}.")
    return path


# -- CLAP ----------------------------------------------------------------------


def offline_if_unreachable(console):
    """Offline, make the Hugging Face hub fail fast instead of retrying for minutes.

    laion-clap reaches for the hub when imported (tokenizers) and when
    loading its text encoder; with no network each request retries for
    about a minute. Only set when the user has not chosen.
    """
    from .._demo import hub_reachable

    if "HF_HUB_OFFLINE" not in os.environ and not hub_reachable():
        os.environ["HF_HUB_OFFLINE"] = "1"
        console.info("huggingface.co is unreachable: using local files only.")


def clap_embedder(checkpoint, args, console):
    """The CLAP embedder of ``checkpoint`` with the options in ``args``."""
    from ..clap import CLAPEmbedder

    offline_if_unreachable(console)

    return CLAPEmbedder(
        checkpoint=checkpoint,
        family=args.family,
        audio_model=args.audio_model,
        text_model=args.text_model,
        enable_fusion=args.enable_fusion,
        device=args.device,
        batch_size=args.batch_size,
        progress=console.progress,
    )


def user_embedder(target, args, console, *, needs):
    """The embedder named by ``--embedder MODULE:NAME`` (the embedder protocol).

    ``NAME`` is a class, built with no arguments, or an object. Modules are
    looked up in the current folder first, as ``python -m`` does. Options the
    embedder takes (``device``, ``batch_size``, ``progress``) are passed on.
    """
    import importlib
    import os

    module_name, _, name = target.partition(":")
    if not module_name or not name:
        raise UsageError(
            f"--embedder takes MODULE:NAME (e.g. my_models:MyEmbedder), got {target!r}."
        )
    sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(module_name)
    except ImportError as exc:
        raise UsageError(f"--embedder: cannot import {module_name!r}: {exc}") from None
    finally:
        sys.path.remove(os.getcwd())
    if not hasattr(module, name):
        raise UsageError(f"--embedder: module {module_name!r} has no {name!r}.")
    embedder = getattr(module, name)
    if isinstance(embedder, type):
        embedder = embedder()
    if not callable(getattr(embedder, needs, None)):
        raise UsageError(
            f"--embedder {target}: {type(embedder).__name__} has no {needs}() "
            "method; see 'The embedder protocol' in the user guide."
        )
    options = {
        "device": getattr(args, "device", None),
        "batch_size": getattr(args, "batch_size", None),
        "progress": console.progress,
    }
    if hasattr(embedder, "get_params") and hasattr(embedder, "set_params"):
        params = embedder.get_params(deep=False)
        embedder.set_params(
            **{
                key: value
                for key, value in options.items()
                if key in params and value is not None
            }
        )
    return embedder


def clap_args(args):
    """The CLAP options of a vocabulary-building command, named as for embed."""
    return argparse.Namespace(
        family=args.clap_family,
        audio_model=args.clap_audio_model,
        text_model=args.clap_text_model,
        enable_fusion=args.clap_enable_fusion,
        device=args.device,
        batch_size=16,
    )
