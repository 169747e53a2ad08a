"""BEIR folders and zips: layout, splits, compressed members, qrels TSV quirks."""

from __future__ import annotations

import gzip
import zipfile
from pathlib import Path

import pytest

from rankstack.data import Qrels
from rankstack.exceptions import DataError, FormatError
from rankstack.io import (
    BeirFolder,
    read_beir_corpus,
    read_beir_qrels,
    read_beir_qrels_tsv,
    read_beir_queries,
    write_beir_qrels_tsv,
)

CORPUS = (
    '{"_id": "d1", "title": "First", "text": "alpha beta", "metadata": {}}\n'
    '{"_id": "d2", "title": "", "text": "gamma", "metadata": {"k": "v"}}\n'
    '{"_id": "d3", "title": "Third", "text": "delta"}\n'
)
QUERIES = (
    '{"_id": "q1", "text": "alpha?", "metadata": {}}\n'
    '{"_id": "q2", "text": "gamma?"}\n'
    '{"_id": "q3", "text": "delta?"}\n'
)
TEST = "query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\nq3\td3\t2\r\n"
TRAIN = "query-id\tcorpus-id\tscore\nq2\td2\t1\n"


def _make(root: Path, *, gz: bool = False) -> Path:
    (root / "qrels").mkdir(parents=True)
    if gz:
        (root / "corpus.jsonl.gz").write_bytes(gzip.compress(CORPUS.encode()))
    else:
        (root / "corpus.jsonl").write_text(CORPUS)
    (root / "queries.jsonl").write_text(QUERIES)
    (root / "qrels" / "test.tsv").write_bytes(TEST.encode())
    (root / "qrels" / "train.tsv").write_text(TRAIN)
    return root


def _zip(folder: Path, target: Path, top: str | None) -> Path:
    with zipfile.ZipFile(target, "w") as zf:
        for f in sorted(folder.rglob("*")):
            if f.is_file():
                rel = f.relative_to(folder).as_posix()
                zf.write(f, f"{top}/{rel}" if top else rel)
    return target


@pytest.fixture(params=["folder", "folder-gz", "zip-top", "zip-flat"])
def beir_path(request: pytest.FixtureRequest, tmp_path: Path) -> Path:
    folder = _make(tmp_path / "mini", gz=request.param == "folder-gz")
    if request.param == "zip-top":
        return _zip(folder, tmp_path / "mini.zip", "mini")
    if request.param == "zip-flat":
        return _zip(folder, tmp_path / "flat.zip", None)
    return folder


def test_layouts(beir_path: Path) -> None:
    folder = BeirFolder.open(beir_path)
    assert folder.splits == ["train", "test"]
    corpus = read_beir_corpus(beir_path)
    assert corpus.docid_list() == ["d1", "d2", "d3"]
    assert corpus.field_names == ["title", "text"]
    assert read_beir_queries(beir_path).qid_list() == ["q1", "q2", "q3"]
    # BEIR's rule: a split's queries are those judged in its qrels, in queries.jsonl order
    assert read_beir_queries(beir_path, "test").qid_list() == ["q1", "q3"]
    assert read_beir_queries(beir_path, "train").qid_list() == ["q2"]
    assert read_beir_qrels(beir_path, "test").to_dict() == {"q1": {"d1": 1}, "q3": {"d3": 2}}


def test_missing_split_lists_the_splits(beir_path: Path) -> None:
    with pytest.raises(FormatError, match=r"splits \['train', 'test'\]"):
        read_beir_qrels(beir_path, "dev")


def test_not_a_beir_folder(tmp_path: Path) -> None:
    (tmp_path / "x.txt").write_text("hi")
    with pytest.raises(FormatError, match="expected a BEIR folder"):
        BeirFolder.open(tmp_path)
    z = tmp_path / "other.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("readme.txt", "hi")
    with pytest.raises(FormatError, match="BEIR zip"):
        BeirFolder.open(z)


def test_qrels_judging_unknown_queries(tmp_path: Path) -> None:
    folder = _make(tmp_path / "m")
    (folder / "qrels" / "test.tsv").write_text("query-id\tcorpus-id\tscore\nq9\td1\t1\n")
    with pytest.raises(DataError, match="q9"):
        read_beir_queries(folder, "test")


@pytest.mark.parametrize(
    ("text", "line", "needle"),
    [
        ("query-id\tcorpus-id\tscore\nq1\td1\n", 2, "expected 3 tab-separated"),
        ("query-id\tcorpus-id\tscore\nq1\td1\tyes\n", 2, "integer score"),
        ("query-id\tcorpus-id\tscore\nq1\td1\t1\nq1\td1\t0\n", 3, "first at line 2"),
        ("foo\tbar\tbaz\nq1\td1\t1\n", 1, "expected the header"),
        ("\n\nquery-id\tcorpus-id\tscore\nq1\td1\t1.5\n", 4, "integer score"),
    ],
)
def test_bad_qrels_tsv(tmp_path: Path, text: str, line: int, needle: str) -> None:
    p = tmp_path / "q.tsv"
    p.write_text(text)
    with pytest.raises(FormatError) as err:
        read_beir_qrels_tsv(p)
    assert err.value.line == line, str(err.value)
    assert needle in str(err.value)


def test_qrels_without_header_and_header_only(tmp_path: Path) -> None:
    p = tmp_path / "q.tsv"
    p.write_text("q1\td1\t1\nq2\td2\t0\n")
    assert read_beir_qrels_tsv(p).to_dict() == {"q1": {"d1": 1}, "q2": {"d2": 0}}
    p.write_text("query-id\tcorpus-id\tscore\r\n")
    assert len(read_beir_qrels_tsv(p)) == 0


def test_qrels_tsv_round_trip(tmp_path: Path) -> None:
    qrels = Qrels.from_arrays(["1", "1", "2"], ["a", "b", "c"], [1, 2, 0])
    write_beir_qrels_tsv(qrels, tmp_path / "t.tsv")
    assert (tmp_path / "t.tsv").read_text().startswith("query-id\tcorpus-id\tscore\n")
    assert read_beir_qrels_tsv(tmp_path / "t.tsv").to_dict() == qrels.to_dict()


def test_real_scifact(datasets_dir: Path) -> None:
    folder = BeirFolder.open(datasets_dir / "beir/scifact")
    assert folder.splits == ["train", "test"]
    test = folder.qrels("test")
    assert (test.n_queries, len(test)) == (300, 339)
    train = folder.qrels("train")
    assert (train.n_queries, len(train)) == (809, 919)
    assert len(folder.queries("test")) == 300
    corpus = folder.corpus()
    assert len(corpus) == 5183


def test_real_scifact_as_zip_like_beir_ships_it(datasets_dir: Path, tmp_path: Path) -> None:
    src = datasets_dir / "beir/scifact"
    z = tmp_path / "scifact.zip"
    with zipfile.ZipFile(z, "w", compression=zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("scifact/corpus.jsonl", gzip.decompress((src / "corpus.jsonl.gz").read_bytes()))
        zf.write(src / "queries.jsonl", "scifact/queries.jsonl")
        zf.write(src / "qrels/test.tsv", "scifact/qrels/test.tsv")
    assert len(read_beir_corpus(z)) == 5183
    assert len(read_beir_queries(z, "test")) == 300
