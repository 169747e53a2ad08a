"""LETOR / SVMlight / LibSVM ranking files: parsing, alignment, bad input, real data."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest

from rankstack.data import Run
from rankstack.exceptions import DataError, FormatError
from rankstack.io import LetorData, read_group_sizes, read_letor, write_letor

MQ = (
    "2 qid:10 1:0.5 2:0.25 3:1 #docid = B inc = 1 prob = 0.1\n"
    "0 qid:10 1:0.1 3:0.75 #docid = A inc = 1 prob = 0.2\n"
    "1 qid:10 2:1.5 #docid = C\n"
    "\n"
    "# a comment line\n"
    "0 qid:7 1:1 2:2 3:3 #docid = Z\n"
)


def _write(tmp_path: Path, text: str, name: str = "f.txt") -> Path:
    p = tmp_path / name
    p.write_text(text)
    return p


def _reference(text: str) -> dict[tuple[str, str], tuple[int, list[float]]]:
    """A naive per-line parse to check the vectorised one against."""
    out = {}
    for line in text.splitlines():
        body, _, comment = line.partition("#")
        tok = body.split()
        if not tok:
            continue
        qid = tok[1][4:]
        feats = [0.0] * 3
        for t in tok[2:]:
            i, v = t.split(":")
            feats[int(i) - 1] = float(v)
        docid = comment.split("docid = ")[1].split()[0]
        out[(qid, docid)] = (int(float(tok[0])), feats)
    return out


def test_parse_and_alignment(tmp_path: Path) -> None:
    data = read_letor(_write(tmp_path, MQ))
    run = data.run
    assert run.qid_list() == ["10", "7"]
    # equal scores: rows sorted by doc id descending within a query, labels follow
    assert run.docids.to_pylist() == ["C", "B", "A", "Z"]
    assert data.labels.tolist() == [1, 2, 0, 0]
    assert run.feature_names == ("1", "2", "3")
    assert run.features is not None and run.features.dtype == np.float32
    ref = _reference(MQ)
    for i, (q, d) in enumerate(zip(run.qid_column().to_pylist(), run.docids.to_pylist())):
        label, feats = ref[(q, d)]
        assert data.labels[i] == label
        np.testing.assert_array_equal(run.features[i], np.float32(feats))
    assert data.qrels.to_dict() == {"10": {"C": 1, "B": 2, "A": 0}, "7": {"Z": 0}}


def test_same_rows_as_run_from_arrays(tmp_path: Path) -> None:
    data = read_letor(_write(tmp_path, MQ))
    again = Run.from_arrays(
        data.run.qid_column(), data.run.docids, data.run.scores, data.features, ["1", "2", "3"]
    )
    assert again.equals(data.run)


def test_missing_docids_are_synthesised(tmp_path: Path) -> None:
    data = read_letor(_write(tmp_path, "1 qid:3 1:1\n0 qid:3 1:2\n0 qid:4 1:3 #docid = X\n"))
    assert sorted(data.run.docids.to_pylist()) == ["3-0", "3-1", "X"]
    by_doc = dict(zip(data.run.docids.to_pylist(), data.labels.tolist()))
    assert by_doc == {"3-0": 1, "3-1": 0, "X": 0}


def test_libsvm_with_group_file(tmp_path: Path) -> None:
    p = _write(tmp_path, "1 1:0.5 3:1\n0 2:1\n4 1:2\n", "rank.train")
    _write(tmp_path, "2\n1\n", "rank.train.query")
    data = read_letor(p)
    assert data.run.qid_list() == ["1", "2"] and data.group_sizes.tolist() == [2, 1]
    assert data.n_features == 3
    explicit = read_letor(p, group_file=tmp_path / "rank.train.query", n_features=5)
    assert explicit.n_features == 5


def test_libsvm_without_group_file(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match=r"\.query"):
        read_letor(_write(tmp_path, "1 1:0.5\n"))


def test_group_sizes_must_add_up(tmp_path: Path) -> None:
    p = _write(tmp_path, "1 1:0.5\n0 1:1\n", "x.txt")
    _write(tmp_path, "3\n", "x.txt.query")
    with pytest.raises(FormatError, match="add up to 3"):
        read_letor(p)
    _write(tmp_path, "2\n0\n", "x.txt.query")
    with pytest.raises(FormatError, match=">= 1") as err:
        read_group_sizes(tmp_path / "x.txt.query")
    assert err.value.line == 2


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("x qid:1 1:0.5\n", 1, "expected a number for the relevance label"),
        ("0.5 qid:1 1:0.5\n", 1, "integer relevance label"),
        ("1 qid:1 1:0.5\n1 qid:1 1:abc\n", 2, "expected a number for the feature value"),
        ("1 qid:1 1:0.5 2\n", 1, "expected 'index:value'"),
        ("1 qid:1 0:0.5\n", 1, "start at 1"),
        ("1 qid:1 -3:0.5\n", 1, "start at 1"),
        ("1 qid:1 a:0.5\n", 1, "integer for the feature index"),
        ("1 qid:1 1:nan\n", 1, "finite"),
        ("1 qid:1 1:inf\n", 1, "finite"),
        ("nan qid:1 1:1\n", 1, "finite"),
        ("1 qid:1 1:1 1:2\n", 1, "given twice"),
        ("1 qid:1 1:1\n1 2:1\n", 2, "no qid:"),
        ("1 qid: 1:1\n", 1, "empty"),
        ("1 qid:1 1:1 #docid = A\n0 qid:1 1:2 #docid = A\n", 2, "first at line 1"),
        ("1 qid:1 1:1\n1 qid:2 1:1\n1 qid:1 1:1\n", 3, "previous line is 1"),
    ],
)
def test_bad_lines(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(FormatError) as err:
        read_letor(p)
    assert err.value.line == line, str(err.value)
    assert needle in str(err.value)
    assert str(p) in str(err.value)


def test_interleaved_queries_can_be_grouped(tmp_path: Path) -> None:
    p = _write(tmp_path, "1 qid:1 1:1\n0 qid:2 1:2\n2 qid:1 1:3\n")
    data = read_letor(p, allow_interleaved=True)
    assert data.run.qid_list() == ["1", "2"] and data.group_sizes.tolist() == [2, 1]
    by_doc = dict(zip(data.run.docids.to_pylist(), data.labels.tolist()))
    assert by_doc == {"1-0": 1, "1-1": 2, "2-0": 0}


def test_index_above_n_features(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="above n_features=2"):
        read_letor(_write(tmp_path, "1 qid:1 3:1\n"), n_features=2)


def test_empty_file_is_an_empty_set(tmp_path: Path) -> None:
    data = read_letor(_write(tmp_path, "\n# only a comment\n"), n_features=4)
    assert len(data) == 0 and data.n_features == 4


def test_round_trip(tmp_path: Path) -> None:
    data = read_letor(_write(tmp_path, MQ))
    for kwargs in ({}, {"sparse": True}):
        out = tmp_path / f"out{len(kwargs)}.txt.gz"
        write_letor(data, out, **kwargs)
        back = read_letor(out, n_features=3)
        assert back.run.equals(data.run)
        np.testing.assert_array_equal(back.labels, data.labels)


def test_float32_values_survive_exactly(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    feats = rng.normal(size=(50, 7)).astype(np.float32) * np.float32(1e-3)
    run = Run.from_arrays(
        rng.integers(0, 4, 50).astype(str),
        [f"d{i}" for i in range(50)],
        np.zeros(50),
        feats,
        [str(i + 1) for i in range(7)],
    )
    data = LetorData(run, rng.integers(0, 3, 50).astype(np.int32))
    write_letor(data, tmp_path / "x.txt")
    back = read_letor(tmp_path / "x.txt", allow_interleaved=True)
    assert back.run.equals(data.run)
    np.testing.assert_array_equal(back.features, data.features)


def test_write_refuses_nan_and_spaces(tmp_path: Path) -> None:
    run = Run.from_arrays(["1"], ["d"], [0.0], np.array([[np.nan]]), ["1"])
    with pytest.raises(DataError, match="NaN"):
        write_letor(LetorData(run, np.zeros(1, np.int32)), tmp_path / "x.txt")
    run = Run.from_arrays(["1"], ["d d"], [0.0], np.array([[1.0]]), ["1"])
    with pytest.raises(DataError, match="whitespace"):
        write_letor(LetorData(run, np.zeros(1, np.int32)), tmp_path / "x.txt")


def test_letordata_checks() -> None:
    run = Run.from_arrays(["1"], ["d"], [0.0])
    with pytest.raises(DataError, match="feature matrix"):
        LetorData(run, np.zeros(1, np.int32))
    run = run.with_features(np.zeros((1, 2), np.float32), ["a", "b"])
    with pytest.raises(DataError, match="labels"):
        LetorData(run, np.zeros(2, np.int32))


def test_real_mq2008(datasets_dir: Path) -> None:
    path = datasets_dir / "letor/mq2008/Fold1/train.txt.gz"
    start = time.perf_counter()
    data = read_letor(path)
    elapsed = time.perf_counter() - start
    assert (data.run.n_queries, len(data), data.n_features) == (471, 9630, 46)
    assert np.bincount(data.labels).tolist() == [7820, 1223, 587]
    assert elapsed < 2.0  # well under a second on a quiet machine; loose bound for CI
    # the five test partitions hold 784 queries and 15,211 lines (LETOR 4.0's published counts)
    tests = [read_letor(datasets_dir / f"letor/mq2008/Fold{k}/test.txt.gz") for k in range(1, 6)]
    assert sum(len(t) for t in tests) == 15211
    assert sum(t.run.n_queries for t in tests) == 784


def test_real_mq2008_against_naive_parse(datasets_dir: Path) -> None:
    import gzip

    path = datasets_dir / "letor/mq2008/Fold1/vali.txt.gz"
    text = gzip.decompress(path.read_bytes()).decode()
    data = read_letor(path)
    index = {
        (q, d): i
        for i, (q, d) in enumerate(
            zip(data.run.qid_column().to_pylist(), data.run.docids.to_pylist())
        )
    }
    for line in text.splitlines()[::97]:
        body, _, comment = line.partition("#")
        tok = body.split()
        row = index[(tok[1][4:], comment.split()[2])]
        assert data.labels[row] == int(tok[0])
        expected = np.array([float(t.split(":")[1]) for t in tok[2:]], dtype=np.float32)
        np.testing.assert_array_equal(data.features[row], expected)


def test_real_lightgbm_example(datasets_dir: Path) -> None:
    d = datasets_dir / "lightgbm-lambdarank"
    train = read_letor(d / "rank.train")
    assert (train.run.n_queries, len(train)) == (201, 3005)
    assert sorted(train.group_sizes.tolist()) == sorted(
        read_group_sizes(d / "rank.train.query").tolist()
    )
    test = read_letor(d / "rank.test", n_features=train.n_features)
    assert (test.run.n_queries, len(test)) == (50, 768)
    assert set(np.unique(train.labels).tolist()) <= {0, 1, 2, 3, 4}
