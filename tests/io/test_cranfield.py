"""Cranfield: record parsing, the query-id quirk, the relevance-code mapping, real files."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from rankstack.exceptions import DataError, FormatError
from rankstack.io import read_cranfield_corpus, read_cranfield_qrels, read_cranfield_queries

DOCS = """.I 1
.T
first title
.A
someone
.B
j. 1
.W
first title
  body line two .
.I 2
.T
second
.W
text
.A
extra author
.W
more text
"""

QUERIES = ".I 001\r\n.W\r\nwhat is\r\nlift ?\r\n.I 004\r\n.W\r\nwhy .\r\n"


def test_docs(tmp_path: Path) -> None:
    p = tmp_path / "cran.all"
    p.write_text(DOCS)
    c = read_cranfield_corpus(p, fields=("title", "text", "author", "bib"))
    assert c.docid_list() == ["1", "2"]
    assert c.fields["text"].to_pylist() == ["first title\n  body line two .", "text\nmore text"]
    assert c.fields["author"].to_pylist() == ["someone", "extra author"]
    assert c.fields["bib"].to_pylist() == ["j. 1", ""]
    assert read_cranfield_corpus(p).field_names == ["title", "text"]


def test_queries_are_numbered_in_file_order(tmp_path: Path) -> None:
    p = tmp_path / "cran.qry"
    p.write_bytes(QUERIES.encode())
    q = read_cranfield_queries(p)
    assert q.to_dict() == {"1": "what is\nlift ?", "2": "why ."}
    assert q.extra["original_id"].to_pylist() == ["001", "004"]


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("junk\n.I 1\n.W\nx\n", 1, "expected a record start"),
        (".I 1\nstray text\n.W\nx\n", 2, "expected a field marker"),
        (".I\n.W\nx\n", 1, "needs an id"),
        (".I 1\n.W\nx\n.I 1\n.W\ny\n", 4, "appears again"),
        ("", 1, "expected a record start"),
    ],
)
def test_bad_docs(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = tmp_path / "cran.all"
    p.write_text(text)
    with pytest.raises(FormatError) as err:
        read_cranfield_corpus(p)
    assert err.value.line == line and needle in str(err.value)


def test_unexpected_marker_in_queries(tmp_path: Path) -> None:
    p = tmp_path / "cran.qry"
    p.write_text(".I 1\n.T\ntitle\n")
    with pytest.raises(FormatError, match=r"unexpected field marker '\.T'") as err:
        read_cranfield_queries(p)
    assert err.value.line == 2


@pytest.mark.parametrize(
    ("grades", "expected"),
    [
        ("relevance", [4, 3, 2, 1, 0, 0]),
        ("raw", [1, 2, 3, 4, 5, -1]),
        ("binary", [1, 1, 1, 1, 0, 0]),
    ],
)
def test_qrels_grades(tmp_path: Path, grades: str, expected: list[int]) -> None:
    p = tmp_path / "cranqrel"
    p.write_text("1 10 1\n1 11 2 \n1 12 3\n1 13 4\n1 14 5\n1 15 -1")  # no final newline
    q = read_cranfield_qrels(p, grades=grades)
    assert q.labels.tolist() == expected


def test_qrels_errors(tmp_path: Path) -> None:
    p = tmp_path / "cranqrel"
    p.write_text("1 10 1\n1 11 9\n")
    with pytest.raises(FormatError, match="unknown Cranfield relevance code 9") as err:
        read_cranfield_qrels(p)
    assert err.value.line == 2
    assert read_cranfield_qrels(p, grades="raw").labels.tolist() == [1, 9]
    with pytest.raises(DataError):
        read_cranfield_qrels(p, grades="graded")
    p.write_text("1 10\n")
    with pytest.raises(FormatError, match="expected 3 columns"):
        read_cranfield_qrels(p)


def test_real_cranfield(datasets_dir: Path) -> None:
    d = datasets_dir / "cranfield"
    corpus = read_cranfield_corpus(d / "cran.all.1400")
    assert len(corpus) == 1400 and corpus.docid_list()[:2] == ["1", "2"]
    queries = read_cranfield_queries(d / "cran.qry")
    assert len(queries) == 225 and queries.qid_list()[-1] == "225"
    assert queries.extra["original_id"][-1].as_py() == "365"
    qrels = read_cranfield_qrels(d / "cranqrel")
    assert (qrels.n_queries, len(qrels)) == (225, 1837)
    labels, counts = np.unique(qrels.labels, return_counts=True)
    # codes 1:128, 2:387, 3:734, 4:363, -1:225 (datasets README) -> gains 4, 3, 2, 1, 0
    assert dict(zip(labels.tolist(), counts.tolist())) == {4: 128, 3: 387, 2: 734, 1: 363, 0: 225}
    assert set(qrels.qid_list()) == set(queries.qid_list())


_PARITY_SCRIPT = """
import json, sys
import ir_datasets
ds = ir_datasets.load("cranfield")
out = {
    "docs": [[d.doc_id, d.title, d.text, d.author, d.bib] for d in ds.docs_iter()],
    "queries": [[q.query_id, q.text] for q in ds.queries_iter()],
    "qrels": sorted([q.query_id, q.doc_id, q.relevance] for q in ds.qrels_iter()),
}
json.dump(out, sys.stdout)
"""


@pytest.mark.slow
def test_parity_with_ir_datasets(datasets_dir: Path, tmp_path: Path) -> None:
    """Same documents, queries and raw qrels as ir_datasets' ``cranfield``, read offline.

    ir_datasets runs in a subprocess whose home holds the local tarball (same md5 as its
    download), so it never goes online.
    """
    pytest.importorskip("ir_datasets")
    home = tmp_path / "irds"
    (home / "cranfield").mkdir(parents=True)
    shutil.copy(datasets_dir / "cranfield/cran.tar.gz", home / "cranfield/cran.tar.gz")
    env = {**os.environ, "IR_DATASETS_HOME": str(home)}
    done = subprocess.run(
        [sys.executable, "-c", _PARITY_SCRIPT], env=env, capture_output=True, timeout=300
    )
    if done.returncode != 0:
        pytest.fail(done.stderr.decode()[-2000:])
    ref = json.loads(done.stdout)
    d = datasets_dir / "cranfield"
    c = read_cranfield_corpus(d / "cran.all.1400", fields=("title", "text", "author", "bib"))
    mine = [
        list(row)
        for row in zip(
            c.docid_list(), *(c.fields[f].to_pylist() for f in ("title", "text", "author", "bib"))
        )
    ]
    assert mine == ref["docs"]
    q = read_cranfield_queries(d / "cran.qry")
    assert [list(x) for x in zip(q.qid_list(), q.text_list())] == ref["queries"]
    raw = read_cranfield_qrels(d / "cranqrel", grades="raw").to_dict()
    assert sorted([qq, dd, g] for qq, docs in raw.items() for dd, g in docs.items()) == ref["qrels"]
