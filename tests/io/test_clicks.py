"""Click-log files: JSONL and Parquet round trips, streaming, end markers, bad input."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankstack.data import ClickLog
from rankstack.exceptions import DataError, FormatError
from rankstack.io.clicks import (
    ClickLogWriter,
    click_log_format,
    content_checksum,
    iter_click_chunks,
    read_click_metadata,
    read_clicks,
    validate_clicks,
    write_clicks,
)

FORMATS = ["log.parquet", "log.jsonl", "log.jsonl.gz"]


def make_log(n: int = 50, seed: int = 0, *, extra: bool = True) -> ClickLog:
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1, 11, n)
    total = int(sizes.sum())
    dwell = np.where(rng.random(total) < 0.5, np.nan, rng.random(total) * 100).astype(np.float32)
    return ClickLog.from_arrays(
        [f"q{i}" for i in rng.integers(0, 7, n)],
        sizes,
        [f"d{i}" for i in rng.integers(0, 1000, total)],
        rng.integers(0, 2, total).astype(np.uint8),
        dwell=dwell if extra else None,
        display={
            "height": rng.random(total).astype(np.float32),
            "mtype": rng.integers(0, 5, total).astype(np.int16),
        }
        if extra
        else None,
        metadata={"k": 10, "click_model": "pbm", "propensities": [1.0, 0.5]},
    )


def assert_same(a: ClickLog, b: ClickLog) -> None:
    assert a.session_qids.equals(b.session_qids)
    assert np.array_equal(a.offsets, b.offsets)
    assert a.docids.equals(b.docids)
    assert np.array_equal(a.clicks, b.clicks) and a.clicks.dtype == b.clicks.dtype
    if a.dwell is None:
        assert b.dwell is None
    else:
        assert b.dwell is not None and a.dwell.dtype == b.dwell.dtype
        assert np.array_equal(a.dwell.view(np.uint32), b.dwell.view(np.uint32))  # bit-identical
    assert set(a.display) == set(b.display)
    for key in a.display:
        assert a.display[key].dtype == b.display[key].dtype
        assert np.array_equal(a.display[key], b.display[key])


@pytest.mark.parametrize("name", FORMATS)
def test_round_trip_bit_identical(tmp_path: Path, name: str) -> None:
    log = make_log()
    path = write_clicks(log, tmp_path / name)
    back = read_clicks(path)
    assert_same(log, back)
    assert back.metadata == dict(log.metadata)
    assert read_click_metadata(path) == dict(log.metadata)
    assert content_checksum(back) == content_checksum(log)


def test_same_checksum_in_both_formats(tmp_path: Path) -> None:
    log = make_log()
    write_clicks(log, tmp_path / "a.jsonl")
    write_clicks(log, tmp_path / "a.parquet")
    ends = []
    lines = (tmp_path / "a.jsonl").read_text().splitlines()
    ends.append(json.loads(lines[-1])["_end"]["sha256"])
    meta = pq.ParquetFile(tmp_path / "a.parquet").metadata.metadata
    ends.append(json.loads(meta[b"rankstack.clicks.end"])["sha256"])
    assert ends[0] == ends[1] == content_checksum(log)


@pytest.mark.parametrize("name", FORMATS)
@pytest.mark.parametrize("chunk", [1, 7, 50, 1000])
def test_streaming_chunks(tmp_path: Path, name: str, chunk: int) -> None:
    log = make_log(60)
    path = write_clicks(log, tmp_path / name, row_group_sessions=13)
    chunks = list(iter_click_chunks(path, chunk))
    assert [len(c) for c in chunks[:-1]] == [chunk] * (len(chunks) - 1)
    assert_same(log, ClickLog.concat(chunks))


@pytest.mark.parametrize("name", FORMATS)
def test_writer_appends_chunks(tmp_path: Path, name: str) -> None:
    log = make_log(40)
    with ClickLogWriter(tmp_path / name, metadata={"k": 10}) as writer:
        for start in range(0, 40, 9):
            writer.write(log.slice_sessions(start, start + 9))
        assert not (tmp_path / name).exists()  # only a temporary file so far
    assert writer.sessions == 40
    umask = os.umask(0)
    os.umask(umask)
    assert (tmp_path / name).stat().st_mode & 0o777 == 0o666 & ~umask  # not mkstemp's 0600
    assert content_checksum(read_clicks(tmp_path / name)) == content_checksum(log)


@pytest.mark.parametrize("name", FORMATS)
def test_empty_log(tmp_path: Path, name: str) -> None:
    with ClickLogWriter(tmp_path / name, metadata={"note": "empty"}):
        pass
    back = read_clicks(tmp_path / name)
    assert len(back) == 0 and back.metadata == {"note": "empty"}


def test_writer_failure_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "log.parquet"
    write_clicks(make_log(5), target)
    before = target.read_bytes()
    with pytest.raises(RuntimeError), ClickLogWriter(target) as writer:
        writer.write(make_log(20, seed=1))
        raise RuntimeError("crash")
    assert target.read_bytes() == before
    assert [p.name for p in tmp_path.iterdir()] == ["log.parquet"]


def test_writer_refuses_other_columns(tmp_path: Path) -> None:
    with (
        pytest.raises(DataError, match="optional columns"),
        ClickLogWriter(tmp_path / "x.jsonl") as w,
    ):
        w.write(make_log(3))
        w.write(make_log(3, extra=False))


# ---------------------------------------------------------------------- crash detection
@pytest.mark.parametrize("name", ["log.jsonl", "log.jsonl.gz"])
def test_jsonl_without_end_marker_is_refused(tmp_path: Path, name: str) -> None:
    log = make_log(30)
    path = write_clicks(log, tmp_path / name)
    raw = gzip.decompress(path.read_bytes()) if name.endswith(".gz") else path.read_bytes()
    lines = raw.splitlines(keepends=True)
    cut = b"".join(lines[:-1])  # the writer died before the end marker
    path.write_bytes(gzip.compress(cut) if name.endswith(".gz") else cut)
    with pytest.raises(FormatError, match="no end marker"):
        read_clicks(path)
    with pytest.raises(FormatError, match="no end marker"):
        list(iter_click_chunks(path, 10))
    assert_same(log, read_clicks(path, allow_incomplete=True))


def test_jsonl_cut_mid_line(tmp_path: Path) -> None:
    path = write_clicks(make_log(30), tmp_path / "log.jsonl")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FormatError, match="no end marker"):
        read_clicks(path)
    partial = read_clicks(path, allow_incomplete=True)  # the cut line is dropped
    assert 0 < len(partial) < 30


def test_truncated_gzip_is_an_error(tmp_path: Path) -> None:
    path = write_clicks(make_log(200), tmp_path / "log.jsonl.gz")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) - 30])
    with pytest.raises(FormatError):
        read_clicks(path)


def test_edited_jsonl_fails_the_checksum(tmp_path: Path) -> None:
    path = write_clicks(make_log(10, extra=False), tmp_path / "log.jsonl")
    lines = path.read_text().splitlines()
    session = json.loads(lines[3])
    session["clicks"][0] = 1 - session["clicks"][0]
    lines[3] = json.dumps(session)
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match="checksum") as err:
        read_clicks(path)
    assert err.value.line == len(lines)


def test_jsonl_end_count_mismatch(tmp_path: Path) -> None:
    path = write_clicks(make_log(10, extra=False), tmp_path / "log.jsonl")
    lines = path.read_text().splitlines()
    del lines[2]
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(FormatError, match="declares 10 sessions"):
        read_clicks(path)


def test_data_after_end_marker(tmp_path: Path) -> None:
    path = write_clicks(make_log(3, extra=False), tmp_path / "log.jsonl")
    text = path.read_text()
    path.write_text(text + text.splitlines()[1] + "\n")
    with pytest.raises(FormatError, match="after the end marker"):
        read_clicks(path, allow_incomplete=True)


def test_truncated_parquet(tmp_path: Path) -> None:
    path = write_clicks(make_log(100), tmp_path / "log.parquet")
    raw = path.read_bytes()
    path.write_bytes(raw[: len(raw) // 2])
    with pytest.raises(FormatError, match="footer"):
        read_clicks(path)


def test_foreign_parquet_needs_allow_incomplete(tmp_path: Path) -> None:
    log = make_log(20, extra=False)
    table = log.to_arrow()
    pq.write_table(table, tmp_path / "x.parquet", row_group_size=17)  # splits sessions
    with pytest.raises(FormatError, match="no end marker"):
        read_clicks(tmp_path / "x.parquet")
    back = read_clicks(tmp_path / "x.parquet", allow_incomplete=True)
    assert_same(log, back)


def test_parquet_rows_out_of_order(tmp_path: Path) -> None:
    table = make_log(5, extra=False).to_arrow()
    order = np.arange(table.num_rows)
    order[[0, 1]] = order[[1, 0]]
    pq.write_table(table.take(pa.array(order)), tmp_path / "x.parquet")
    with pytest.raises(FormatError, match="row 1: position"):
        read_clicks(tmp_path / "x.parquet", allow_incomplete=True)


# ---------------------------------------------------------------------- bad input
def _jsonl(tmp_path: Path, *records: object, end: bool = False) -> Path:
    path = tmp_path / "in.jsonl"
    path.write_text("".join((r if isinstance(r, str) else json.dumps(r)) + "\n" for r in records))
    return path


@pytest.mark.parametrize(
    ("record", "message"),
    [
        (
            {"qid": "q", "docids": ["a"], "clicks": [0, 1]},
            "clicks on positions that were not shown",
        ),
        ({"qid": "q", "docids": ["a", "b"], "clicks": [1]}, "too few click flags"),
        ({"qid": "q", "docids": [], "clicks": []}, "empty"),
        ({"qid": "q", "docids": ["a"], "clicks": [2]}, "0 or 1"),
        ({"docids": ["a"], "clicks": [1]}, "'qid'"),
        ({"qid": "q", "clicks": [1]}, "'docids'"),
        ('{"qid": "q", "docids": ["a"], "clicks": [1]', "JSON"),
        ({"qid": "q", "docids": ["a"], "clicks": [1], "dwell": [1.0, 2.0]}, "'dwell' has 2 values"),
    ],
)
def test_bad_sessions_name_the_line(tmp_path: Path, record: object, message: str) -> None:
    good = {"qid": "q0", "docids": ["x", "y"], "clicks": [0, 0]}
    path = _jsonl(tmp_path, good, good, record, good)
    with pytest.raises(FormatError, match=message) as err:
        read_clicks(path, allow_incomplete=True)
    assert err.value.line == 3 and err.value.path == str(path)


def test_list_longer_than_k(tmp_path: Path) -> None:
    path = _jsonl(tmp_path, {"qid": "q", "docids": list("abcd"), "clicks": [0, 0, 0, 1]})
    assert len(read_clicks(path, allow_incomplete=True)) == 1
    with pytest.raises(FormatError, match="more than the declared k=3") as err:
        read_clicks(path, allow_incomplete=True, k=3)
    assert err.value.line == 1


def test_declared_k_from_metadata(tmp_path: Path) -> None:
    log = ClickLog.from_arrays(["q"], [4], list("abcd"), [0, 0, 0, 1], metadata={"k": 3})
    path = write_clicks(log, tmp_path / "x.parquet")
    with pytest.raises(FormatError, match="declared k=3"):
        read_clicks(path)


def test_unknown_query_ids(tmp_path: Path) -> None:
    path = write_clicks(make_log(20, extra=False), tmp_path / "x.jsonl")
    with pytest.raises(FormatError, match="not among the 2 known queries"):
        read_clicks(path, queries=["q1", "q2"])
    read_clicks(path, queries=[f"q{i}" for i in range(7)])


def test_foreign_jsonl_integer_ids_and_no_clicks(tmp_path: Path) -> None:
    path = _jsonl(
        tmp_path,
        {"qid": 10, "docids": ["a", "b"], "clicks": [0, 0], "dwell": [None, 3.5], "session": 1},
        {"qid": "11", "docids": ["c"], "clicks": [1], "dwell": [2.0], "session": 2},
    )
    log = read_clicks(path, allow_incomplete=True)
    assert log.session_qids.to_pylist() == ["10", "11"]
    assert log.clicks.tolist() == [0, 0, 1]  # the session without clicks is kept
    assert log.dwell is not None and np.isnan(log.dwell[0]) and log.dwell[1] == 3.5


def test_validate_in_memory() -> None:
    log = ClickLog.from_arrays(["q", "r"], [2, 0], ["a", "b"], [0, 1])
    with pytest.raises(DataError, match="session 1: the displayed list is empty"):
        validate_clicks(log)


def test_format_from_name(tmp_path: Path) -> None:
    assert click_log_format("a.parquet") == "parquet"
    assert click_log_format("a.jsonl.gz") == "jsonl"
    with pytest.raises(FormatError, match="format"):
        click_log_format("a.txt")


# ---------------------------------------------------------------------- invariants
@st.composite
def logs(draw: st.DrawFn) -> ClickLog:
    n = draw(st.integers(0, 12))
    sizes = draw(st.lists(st.integers(1, 5), min_size=n, max_size=n))
    total = sum(sizes)
    ids = st.text(st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=6)
    docids = draw(st.lists(ids, min_size=total, max_size=total))
    qids = draw(st.lists(ids, min_size=n, max_size=n))
    clicks = draw(st.lists(st.integers(0, 1), min_size=total, max_size=total))
    dwell = draw(
        st.lists(st.one_of(st.none(), st.floats(0, 1e6, width=32)), min_size=total, max_size=total)
    )
    return ClickLog.from_arrays(
        qids,
        sizes,
        docids,
        np.array(clicks, dtype=np.uint8),
        dwell=np.array([np.nan if d is None else d for d in dwell], dtype=np.float32),
    )


@settings(
    max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(log=logs(), name=st.sampled_from(FORMATS))
def test_round_trip_property(tmp_path: Path, log: ClickLog, name: str) -> None:
    path = write_clicks(log, tmp_path / name)
    assert_same(log, read_clicks(path))
