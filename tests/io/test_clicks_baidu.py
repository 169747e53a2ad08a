"""The Baidu-ULTR session reader, on small files in that format written by the tests."""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pytest

from rankstack.exceptions import DataError, FormatError
from rankstack.io.baidu_ultr import BAIDU_DOCUMENT_COLUMNS, iter_baidu_ultr, read_baidu_ultr
from rankstack.io.clicks import read_clicks, write_clicks


def doc_line(pos: int, url: str, click: int, *, dwell: float = 0.0, height: float = 120.0,
             mtype: int = 0, skip: int = 0, n_columns: int = 32) -> str:  # fmt: skip
    values = {name: "0" for name in BAIDU_DOCUMENT_COLUMNS}
    values.update(
        pos=str(pos), url_md5=url, title="11\x0112\x0113", abstract="21\x0122",
        multimedia_type=str(mtype), click=str(click), skip=str(skip), serp_height=str(height),
        displayed_time="1.5", dwelling_time=str(dwell), serp_to_top="33.25",
    )  # fmt: skip
    cols = [values[name] if name != "-" else "0" for name in BAIDU_DOCUMENT_COLUMNS]
    return "\t".join(cols[:n_columns])


def query_line(qid: str, tokens: str = "101\x01102") -> str:
    return f"{qid}\t{tokens}\t"


def write(path: Path, lines: list[str]) -> Path:
    path.write_bytes(gzip.compress(("\n".join(lines) + "\n").encode()))
    return path


@pytest.fixture
def baidu(tmp_path: Path) -> Path:
    return write(
        tmp_path / "part-00001.gz",
        [
            query_line("1"),
            doc_line(1, "u1", 0, height=100.5),
            doc_line(2, "u2", 1, dwell=35.0, mtype=3),
            doc_line(3, "u3", 0, skip=1),
            query_line("2", "7\x018\x019"),
            doc_line(1, "u9", 0),
            query_line("3"),  # the same query tokens as session 1
            doc_line(1, "u2", 1, dwell=4.0),
            doc_line(2, "u1", 0),
        ],
    )


def test_read_baidu_sessions(baidu: Path) -> None:
    log = read_baidu_ultr(baidu)
    assert log.session_qids.to_pylist() == ["1", "2", "3"]
    assert log.sizes.tolist() == [3, 1, 2]
    assert log.docids.to_pylist() == ["u1", "u2", "u3", "u9", "u2", "u1"]
    assert log.clicks.tolist() == [0, 1, 0, 0, 1, 0]
    assert log.dwell is not None and log.dwell.tolist() == [0, 35, 0, 0, 4, 0]
    assert log.display["height"].tolist()[:2] == [100.5, 120.0]
    assert log.display["multimedia_type"].tolist()[:2] == [0, 3]
    assert log.display["skip"].tolist()[:3] == [0, 0, 1]
    assert log.metadata["source"] == "baidu-ultr"


def test_query_tokens_as_ids_and_options(baidu: Path) -> None:
    log = read_baidu_ultr(baidu, qid_field="query", features={"first_click": "first_click"})
    assert log.session_qids.to_pylist() == ["101 102", "7 8 9", "101 102"]
    assert list(log.display) == ["first_click"]
    assert len(read_baidu_ultr(baidu, max_sessions=2)) == 2
    assert [len(c) for c in iter_baidu_ultr(baidu, 2)] == [2, 1]
    with pytest.raises(DataError, match="unknown Baidu-ULTR column"):
        read_baidu_ultr(baidu, features={"x": "nope"})


def test_convert_to_our_formats(baidu: Path, tmp_path: Path) -> None:
    log = read_baidu_ultr(baidu)
    back = read_clicks(write_clicks(log, tmp_path / "b.parquet"))
    assert back.docids.equals(log.docids) and np.array_equal(
        back.display["height"], log.display["height"]
    )


@pytest.mark.parametrize(
    ("lines", "line", "message"),
    [
        ([doc_line(1, "u", 0)], 1, "before the first query line"),
        ([query_line("1"), doc_line(2, "u", 0)], 2, "position 2, expected 1"),
        ([query_line("1"), doc_line(1, "u", 0), "a\tb\tc\td\te"], 3, "5 columns"),
        ([query_line("1"), doc_line(1, "u", 3)], 2, "0 or 1"),
        (
            [query_line("1"), doc_line(1, "u", 0, dwell=float("nan")).replace("nan", "x")],
            2,
            "dwelling_time",
        ),
        ([query_line("1"), doc_line(1, "u", 0, n_columns=18)], 2, "serp_to_top"),
    ],
)
def test_bad_baidu_lines(tmp_path: Path, lines: list[str], line: int, message: str) -> None:
    path = write(tmp_path / "bad.gz", lines)
    with pytest.raises(FormatError, match=message) as err:
        read_baidu_ultr(path)
    assert err.value.line == line


def test_small_blocks_cut_at_session_starts(baidu: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import rankstack.io.baidu_ultr as mod

    whole = read_baidu_ultr(baidu)
    for size in (64, 200, 333):
        monkeypatch.setattr(mod, "_BLOCK", size)
        log = read_baidu_ultr(baidu)
        assert log.docids.equals(whole.docids) and np.array_equal(log.offsets, whole.offsets)
