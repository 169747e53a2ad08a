"""JSON Lines queries, corpora, runs and qrels: fast path, slow path, every bad-input case."""

from __future__ import annotations

import json
import logging
from pathlib import Path

import numpy as np
import pytest

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.exceptions import FormatError
from rankstack.io import (
    read_corpus_jsonl,
    read_qrels_jsonl,
    read_queries_jsonl,
    read_run_jsonl,
    write_corpus_jsonl,
    write_qrels_jsonl,
    write_queries_jsonl,
    write_run_jsonl,
)


def _write(tmp_path: Path, text: str | bytes, name: str = "f.jsonl") -> Path:
    p = tmp_path / name
    if isinstance(text, str):
        p.write_text(text, encoding="utf-8")
    else:
        p.write_bytes(text)
    return p


def test_beir_queries_ignore_metadata(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        '{"_id": "1", "text": "a b", "metadata": {"9": [{"s": [1]}]}}\n'
        "\n"
        '{"_id": "2", "text": "c", "metadata": {}}\r\n',
    )
    q = read_queries_jsonl(p)
    assert q.to_dict() == {"1": "a b", "2": "c"}


@pytest.mark.parametrize("key", ["qid", "_id", "query_id", "id"])
@pytest.mark.parametrize("text_key", ["text", "query"])
def test_query_key_aliases(tmp_path: Path, key: str, text_key: str) -> None:
    p = _write(tmp_path, json.dumps({key: "q1", text_key: "hello"}) + "\n")
    assert read_queries_jsonl(p).to_dict() == {"q1": "hello"}


def test_integer_ids_take_the_slow_path(tmp_path: Path) -> None:
    p = _write(tmp_path, '{"_id": 7, "text": "x"}\n{"_id": "8", "text": "y"}\n')
    assert read_queries_jsonl(p).qid_list() == ["7", "8"]


