"""Reader for the Baidu-ULTR session files (``part-*.gz`` of the Baidu-ULTR training data).

Format, as described by the dataset's README (Zou et al. 2022, "A Large Scale Search Dataset
for Unbiased Learning to Rank", NeurIPS Datasets and Benchmarks; repository
``ChuXiaokai/baidu_ultr_dataset``, section "Large Scale Web Search Session Data") and parsed
the same way by ``philipphager/baidu-ultr-parser`` (``src/const.py``, ``src/dataset.py``):
tab-separated lines, gzip-compressed; a line with at most 3 columns starts a session::

    qid <TAB> query tokens (\\x01-separated ids) <TAB> query reformulation

and each following line with more columns is one displayed document, in this column order
(0-based)::

    0 pos (1-based display position)   1 url_md5        2 title          3 abstract
    4 multimedia_type                  5 click          6 -              7 -
    8 skip                             9 serp_height    10 displayed_time
    11 displayed_time_middle           12 first_click   13 displayed_count
    14 serp_max_show_height            15 slipoff_count_after_click     16 dwelling_time
    17 displayed_time_top              18 serp_to_top   19 displayed_count_top
    20 displayed_count_bottom          21 slipoff_count 22 -            23 final_click
    24 displayed_time_bottom           25 click_count   26 displayed_count_2  27 -
    28 last_click                      29 reverse_display_count          30 displayed_count_middle
    31 -

A session becomes one :class:`~rankstack.data.ClickLog` session: query id = ``qid`` (or the
query's token string with ``qid_field="query"``, which groups sessions of the same query),
doc ids = ``url_md5``, clicks = ``click``, dwell = ``dwelling_time``, and the display features
named in ``features`` (by default ``height`` = ``serp_height``, ``displayed_time``,
``multimedia_type``, ``skip``, ``serp_to_top``). Positions must run 1, 2, ... within a session.
Lines are split with Arrow kernels; blocks are cut at session starts, so memory holds one
block (about 64 MB of text) at a time.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import ClickLog
from rankstack.data._columns import offsets_from_sizes
from rankstack.exceptions import DataError, FormatError
from rankstack.io._clicks_jsonl import open_stream
from rankstack.io._files import PathLike
from rankstack.io._lines import blank_mask, show, split_lines

logger = logging.getLogger(__name__)

__all__ = ["BAIDU_DOCUMENT_COLUMNS", "iter_baidu_ultr", "read_baidu_ultr"]

#: document-line columns in file order ("-" are unnamed columns)
BAIDU_DOCUMENT_COLUMNS = (
    "pos", "url_md5", "title", "abstract", "multimedia_type", "click", "-", "-", "skip",
    "serp_height", "displayed_time", "displayed_time_middle", "first_click", "displayed_count",
    "serp_max_show_height", "slipoff_count_after_click", "dwelling_time", "displayed_time_top",
    "serp_to_top", "displayed_count_top", "displayed_count_bottom", "slipoff_count", "-",
    "final_click", "displayed_time_bottom", "click_count", "displayed_count_2", "-",
    "last_click", "reverse_display_count", "displayed_count_middle", "-",
)  # fmt: skip
_INTEGER = {
    "multimedia_type", "skip", "first_click", "displayed_count", "slipoff_count_after_click",
    "displayed_count_top", "displayed_count_bottom", "slipoff_count", "final_click",
    "click_count", "displayed_count_2", "last_click", "reverse_display_count",
    "displayed_count_middle",
}  # fmt: skip
#: display features kept by default: output name -> Baidu column
DEFAULT_FEATURES: Mapping[str, str] = {
    "height": "serp_height",
    "displayed_time": "displayed_time",
    "multimedia_type": "multimedia_type",
    "skip": "skip",
    "serp_to_top": "serp_to_top",
}
_MIN_DOC_COLUMNS = 17  # through dwelling_time
_BLOCK = 64 << 20


def _is_query_line(line: bytes) -> bool:
    return bool(line.strip()) and line.count(b"\t") <= 2


def _session_blocks(path: PathLike, block_size: int) -> Iterator[tuple[bytes, int]]:
    """Blocks of whole sessions (cut before a query line) and their first line number."""
    line = 1
    rest = b""
    with open_stream(path) as fh:
        while True:
            data = fh.read(block_size)
            buf = rest + data
            if not data:
                if buf:
                    yield buf, line
                return
            end = buf.rfind(b"\n")
            cut = -1
            while end > 0:  # walk back over the last lines to the start of the last session
                start = buf.rfind(b"\n", 0, end) + 1
                if _is_query_line(buf[start:end]):
                    cut = start
                    break
                end = start - 1
            if cut <= 0:  # no session start after the first: read more
                rest = buf
                continue
            block, rest = buf[:cut], buf[cut:]
            yield block, line
            line += block.count(b"\n")


def _numbers(
    col: pa.Array, kind: str, name: str, lines: np.ndarray, path: PathLike | None
) -> np.ndarray:
    col = pc.utf8_trim_whitespace(col)
    typ = pa.int64() if kind == "int" else pa.float64()
    try:
        out: np.ndarray = pc.cast(col, typ).to_numpy(zero_copy_only=False)
        return out
    except (pa.ArrowInvalid, pa.ArrowNotImplementedError):
        pattern = r"^-?\d+$" if kind == "int" else r"^[-+]?(\d+\.?\d*|\.\d+)([eE][-+]?\d+)?$"
        ok = np.asarray(pc.match_substring_regex(col, pattern).to_numpy(zero_copy_only=False))
        bad = int(np.flatnonzero(~ok)[0])
        raise FormatError(
            f"column {name!r}: expected {'an integer' if kind == 'int' else 'a number'}, found "
            f"{show(col[bad].as_py())}",
            path,
            int(lines[bad]),
        ) from None


def _parse(
    data: bytes,
    first_line: int,
    path: PathLike | None,
    qid_field: str,
    features: Mapping[str, str],
) -> ClickLog:
    lines = split_lines(data, path, allow_nul=False)
    if len(lines) == 0:
        return ClickLog.from_arrays([], [], [], np.zeros(0, np.uint8))
    tabs = pc.count_substring(lines, "\t").to_numpy(zero_copy_only=False)
    blank = blank_mask(lines)
    is_query = ~blank & (tabs <= 2)
    is_doc = ~blank & (tabs >= _MIN_DOC_COLUMNS - 1)
    odd = np.flatnonzero(~blank & ~is_query & ~is_doc)
    if len(odd):
        i = int(odd[0])
        raise FormatError(
            f"expected a query line (qid, query, reformulation) or a document line with at "
            f"least {_MIN_DOC_COLUMNS} tab-separated columns; found {int(tabs[i]) + 1} "
            f"columns: {show(lines[i].as_py())}",
            path,
            first_line + i,
        )
    session_of_line = np.cumsum(is_query) - 1
    doc_idx = np.flatnonzero(is_doc)
    if len(doc_idx) and session_of_line[doc_idx[0]] < 0:
        raise FormatError(
            "a document line before the first query line", path, first_line + int(doc_idx[0])
        )
    q_idx = np.flatnonzero(is_query)
    q_fields = pc.split_pattern(lines.take(pa.array(q_idx)), "\t")
    if qid_field == "qid":
        qids = pc.utf8_trim_whitespace(pc.list_element(q_fields, 0))
    else:
        tokens = pc.binary_join(pc.list_slice(q_fields, 1, 2), "")
        qids = pc.replace_substring(pc.utf8_trim_whitespace(tokens), "\x01", " ")
    d_lines = first_line + doc_idx
    d_fields = pc.split_pattern(lines.take(pa.array(doc_idx)), "\t")

    def column(name: str) -> pa.Array:
        return pc.list_element(d_fields, BAIDU_DOCUMENT_COLUMNS.index(name))

    sizes = np.bincount(session_of_line[doc_idx], minlength=len(q_idx)).astype(np.int64)
    offsets = offsets_from_sizes(sizes)
    pos = _numbers(column("pos"), "int", "pos", d_lines, path)
    expect = np.arange(len(doc_idx)) - np.repeat(offsets[:-1], sizes) + 1
    bad = np.flatnonzero(pos != expect)
    if len(bad):
        i = int(bad[0])
        raise FormatError(
            f"position {int(pos[i])}, expected {int(expect[i])}: the documents of a session "
            "must follow their query line in display order, positions 1, 2, ...",
            path,
            int(d_lines[i]),
        )
    clicks = _numbers(column("click"), "int", "click", d_lines, path)
    bad = np.flatnonzero((clicks != 0) & (clicks != 1))
    if len(bad):
        raise FormatError(
            f"click must be 0 or 1, found {int(clicks[bad[0]])}", path, int(d_lines[bad[0]])
        )
    dwell = _numbers(column("dwelling_time"), "float", "dwelling_time", d_lines, path)
    display: dict[str, np.ndarray] = {}
    n_cols = (tabs[doc_idx] + 1) if len(doc_idx) else np.zeros(0, dtype=np.int64)
    for out_name, src in features.items():
        j = BAIDU_DOCUMENT_COLUMNS.index(src)
        short = np.flatnonzero(n_cols <= j)
        if len(short):
            i = int(short[0])
            raise FormatError(
                f"feature {out_name!r} ({src}) is column {j + 1}, the line has {int(n_cols[i])}",
                path,
                int(d_lines[i]),
            )
        kind = "int" if src in _INTEGER else "float"
        values = _numbers(column(src), kind, src, d_lines, path)
        display[out_name] = values.astype(np.int32 if kind == "int" else np.float32)
    docids = pc.utf8_trim_whitespace(column("url_md5"))
    return ClickLog(
        session_qids=qids.cast(pa.string()),
        offsets=offsets,
        docids=docids.cast(pa.string()),
        clicks=clicks.astype(np.uint8),
        dwell=dwell.astype(np.float32),
        display=display,
    )


def iter_baidu_ultr(
    path: PathLike,
    sessions_per_chunk: int = 100_000,
    *,
    qid_field: str = "qid",
    features: Mapping[str, str] | None = None,
    max_sessions: int | None = None,
) -> Iterator[ClickLog]:
    """Stream a Baidu-ULTR session file as :class:`~rankstack.data.ClickLog` chunks."""
    from rankstack.io.clicks import _rechunk

    if qid_field not in ("qid", "query"):
        raise DataError(f"qid_field must be 'qid' or 'query', found {qid_field!r}")
    feats = dict(DEFAULT_FEATURES if features is None else features)
    for name, src in feats.items():
        if src not in BAIDU_DOCUMENT_COLUMNS or src == "-":
            raise DataError(
                f"feature {name!r}: unknown Baidu-ULTR column {src!r}; columns: "
                f"{[c for c in BAIDU_DOCUMENT_COLUMNS if c != '-']}"
            )
    meta: dict[str, Any] = {"source": "baidu-ultr", "qid_field": qid_field, "features": feats}

    def blocks() -> Iterator[ClickLog]:
        seen = 0
        for data, first_line in _session_blocks(path, _BLOCK):
            log = _parse(data, first_line, path, qid_field, feats)
            if max_sessions is not None and seen + len(log) >= max_sessions:
                yield log.slice_sessions(0, max_sessions - seen)
                return
            seen += len(log)
            yield log

    import dataclasses

    for chunk in _rechunk(blocks(), sessions_per_chunk):
        yield dataclasses.replace(chunk, metadata=meta)


def read_baidu_ultr(
    path: PathLike,
    *,
    qid_field: str = "qid",
    features: Mapping[str, str] | None = None,
    max_sessions: int | None = None,
) -> ClickLog:
    """Read a Baidu-ULTR session file (``part-00000.gz``...) into one click log.

    ``qid_field="query"`` identifies queries by their token string instead of the ``qid``
    column; ``features`` maps output names to Baidu columns (default
    :data:`DEFAULT_FEATURES`); ``max_sessions`` stops early. Raises :class:`FormatError`
    naming the line for a malformed line, a document before the first query line, positions
    out of order or a non-numeric value.
    """
    chunks = list(
        iter_baidu_ultr(
            path, 1 << 62, qid_field=qid_field, features=features, max_sessions=max_sessions
        )
    )
    if not chunks:
        return ClickLog.from_arrays(
            [], [], [], np.zeros(0, np.uint8), metadata={"source": "baidu-ultr"}
        )
    return chunks[0] if len(chunks) == 1 else ClickLog.concat(chunks)
