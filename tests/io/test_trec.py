"""TREC run and qrels files: bit-identical round trips, every bad-input case, fuzzing."""

from __future__ import annotations

import contextlib
import gzip
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rankstack.data import Qrels, Run
from rankstack.exceptions import DataError, FormatError
from rankstack.io import read_qrels, read_run, write_qrels, write_run

RUN_TEXT = "1 Q0 d3 1 2.5 sys\n1 Q0 d1 2 1.25 sys\n1 Q0 d2 3 1.25 sys\n2 Q0 d9 1 -0.5 sys\n"


@pytest.fixture
def run() -> Run:
    rng = np.random.default_rng(0)
    n = 200
    return Run.from_arrays(
        rng.integers(0, 10, n).astype(str),
        [f"doc{i}" for i in range(n)],
        rng.normal(size=n) * 1e3,
        metadata={"tag": "fuzz"},
    )


def test_read_run_orders_by_score_then_docid_desc(tmp_path: Path) -> None:
    p = tmp_path / "run.txt"
    p.write_text(RUN_TEXT)
    run = read_run(p)
    assert run.qid_list() == ["1", "2"]
    # equal scores: trec_eval breaks ties by doc id, descending
    assert run.docids.to_pylist() == ["d3", "d2", "d1", "d9"]
    assert run.metadata["tag"] == "sys"


@pytest.mark.parametrize("suffix", ["", ".gz"])
def test_run_round_trip_is_bit_identical(tmp_path: Path, run: Run, suffix: str) -> None:
    a, b = tmp_path / f"a.run{suffix}", tmp_path / f"b.run{suffix}"
    write_run(run, a)
    again = read_run(a)
    assert again.equals(run)
    np.testing.assert_array_equal(again.scores, run.scores)  # bit for bit, not approx
    write_run(again, b)
    assert _content(a) == _content(b)


def test_qrels_round_trip_is_bit_identical(tmp_path: Path) -> None:
    qrels = Qrels.from_arrays(["1", "1", "2", "3"], ["a", "b", "a", "z"], [2, 0, -1, 1])
    a, b = tmp_path / "a.qrels", tmp_path / "b.qrels"
    write_qrels(qrels, a)
    again = read_qrels(a)
    assert again.to_dict() == qrels.to_dict()
    write_qrels(again, b)
    assert a.read_bytes() == b.read_bytes()


def _content(p: Path) -> bytes:
    data = p.read_bytes()
    return gzip.decompress(data) if p.suffix == ".gz" else data


def test_empty_run_file_is_a_run_without_queries(tmp_path: Path) -> None:
    p = tmp_path / "empty.run"
    p.write_text("\n\n")
    run = read_run(p)
    assert run.n_queries == 0 and len(run) == 0


