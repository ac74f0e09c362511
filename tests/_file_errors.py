"""One check for every reader of user files: FileReadError naming the file."""

import gc
import warnings

import pytest

from sklearn_audioconcepts import FileReadError


def assert_read_error(read, kind, path, reason):
    """``read()`` raises FileReadError for ``kind`` and ``path`` giving ``reason``,
    and leaves no file open (an unclosed one warns ResourceWarning at collection).

    Returns the error, for further checks.
    """
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        with pytest.raises(FileReadError) as error:
            read()
        gc.collect()  # an unclosed file would warn now
    message = str(error.value)
    assert message.startswith(f"could not read {kind} '{path}': "), message
    assert reason in message, message
    assert not [w for w in caught if issubclass(w.category, ResourceWarning)]
    return error.value