def test_empty_query_text_is_kept_with_a_warning(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    p = _write(tmp_path, '{"_id": "1", "text": ""}\n{"_id": "2", "text": "ok"}\n')
    with caplog.at_level(logging.WARNING):
        q = read_queries_jsonl(p)
    assert len(q) == 2
    assert "empty text" in caplog.text


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ('{"_id": "1", "text": "a"}\n[1, 2]\n', 2, "found an array"),
        ('{"_id": "1", "text": "a"}\n"just a string"\n', 2, "found a string"),
        ('{"_id": "1", "text": "a"}\n{"_id": "2", "text": "b"\n', 2, "one JSON object per line"),
        ('{"_id": "1", "text": "a"}\n{"text": "b"}\n', 2, "missing required key"),
        ('{"_id": "1"}\n', 1, "missing required key 'text' or 'query'"),
        ('{"_id": "1", "text": "a"}\n\n{"_id": "1", "text": "b"}\n', 3, "appears again"),
        ('{"_id": "", "text": "a"}\n', 1, "empty"),
        ('{"_id": "1", "text": 5}\n', 1, "must be a string"),
        ('{"_id": 1.5, "text": "a"}\n', 1, "string or integer"),
        ('{"_id": "1", "text": "a"} {"_id": "2", "text": "b"}\n', 1, "one JSON object per line"),
        ('{"_id": "1", "_id": "2", "text": "a"}\n', 1, "appears twice"),
        ('{"_id": "1", "text": "\\ud800"}\n', 1, "surrogate"),
    ],
)
def test_bad_query_lines(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = _write(tmp_path, text)
    with pytest.raises(FormatError) as err:
        read_queries_jsonl(p)
    assert err.value.line == line, str(err.value)
    assert needle in str(err.value)
    assert str(p) in str(err.value)


@pytest.mark.parametrize("content", [b"", b"\n  \n"])
def test_empty_queries_file_is_an_error(tmp_path: Path, content: bytes) -> None:
    with pytest.raises(FormatError, match="at least one query"):
        read_queries_jsonl(_write(tmp_path, content))


def test_bad_encoding_names_the_line(tmp_path: Path) -> None:
    p = _write(tmp_path, b'{"_id": "1", "text": "a"}\n{"_id": "2", "text": "caf\xe9"}\n')
    with pytest.raises(FormatError) as err:
        read_queries_jsonl(p)
    assert err.value.line == 2 and "UTF-8" in str(err.value)


def test_bom_is_ignored(tmp_path: Path) -> None:
    p = _write(tmp_path, b'\xef\xbb\xbf{"_id": "1", "text": "a"}\n')
    assert read_queries_jsonl(p).to_dict() == {"1": "a"}


def test_corpus_fields_detected_and_optional_title(tmp_path: Path) -> None:
    p = _write(
        tmp_path,
        '{"_id": "d1", "title": "T", "text": "body", "metadata": {"x": 1}}\n'
        '{"_id": "d2", "text": "other"}\n',
    )
    c = read_corpus_jsonl(p)
    assert c.field_names == ["title", "text"] and c.text_field == "text"
    assert c.fields["title"].to_pylist() == ["T", ""]


def test_pyserini_layout(tmp_path: Path) -> None:
    p = _write(tmp_path, '{"id": "d1", "contents": "hello world"}\n')
    c = read_corpus_jsonl(p)
    assert c.text_field == "contents" and c.docid_list() == ["d1"]


def test_corpus_errors(tmp_path: Path) -> None:
    with pytest.raises(FormatError, match="at least one document"):
        read_corpus_jsonl(_write(tmp_path, ""))
    dup = '{"_id": "d", "text": "a"}\n{"_id": "d", "text": "b"}\n'
    with pytest.raises(FormatError, match="first at line 1") as err:
        read_corpus_jsonl(_write(tmp_path, dup))
    assert err.value.line == 2
    with pytest.raises(FormatError, match="'text'") as err:
        read_corpus_jsonl(_write(tmp_path, '{"_id": "d", "text": "a"}\n{"_id": "e"}\n'))
    assert err.value.line == 2


def test_long_lines_beyond_arrow_block_size(tmp_path: Path) -> None:
    body = "word " * 400_000  # 2 MB on one line, larger than the default 1 MB block
    p = _write(tmp_path, json.dumps({"_id": "big", "text": body}) + "\n")
    assert len(read_corpus_jsonl(p).fields["text"][0].as_py()) == len(body)


def test_round_trips(tmp_path: Path) -> None:
    q = Queries.from_arrays(["1", "2"], ['quote " back\\slash', "tab\tnew\nline \x01 é"])
    write_queries_jsonl(q, tmp_path / "q.jsonl")
    assert read_queries_jsonl(tmp_path / "q.jsonl").to_dict() == q.to_dict()
    c = Corpus.from_arrays(["a", "b"], fields={"title": ["t", ""], "text": ['x"y', "z"]})
    write_corpus_jsonl(c, tmp_path / "c.jsonl.gz")
    back = read_corpus_jsonl(tmp_path / "c.jsonl.gz")
    assert back.fields["text"].equals(c.fields["text"]) and back.fields["title"].equals(
        c.fields["title"]
    )
    lines = (tmp_path / "q.jsonl").read_text().splitlines()
    assert [json.loads(x)["text"] for x in lines] == q.text_list()


def test_run_round_trip_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    run = Run.from_arrays(
        rng.integers(0, 5, 100).astype(str),
        [f"d{i}" for i in range(100)],
        np.concatenate([rng.normal(size=98), [np.inf, -np.inf]]),
    )
    write_run_jsonl(run, tmp_path / "r.jsonl")
    back = read_run_jsonl(tmp_path / "r.jsonl")
    assert back.equals(run)
    np.testing.assert_array_equal(back.scores, run.scores)


def test_run_errors(tmp_path: Path) -> None:
    bad = '{"qid": "1", "docno": "a", "score": 1}\n{"qid": "1", "docno": "a", "score": 2}\n'
    with pytest.raises(FormatError, match="listed again") as err:
        read_run_jsonl(_write(tmp_path, bad))
    assert err.value.line == 2
    with pytest.raises(FormatError, match="must be a number"):
        read_run_jsonl(_write(tmp_path, '{"qid": "1", "docno": "a", "score": "high"}\n'))
    with pytest.raises(FormatError, match="NaN"):
        read_run_jsonl(_write(tmp_path, '{"qid": "1", "docno": "a", "score": NaN}\n'))
    assert read_run_jsonl(_write(tmp_path, "")).n_queries == 0


def test_qrels_round_trip_and_errors(tmp_path: Path) -> None:
    qrels = Qrels.from_arrays(["1", "1", "2"], ["a", "b", "a"], [1, 0, 2])
    write_qrels_jsonl(qrels, tmp_path / "q.jsonl")
    assert read_qrels_jsonl(tmp_path / "q.jsonl").to_dict() == qrels.to_dict()
    with pytest.raises(FormatError, match="integer"):
        read_qrels_jsonl(_write(tmp_path, '{"qid": "1", "docno": "a", "label": 0.5}\n'))


def test_real_scifact(datasets_dir: Path) -> None:
    c = read_corpus_jsonl(datasets_dir / "beir/scifact/corpus.jsonl.gz")
    assert len(c) == 5183 and c.field_names == ["title", "text"]
    q = read_queries_jsonl(datasets_dir / "beir/scifact/queries.jsonl")
    assert len(q) == 1109
