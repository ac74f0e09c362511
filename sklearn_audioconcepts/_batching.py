"""The loop every embedder runs: per-input pieces under the failure log, then
batched forward passes over the pieces of many inputs.

An embedder splits each input into *pieces* (CLAP's 10 s windows, a speaker
model's segments or stacks of mel windows) in a per-input step that reads the
audio, checks it and preprocesses it; that step is everything that can fail
because of one input, and it runs under :class:`~.audio.FailureLog`, so under
``on_error="nan"`` a bad input costs its own row only. Pieces are generated
lazily (a long file is read block by block), queued, and embedded
``batch_size`` at a time; each input's embedding is the sum of its pieces'
contributions, so memory does not grow with the length of a file.
"""

import numpy as np

from ._progress import progress_bar
from .audio import AudioInputError

_END = object()


def embed_pieces(
    sources,
    *,
    pieces,
    embed,
    dim,
    batch_size,
    failures,
    max_batch_weight=np.inf,
    progress="auto",
    desc=None,
):
    """Sum of the embedded pieces of every input, with failed inputs as NaN rows.

    Parameters
    ----------
    sources : list of AudioSource
    pieces : callable
        ``pieces(source)`` yields ``(piece, weight)`` pairs: the per-input
        step; input errors it raises are recorded against that input.
    embed : callable
        ``embed(list_of_pieces)`` returns an array of shape (n_pieces, dim),
        each piece's (weighted) contribution to its input's sum. Errors it
        raises are not per-input and always propagate.
    dim : int
        Embedding width.
    batch_size : int
        Pieces per call of ``embed``.
    failures : FailureLog
    max_batch_weight : float, default=inf
        Call ``embed`` earlier once the queued pieces weigh this much (e.g.
        so many windows or samples), so that a batch of long pieces stays
        bounded in memory too.
    progress : bool or "auto", default="auto"
    desc : str or None, default=None
        Label of the progress bar over inputs.

    Returns
    -------
    sums : ndarray of float64 of shape (n_inputs, dim)
        NaN rows for the inputs that failed.
    weights : ndarray of float64 of shape (n_inputs,)
        Sum of the weights of each input's pieces.
    """
    sums = np.zeros((len(sources), dim), dtype=np.float64)
    weights = np.zeros(len(sources), dtype=np.float64)
    pending = []  # (input index, piece) not yet embedded
    pending_weight = 0.0
    failed = set()

    def flush():
        nonlocal pending_weight
        batch = [item for item in pending if item[0] not in failed]
        pending.clear()
        pending_weight = 0.0
        if batch:
            contributions = np.asarray(embed([piece for _, piece in batch]))
            np.add.at(sums, [index for index, _ in batch], contributions)

    for index, source in enumerate(
        progress_bar(sources, progress=progress, desc=desc, unit="input")
    ):
        iterator = failures.attempt(index, source, lambda s=source: iter(pieces(s)))
        while iterator is not None:
            item = failures.attempt(index, source, lambda it=iterator: next(it, _END))
            if item is None:  # the input failed part-way: drop what it queued
                failed.add(index)
                break
            if item is _END:
                break
            piece, weight = item
            pending.append((index, piece))
            pending_weight += weight
            weights[index] += weight
            if len(pending) >= batch_size or pending_weight >= max_batch_weight:
                flush()
        if iterator is None:
            failed.add(index)
    if pending:
        flush()
    sums[sorted(failed)] = np.nan
    return sums, weights


def check_rows(embeddings, sources, failures, model_name):
    """Apply ``on_error`` to each row the model made non-finite, one input at a time."""
    failed = set(failures.failed_indices)
    for index in np.flatnonzero(~np.isfinite(embeddings).all(axis=1)):
        if index in failed:
            continue
        failures.fail(
            index,
            sources[index],
            AudioInputError(
                f"{sources[index].label}: the {model_name} model returned a "
                "non-finite embedding; check that this input holds audible "
                "content of the kind the model expects (e.g. speech)."
            ),
        )
        embeddings[index] = np.nan
    return embeddings


def long_input_progress(iterable, *, total, progress, source, unit="window"):
    """Progress over the pieces of one long input (a bar of its own)."""
    name = source.label if source.path is None else source.path.name
    return progress_bar(iterable, progress=progress, total=total, desc=name, unit=unit)


def windows_of(blocks, starts, length, *, label):
    """The ``length``-sample windows at ``starts`` of a stream of blocks.

    Only the samples from the next window's start on are kept, so memory is a
    window plus a block however long the stream is.
    """
    buffer, buffer_start, next_window = np.empty(0, np.float32), 0, 0
    for block in blocks:
        buffer = np.concatenate([buffer, block])
        while (
            next_window < len(starts)
            and buffer_start + len(buffer) >= starts[next_window] + length
        ):
            offset = starts[next_window] - buffer_start
            yield buffer[offset : offset + length].copy()
            next_window += 1
        keep_from = starts[next_window] if next_window < len(starts) else None
        if keep_from is None:
            return
        drop = min(len(buffer), max(0, keep_from - buffer_start))
        buffer, buffer_start = buffer[drop:], buffer_start + drop
    if next_window < len(starts):
        raise AudioInputError(
            f"{label} ended after {buffer_start + len(buffer)} samples, before the "
            f"{starts[-1] + length} its header declares: the file is truncated. "
            "Re-export it, or cap it with max_duration."
        )
