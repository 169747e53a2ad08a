"""``rankstack index`` / ``rankstack search`` end to end, and the same through the Python API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankstack.cli import main
from rankstack.cli.index_cmd import parse_field_weights
from rankstack.exceptions import DataError
from rankstack.index import Index, build_index
from rankstack.io import read_run
from rankstack.retrieve import BM25, RM3


@pytest.fixture
def small(tmp_path: Path) -> tuple[Path, Path]:
    corpus = tmp_path / "corpus.jsonl"
    docs = [
        {"_id": "d1", "title": "Cats", "text": "The cat sat on the mat."},
        {"_id": "d2", "title": "Dogs", "text": "A dog chased the cat."},
        {"_id": "d3", "title": "", "text": "Rugs and mats."},
    ]
    corpus.write_text("".join(json.dumps(d) + "\n" for d in docs), encoding="utf-8")
    queries = tmp_path / "queries.tsv"
    queries.write_text("q1\tcat\nq2\tmats rugs\nq3\tthe\n", encoding="utf-8")
    return corpus, queries


def test_index_and_search_small(small: tuple[Path, Path], tmp_path: Path) -> None:
    corpus, queries = small
    idx_path, run_path = tmp_path / "idx", tmp_path / "run.txt"
    assert main(["index", str(corpus), "-o", str(idx_path), "--stopwords", "snowball"]) == 0
    assert Index.load(idx_path).tokenizer.stopwords == "snowball"
    args = ["search", str(idx_path), str(queries), "-o", str(run_path), "-k", "2", "--tag", "t1"]
    assert main(args) == 0
    lines = run_path.read_text().splitlines()
    assert lines[0].split()[:4] == ["q1", "Q0", "d1", "1"] and lines[0].endswith(" t1")
    run = read_run(run_path)
    assert run.query("q2")[0] == ["d3", "d1"]  # "mats" and "mat" share the stem
    assert len(run.select(["q3"])) == 0  # stopwords only: no results, no crash


def test_multifield_and_rm3_options(small: tuple[Path, Path], tmp_path: Path) -> None:
    corpus, queries = small
    idx_path = tmp_path / "idx"
    assert main(["index", str(corpus), "-o", str(idx_path), "--multifield", "--positions"]) == 0
    idx = Index.load(idx_path)
    assert idx.field_names == ["title", "text"] and idx.positions
    out = tmp_path / "run.txt.gz"
    args = ["search", str(idx_path), str(queries), "-o", str(out), "--fields", "title=2,text"]
    assert main([*args, "--rm3", "--fb-docs", "1", "--variant", "bm25+"]) == 0
    assert len(read_run(out)) > 0


def test_errors_exit_2(
    small: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    corpus, queries = small
    assert main(["search", str(tmp_path / "none"), str(queries), "-o", str(tmp_path / "r")]) == 2
    assert "does not exist" in capsys.readouterr().err
    idx_path = tmp_path / "idx"
    assert main(["index", str(corpus), "-o", str(idx_path)]) == 0
    bad = ["search", str(idx_path), str(queries), "-o", str(tmp_path / "r"), "--fields", "x=y"]
    assert main(bad) == 2
    assert (
        main(["search", str(idx_path), str(queries), "-o", str(tmp_path / "r"), "--fields", "body"])
        == 2
    )
    assert main(["index", str(corpus), "-o", str(tmp_path / "i2"), "--stemmer", "klingon"]) == 2
    assert main(["index", str(corpus), "-o", str(tmp_path / "i3"), "--fields", "body"]) == 2


def test_parse_field_weights() -> None:
    assert parse_field_weights("title=2, text") == {"title": 2.0, "text": 1.0}
    assert parse_field_weights(None) is None
    with pytest.raises(DataError):
        parse_field_weights("title=heavy")


@pytest.mark.realdata
def test_scifact_cli_equals_python(datasets_dir: Path, tmp_path: Path) -> None:
    from rankstack.datasets import load_corpus, load_queries

    idx_path, run_path = tmp_path / "idx", tmp_path / "bm25.run"
    assert main(["index", "beir/scifact", "-o", str(idx_path)]) == 0
    assert main(["search", str(idx_path), "beir/scifact/test", "-o", str(run_path)]) == 0
    queries = load_queries("beir/scifact/test")
    python_run = BM25(build_index(load_corpus("beir/scifact"))).transform(queries)
    cli_run = read_run(run_path)
    assert cli_run.qid_list() == python_run.qid_list()
    assert cli_run.docids.to_pylist() == python_run.docids.to_pylist()
    assert cli_run.scores.tolist() == python_run.scores.tolist()
    rm3_path = tmp_path / "rm3.run"
    assert main(["search", str(idx_path), "beir/scifact/test", "-o", str(rm3_path), "--rm3"]) == 0
    rm3 = RM3(BM25(Index.load(idx_path))).transform(queries)
    assert read_run(rm3_path).docids.to_pylist() == rm3.docids.to_pylist()
