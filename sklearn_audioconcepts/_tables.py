"""Embedding and weight tables on disk: ``.npz`` or Parquet, one row per file id.

The command line writes every row-per-clip result (embeddings, concept
weights, latents, steered embeddings) through :func:`write_table` and reads
it back with :func:`read_table`, so any of them can feed the next command.

- ``.npz`` (numpy, no pickle): arrays ``ids`` (N,), ``values`` (N, D),
  ``columns`` (D,) and ``metadata`` (a JSON string: what produced the table).
- ``.parquet``: an ``id`` column then one float column per feature; the
  metadata goes into the file's key-value metadata. Needs ``pyarrow``.

Tables are written under a temporary name and renamed into place, so an
interrupted write never leaves a partial file under the real name.
"""

import json
from pathlib import Path

import numpy as np

from ._files import FileReadError, load_npz, parse_json, reading, replacing

__all__ = ["read_table", "write_table", "TABLE_SUFFIXES"]

TABLE_SUFFIXES = (".npz", ".parquet")
_METADATA_KEY = b"sklearn_audioconcepts"


def _suffix(path):
    suffix = Path(path).suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise ValueError(
            f"{path}: unknown table format {suffix or '(no suffix)'!r}; name the file "
            f"with one of {', '.join(TABLE_SUFFIXES)}."
        )
    return suffix


def _pyarrow():
    try:
        import pyarrow
        import pyarrow.parquet
    except ImportError:
        raise ImportError(
            "Parquet files need pyarrow: pip install pyarrow (with numpy<2, "
            "pyarrow<23), or use a .npz file instead."
        ) from None
    return pyarrow


def write_table(path, ids, values, columns, metadata=None):
    """Write ``values`` (N, D) with row ``ids`` and column names to ``path``."""
    values = np.asarray(values)
    ids = np.asarray([str(i) for i in ids])
    columns = np.asarray([str(c) for c in columns])
    if values.ndim != 2 or values.shape != (len(ids), len(columns)):
        raise ValueError(
            f"values of shape {values.shape} do not match {len(ids)} ids and "
            f"{len(columns)} columns."
        )
    metadata = json.dumps(metadata or {})
    path = Path(path)
    if _suffix(path) == ".npz":
        with replacing(path) as partial, open(partial, "wb") as file:
            np.savez_compressed(
                file,
                ids=ids,
                values=values,
                columns=columns,
                metadata=np.str_(metadata),
            )
        return path
    pyarrow = _pyarrow()
    if "id" in set(columns):
        raise ValueError("A column is named 'id', which Parquet tables use for ids.")
    arrays = [pyarrow.array(ids)] + [
        pyarrow.array(values[:, j]) for j in range(values.shape[1])
    ]
    table = pyarrow.table(arrays, names=["id", *columns])
    table = table.replace_schema_metadata({_METADATA_KEY: metadata.encode()})
    with replacing(path) as partial:
        pyarrow.parquet.write_table(table, partial)
    return path


def read_table(path, *, kind="table"):
    """Read a table written by :func:`write_table` (or any compatible file).

    Returns ``(ids, values, columns, metadata)``: ids as an array of str,
    values float32 of shape (N, D), column names, and a metadata dict.
    Raises :class:`~sklearn_audioconcepts.FileReadError` naming ``kind``
    (e.g. ``'embeddings file'``) and the file when it cannot be read.
    """
    path = Path(path)
    suffix = path.suffix.lower()
    if suffix not in TABLE_SUFFIXES:
        raise FileReadError(
            kind,
            path,
            f"unknown table format {suffix or '(no suffix)'!r}; tables are "
            f"{' or '.join(TABLE_SUFFIXES)} files.",
        )
    if suffix == ".npz":
        ids, values, columns, metadata = _read_npz(kind, path)
    else:
        ids, values, columns, metadata = _read_parquet(kind, path)
    if values.ndim != 2 or len(values) != len(ids):
        raise FileReadError(
            kind, path, f"values of shape {values.shape} for {len(ids)} ids."
        )
    if not np.issubdtype(values.dtype, np.number):
        raise FileReadError(kind, path, f"values are not numeric ({values.dtype}).")
    if len(columns) != values.shape[1]:
        raise FileReadError(
            kind, path, f"{len(columns)} column names for {values.shape[1]} columns."
        )
    return ids, values.astype(np.float32, copy=False), columns, metadata


def _read_npz(kind, path):
    arrays = load_npz(
        kind,
        path,
        ("ids", "values"),
        optional=("columns", "metadata"),
        expected="a file written by 'sklearn-audioconcepts embed' or 'decompose'",
    )
    values = arrays["values"]
    if values.ndim != 2:
        raise FileReadError(kind, path, f"values of shape {values.shape}, not 2-D.")
    ids = arrays["ids"].astype(str)
    columns = (
        arrays["columns"].astype(str)
        if "columns" in arrays
        else np.asarray([f"x{j}" for j in range(values.shape[1])])
    )
    metadata = (
        parse_json(kind, path, str(arrays["metadata"]), what="metadata")
        if "metadata" in arrays
        else {}
    )
    return ids, values, columns, metadata


def _read_parquet(kind, path):
    pyarrow = _pyarrow()
    with reading(kind, path):
        try:
            table = pyarrow.parquet.read_table(path)
        except pyarrow.ArrowException as exc:  # ArrowInvalid is not an OSError
            raise FileReadError(
                kind, path, f"it is not a readable Parquet file ({exc})."
            ) from exc
    names = table.column_names
    if "id" not in names:
        raise FileReadError(kind, path, "it has no 'id' column naming the rows.")
    ids = np.asarray(table.column("id").to_pylist(), dtype=str)
    columns = np.asarray([name for name in names if name != "id"])
    values = (
        np.column_stack(
            [table.column(name).to_numpy(zero_copy_only=False) for name in columns]
        )
        if len(columns)
        else np.empty((len(ids), 0))
    )
    raw = (table.schema.metadata or {}).get(_METADATA_KEY)
    metadata = (
        parse_json(kind, path, raw.decode("utf-8", "replace"), what="metadata")
        if raw
        else {}
    )
    return ids, values, columns, metadata