def test_crlf_tabs_and_extra_blanks_are_accepted(tmp_path: Path) -> None:
    p = tmp_path / "run.txt"
    p.write_bytes(b"1\tQ0  d1 1 3.0 t\r\n\r\n 1 Q0 d2 2 2.0 t \r\n")
    assert read_run(p).docids.to_pylist() == ["d1", "d2"]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("1 Q0 d1 1 2.0 t\n1 Q0 d2 2 t\n", 2, "expected 6 columns"),
        ("1 Q0 d1 1 2.0 t extra\n", 1, "expected 6 columns"),
        ("1 Q0 d1 1 high t\n", 1, "numeric score"),
        ("1 Q0 d1 1 nan t\n", 1, "NaN"),
        ("1 Q0 d1 1 2.0 t\n1 Q0 d2 2 1.0 t\n1 Q0 d1 3 0.5 t\n", 3, "more than once"),
    ],
)
def test_bad_run_lines_name_the_line(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = tmp_path / "bad.run"
    p.write_text(text)
    with pytest.raises(FormatError) as err:
        read_run(p)
    assert err.value.line == line
    assert needle in str(err.value)
    assert str(p) in str(err.value)


def test_duplicates_can_be_allowed(tmp_path: Path) -> None:
    p = tmp_path / "dup.run"
    p.write_text("1 Q0 d1 1 2.0 t\n1 Q0 d1 2 1.0 t\n")
    assert len(read_run(p, allow_duplicates=True)) == 2


@pytest.mark.parametrize(
    ("data", "needle"),
    [
        (b"1 Q0 d1 1 2.0 t\n1 Q0 d\xe9 2 1.0 t\n", "UTF-8"),
        (b"\x00\x01\x02binary\x00", "NUL"),
        (b"\x1f\x8b\x08\x00garbage", "decompress"),
    ],
)
def test_bad_encodings_and_binary(tmp_path: Path, data: bytes, needle: str) -> None:
    p = tmp_path / "bad.run"
    p.write_bytes(data)
    with pytest.raises(FormatError, match=needle):
        read_run(p)


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("1 0 d1 1\n1 0 d2\n", 2, "expected 4 columns"),
        ("1 0 d1 yes\n", 1, "integer relevance"),
        ("1 0 d1 1.5\n", 1, "integer relevance"),
    ],
)
def test_bad_qrels_lines(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = tmp_path / "bad.qrels"
    p.write_text(text)
    with pytest.raises(FormatError) as err:
        read_qrels(p)
    assert err.value.line == line and needle in str(err.value)


def test_qrels_duplicate_pair(tmp_path: Path) -> None:
    p = tmp_path / "dup.qrels"
    p.write_text("1 0 d1 1\n1 0 d1 0\n")
    with pytest.raises(FormatError, match="more than once"):
        read_qrels(p)
    assert read_qrels(p, on_duplicate="last").to_dict() == {"1": {"d1": 0}}


def test_missing_file_is_a_format_error(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="not found"):
        read_run(tmp_path / "nope.run")


def test_write_refuses_ids_with_spaces(tmp_path: Path) -> None:
    run = Run.from_arrays(["q 1"], ["d"], [1.0])
    with pytest.raises(DataError):
        write_run(run, tmp_path / "x.run")


def test_real_qrels(datasets_dir: Path) -> None:
    qrels = read_qrels(datasets_dir / "beir/nfcorpus/qrels.beir-v1.0.0-nfcorpus.test.txt")
    assert qrels.n_queries == 323 and len(qrels) == 12334
    assert sorted(set(qrels.labels.tolist())) == [1, 2]


_ids = st.text(alphabet="abcdefgXYZ0123456789-_.:", min_size=1, max_size=8)


@settings(
    max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    rows=st.lists(
        st.tuples(_ids, _ids, st.floats(allow_nan=False, width=64)), min_size=0, max_size=30
    )
)
def test_run_round_trip_property(tmp_path: Path, rows: list[tuple[str, str, float]]) -> None:
    seen: set[tuple[str, str]] = set()
    rows = [r for r in rows if (r[0], r[1]) not in seen and not seen.add((r[0], r[1]))]  # type: ignore[func-returns-value]
    run = Run.from_arrays([r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows])
    p = tmp_path / "prop.run"
    write_run(run, p)
    assert read_run(p).equals(run)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(data=st.binary(max_size=300))
def test_random_bytes_never_crash(tmp_path: Path, data: bytes) -> None:
    p = tmp_path / "fuzz.txt"
    p.write_bytes(data)
    for reader in (read_run, read_qrels):
        with contextlib.suppress(FormatError, DataError):
            reader(p)


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    line=st.integers(0, 3),
    pos=st.integers(0, 40),
    junk=st.text(max_size=6),
)
def test_mutated_lines_never_crash(tmp_path: Path, line: int, pos: int, junk: str) -> None:
    lines = RUN_TEXT.splitlines()
    victim = lines[line]
    lines[line] = victim[:pos] + junk + victim[pos + len(junk) :]
    p = tmp_path / "mut.run"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8", errors="surrogatepass")
    with contextlib.suppress(FormatError, DataError):
        read_run(p)
