"""Embedding and weight tables on disk: ``.npz`` or Parquet, one row per file id.

The command line writes every row-per-clip result (embeddings, concept
weights, latents, steered embeddings) through :func:`write_table` and reads
it back with :func:`read_table`, so any of them can feed the next command.

- ``.npz`` (numpy, no pickle): arrays ``ids`` (N,), ``values`` (N, D),
  ``columns`` (D,) and ``metadata`` (a JSON string: what produced the table).
- ``.parquet``: an ``id`` column then one float column per feature; the
  metadata goes into the file's key-value metadata. Needs ``pyarrow``.
"""

import json
from pathlib import Path

import numpy as np

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
    suffix = _suffix(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if suffix == ".npz":
        with open(path, "wb") as file:
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
    pyarrow.parquet.write_table(table, path)
    return path


def read_table(path):
    """Read a table written by :func:`write_table` (or any compatible file).

    Returns ``(ids, values, columns, metadata)``: ids as an array of str,
    values float32 of shape (N, D), column names, and a metadata dict.
    """
    path = Path(path)
    suffix = _suffix(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no such file.")
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as data:
                missing = {"ids", "values"} - set(data.files)
                if missing:
                    raise ValueError(
                        f"{path} has no {sorted(missing)} arrays; expected a file "
                        "written by 'sklearn-audioconcepts embed' or 'decompose'."
                    )
                values = data["values"]
                ids = data["ids"].astype(str)
                columns = (
                    data["columns"].astype(str)
                    if "columns" in data.files
                    else np.asarray([f"x{j}" for j in range(values.shape[1])])
                )
                metadata = (
                    json.loads(str(data["metadata"]))
                    if "metadata" in data.files
                    else {}
                )
        except (OSError, ValueError) as exc:
            if isinstance(exc, ValueError) and str(path) in str(exc):
                raise
            raise ValueError(f"{path} is not a readable .npz table: {exc}") from None
    else:
        pyarrow = _pyarrow()
        table = pyarrow.parquet.read_table(path)
        names = table.column_names
        if "id" not in names:
            raise ValueError(f"{path} has no 'id' column naming the rows.")
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
        metadata = json.loads(raw.decode()) if raw else {}
    if values.ndim != 2 or len(values) != len(ids):
        raise ValueError(f"{path}: values of shape {values.shape} for {len(ids)} ids.")
    if not np.issubdtype(values.dtype, np.number):
        raise ValueError(f"{path}: values are not numeric ({values.dtype}).")
    return ids, values.astype(np.float32, copy=False), columns, metadata
