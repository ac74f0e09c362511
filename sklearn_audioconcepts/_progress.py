"""Progress bars that can be turned off, in one place."""

import sys

from tqdm.auto import tqdm


def progress_bar(iterable=None, *, progress="auto", total=None, desc=None, unit="it"):
    """Wrap ``iterable`` in a tqdm bar according to a ``progress`` parameter.

    ``progress`` is True (always show), False (never) or ``"auto"`` (show when
    stderr is a terminal, so logs and CI stay clean).
    """
    if progress == "auto":
        disable = not (hasattr(sys.stderr, "isatty") and sys.stderr.isatty())
    else:
        disable = not progress
    return tqdm(
        iterable, total=total, desc=desc, unit=unit, disable=disable, leave=False
    )
