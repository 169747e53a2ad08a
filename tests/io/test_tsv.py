"""Tab-separated queries (Anserini topics) and corpora."""

from __future__ import annotations

import gzip
from pathlib import Path

import pytest

from rankstack.data import Corpus, Queries
from rankstack.exceptions import DataError, FormatError
from rankstack.io import read_corpus_tsv, read_queries_tsv, write_corpus_tsv, write_queries_tsv


def test_topics_with_tabs_in_text_and_crlf(tmp_path: Path) -> None:
    p = tmp_path / "topics.tsv.gz"
    p.write_bytes(
        gzip.compress(b"PLAIN-2\tDo statins\tcause cancer?\r\n\r\nPLAIN-12\tAutophagy\r\n")
    )
    q = read_queries_tsv(p)
    assert q.to_dict() == {"PLAIN-2": "Do statins\tcause cancer?", "PLAIN-12": "Autophagy"}


def test_header_is_skipped(tmp_path: Path) -> None:
    p = tmp_path / "q.tsv"
    p.write_text("qid\tquery\n1\thello\n")
    assert read_queries_tsv(p).to_dict() == {"1": "hello"}


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("1\thello\n2 no tab here\n", 2, "expected 2 tab-separated"),
        ("1\thello\n1\tagain\n", 2, "appears again"),
        ("\t hello\n", 1, "empty"),
    ],
)
def test_bad_queries(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = tmp_path / "q.tsv"
    p.write_text(text)
    with pytest.raises(FormatError) as err:
        read_queries_tsv(p)
    assert err.value.line == line and needle in str(err.value)


def test_empty_queries_file(tmp_path: Path) -> None:
    p = tmp_path / "q.tsv"
    p.write_text("")
    with pytest.raises(FormatError, match="at least one query"):
        read_queries_tsv(p)


def test_corpus_layouts(tmp_path: Path) -> None:
    p = tmp_path / "c.tsv"
    p.write_text("d1\thello world\nd2\tbye\n")
    assert read_corpus_tsv(p).field_names == ["text"]
    p.write_text("d1\tTitle\thello world\n")
    c = read_corpus_tsv(p)
    assert c.field_names == ["title", "text"] and c.fields["title"].to_pylist() == ["Title"]
    p.write_text("docno\tbody\td1\n")  # header naming a custom field
    p.write_text("docno\tbody\nd1\tsome body\n")
    c = read_corpus_tsv(p)
    assert c.field_names == ["body"] and c.text_field == "body"


def test_bad_corpus(tmp_path: Path) -> None:
    p = tmp_path / "c.tsv"
    p.write_text("d1\tTitle\ttext\nd2\tonly text\n")
    with pytest.raises(FormatError, match="expected 3 tab-separated") as err:
        read_corpus_tsv(p)
    assert err.value.line == 2
    p.write_text("just one column\n")
    with pytest.raises(FormatError, match="expected 'docid<TAB>text'"):
        read_corpus_tsv(p)
    p.write_text("")
    with pytest.raises(FormatError, match="at least one document"):
        read_corpus_tsv(p)


def test_round_trips(tmp_path: Path) -> None:
    q = Queries.from_arrays(["a", "b"], ["x y", "é ü"])
    write_queries_tsv(q, tmp_path / "q.tsv")
    assert read_queries_tsv(tmp_path / "q.tsv").to_dict() == q.to_dict()
    c = Corpus.from_arrays(["1", "2"], fields={"title": ["t1", ""], "text": ["b1", "b2"]})
    write_corpus_tsv(c, tmp_path / "c.tsv")
    back = read_corpus_tsv(tmp_path / "c.tsv")
    assert back.field_names == ["title", "text"]
    assert back.fields["title"].equals(c.fields["title"])


def test_write_refuses_tabs_and_newlines(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="JSONL"):
        write_queries_tsv(Queries.from_arrays(["a"], ["x\ny"]), tmp_path / "q.tsv")


def test_real_anserini_topics(datasets_dir: Path) -> None:
    q = read_queries_tsv(datasets_dir / "beir/nfcorpus/topics.beir-v1.0.0-nfcorpus.test.tsv.gz")
    assert len(q) == 323
    a = read_queries_tsv(datasets_dir / "beir/arguana/topics.beir-v1.0.0-arguana.test.tsv.gz")
    assert len(a) == 1406
