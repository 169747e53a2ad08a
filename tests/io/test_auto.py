"""Format detection for paths given to load_* and the CLI."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from rankstack.data import Qrels, Run
from rankstack.exceptions import FormatError
from rankstack.io import (
    detect_format,
    read_corpus_file,
    read_qrels_file,
    read_queries_file,
    read_run_file,
    write_qrels_parquet,
    write_run_jsonl,
)


@pytest.mark.parametrize(
    ("name", "content", "kind", "expected"),
    [
        ("q.jsonl", b'{"_id": "1", "text": "a"}\n', "queries", "jsonl"),
        ("q.jsonl.gz", gzip.compress(b'{"_id": "1", "text": "a"}\n'), "queries", "jsonl"),
        ("topics.txt", b"1\thello\n", "queries", "tsv"),
        ("unnamed", b'{"_id": "1", "text": "a"}\n', "queries", "jsonl"),
        ("cran.qry", b".I 001\n.W\nq\n", "queries", "cranfield"),
        ("qrels.txt", b"1 0 d1 1\n", "qrels", "trec"),
        ("test.tsv", b"query-id\tcorpus-id\tscore\n1\td\t1\n", "qrels", "beir-tsv"),
        ("q.gz", gzip.compress(b"1\td\t1\n"), "qrels", "beir-tsv"),
        ("cranqrel", b"1 2 3\n", "qrels", "cranfield"),
        ("train.txt", b"1 qid:1 1:0.5 2:1 #docid = a\n", "qrels", "letor"),
        ("short.txt", b"1 qid:1 1:0.5 2:1\n", "qrels", "letor"),
        ("run.txt", b"1 Q0 d 1 1.0 t\n", "run", "trec"),
        ("docs", b".I 1\n.W\nx\n", "corpus", "cranfield"),
        ("docs.tsv", b"d1\tx\n", "corpus", "tsv"),
    ],
)
def test_detect(tmp_path: Path, name: str, content: bytes, kind: str, expected: str) -> None:
    p = tmp_path / name
    p.write_bytes(content)
    assert detect_format(p, kind) == expected


def test_detect_parquet_by_content(tmp_path: Path) -> None:
    p = tmp_path / "qrels.bin"
    write_qrels_parquet(Qrels.from_arrays(["1"], ["a"], [1]), p)
    assert detect_format(p, "qrels") == "parquet"
    assert read_qrels_file(p).to_dict() == {"1": {"a": 1}}


def test_unsure_says_what_was_expected(tmp_path: Path) -> None:
    p = tmp_path / "mystery.txt"
    p.write_text("a b c\n")
    with pytest.raises(FormatError, match="cannot tell the qrels format") as err:
        read_qrels_file(p)
    assert "format=" in str(err.value) and "trec" in str(err.value)
    with pytest.raises(FormatError, match="unknown run format"):
        read_run_file(p, format="csv")
    with pytest.raises(FormatError, match="not found"):
        read_run_file(tmp_path / "absent.txt")


def test_single_member_zip(tmp_path: Path) -> None:
    z = tmp_path / "run.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("run.trec", "1 Q0 d 1 1.0 t\n")
    assert read_run_file(z).docids.to_pylist() == ["d"]


def test_runs(tmp_path: Path) -> None:
    run = Run.from_arrays(["1"], ["d"], [2.0])
    write_run_jsonl(run, tmp_path / "r.jsonl")
    assert read_run_file(tmp_path / "r.jsonl").equals(run)


def test_real_files(datasets_dir: Path) -> None:
    assert len(read_corpus_file(datasets_dir / "beir/scifact")) == 5183
    assert len(read_corpus_file(datasets_dir / "cranfield/cran.all.1400")) == 1400
    assert len(read_queries_file(datasets_dir / "beir/scifact/queries.jsonl")) == 1109
    assert len(read_queries_file(datasets_dir / "cranfield/cran.qry")) == 225
    nf = datasets_dir / "beir/nfcorpus/topics.beir-v1.0.0-nfcorpus.test.tsv.gz"
    assert len(read_queries_file(nf)) == 323
    assert len(read_qrels_file(datasets_dir / "beir/scifact/qrels/test.tsv")) == 339
    assert len(read_qrels_file(datasets_dir / "cranfield/cranqrel")) == 1837
    letor = datasets_dir / "letor/mq2008/Fold1/vali.txt.gz"
    assert read_qrels_file(letor).n_queries == 157
