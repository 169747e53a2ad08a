"""Queries and runs as Arrow IPC bytes, the only data a batch task sends and returns.

Tasks and results travel between the client and the workers as plain bytes in Arrow's IPC
stream format (columnar, zero-copy to read), so a result is rebuilt by Arrow, never by
unpickling an object a worker made. A run is two tables: one row per query (``qid``,
``size``: queries without candidates survive) and one row per candidate (``docid``,
``score`` and the feature columns, whose names and the run's metadata ride in the schema
metadata as JSON).
"""

from __future__ import annotations

import json
from typing import Any

import numpy as np
import pyarrow as pa

from rankstack.data import Queries, Run
from rankstack.data._columns import offsets_from_sizes

_QUERY_COLUMNS = ("qid", "query")


def _to_ipc(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def _from_ipc(data: bytes) -> pa.Table:
    with pa.ipc.open_stream(pa.py_buffer(data)) as reader:
        return reader.read_all()


def _column(table: pa.Table, name: str) -> pa.Array:
    col = table.column(name)
    return col.combine_chunks() if col.num_chunks != 1 else col.chunk(0)


def encode_queries(queries: Queries) -> bytes:
    """``queries`` (ids, texts and extra fields) as IPC bytes."""
    return _to_ipc(queries.to_arrow())


def decode_queries(data: bytes) -> Queries:
    table = _from_ipc(data)
    extra = {n: _column(table, n) for n in table.column_names if n not in _QUERY_COLUMNS}
    return Queries(_column(table, "qid"), _column(table, "query"), extra)


def encode_run(run: Run) -> tuple[bytes, bytes]:
    """``run`` as (queries table, rows table) IPC bytes; see the module docstring."""
    queries = pa.table({"qid": run.qids, "size": pa.array(run.sizes.astype(np.int64))})
    cols: dict[str, Any] = {"docid": run.docids, "score": pa.array(run.scores)}
    if run.features is not None:
        for j in range(run.features.shape[1]):
            cols[f"f{j}"] = pa.array(run.features[:, j])
    meta = {
        "features": json.dumps(None if run.features is None else list(run.feature_names)),
        "metadata": json.dumps(dict(run.metadata), default=str),
    }
    rows = pa.table(cols).replace_schema_metadata(meta)
    return _to_ipc(queries), _to_ipc(rows)


def decode_run(parts: tuple[bytes, bytes]) -> Run:
    """The run :func:`encode_run` wrote, bit for bit (scores, features, order)."""
    queries, rows = _from_ipc(parts[0]), _from_ipc(parts[1])
    meta = rows.schema.metadata or {}
    names = json.loads(meta.get(b"features", b"null"))
    features = None
    if names is not None:
        n = rows.num_rows
        features = np.empty((n, len(names)), dtype=np.float32)
        for j in range(len(names)):
            features[:, j] = _column(rows, f"f{j}").to_numpy(zero_copy_only=False)
    return Run(
        qids=_column(queries, "qid"),
        offsets=offsets_from_sizes(_column(queries, "size").to_numpy(zero_copy_only=False)),
        docids=_column(rows, "docid"),
        scores=_column(rows, "score").to_numpy(zero_copy_only=False).astype(np.float64),
        features=features,
        feature_names=tuple(names or ()),
        metadata=json.loads(meta.get(b"metadata", b"{}")),
    )
