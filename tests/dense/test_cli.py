"""``rankstack dense encode|index|search|rankme`` end to end with the tiny model."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from rankstack.cli import main
from rankstack.data import Corpus, Queries
from rankstack.dense import BiEncoder, EmbeddingCache, VectorIndex
from rankstack.io import read_run

from .conftest import make_corpus


@pytest.fixture
def files(tmp_path: Path) -> tuple[Path, Path, Corpus, Queries]:
    corpus = make_corpus(60)
    path = tmp_path / "corpus.jsonl"
    rows = zip(
        corpus.docid_list(), corpus.field("title").to_pylist(), corpus.field("text").to_pylist()
    )
    path.write_text(
        "".join(json.dumps({"_id": d, "title": t, "text": x}) + "\n" for d, t, x in rows),
        encoding="utf-8",
    )
    queries = Queries.from_arrays(["q1", "q2"], ["cancer cells", "heart disease"])
    qpath = tmp_path / "queries.tsv"
    qpath.write_text("q1\tcancer cells\nq2\theart disease\n", encoding="utf-8")
    return path, qpath, corpus, queries


@pytest.mark.parametrize("kind", ["exact", "hnsw"])
def test_encode_index_search(
    tiny_model: Path, files: tuple[Path, Path, Corpus, Queries], tmp_path: Path, kind: str
) -> None:
    corpus_path, qpath, corpus, queries = files
    cache, index, run = tmp_path / "cache", tmp_path / "vi", tmp_path / "run.txt"
    assert main(["dense", "encode", str(tiny_model), str(corpus_path), "-o", str(cache)]) == 0
    assert len(EmbeddingCache.open(cache)) == 60
    assert main(["dense", "index", str(cache), "-o", str(index), "--kind", kind]) == 0
    assert VectorIndex.load(index).kind == kind
    args = ["dense", "search", str(index), str(qpath), "-o", str(run), "-k", "5"]
    assert main([*args, "--ef-search", "64"] if kind == "hnsw" else args) == 0
    got = read_run(run)
    want = BiEncoder(str(tiny_model), corpus=corpus, k=5, progress=False).transform(queries)
    assert got.qid_list() == want.qid_list()
    if kind == "exact":
        assert got.docids.to_pylist() == want.docids.to_pylist()


def test_errors_are_one_line(
    tiny_model: Path,
    other_model: Path,
    files: tuple[Path, Path, Corpus, Queries],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    corpus_path, qpath, _, _ = files
    cache, index = tmp_path / "cache", tmp_path / "vi"
    assert main(["dense", "encode", str(tiny_model), str(corpus_path), "-o", str(cache)]) == 0
    capsys.readouterr()
    # another model into the same cache: refused, then replaced with --rebuild
    assert main(["dense", "encode", str(other_model), str(corpus_path), "-o", str(cache)]) == 2
    err = capsys.readouterr().err
    assert "does not fit" in err and "Traceback" not in err
    assert main(["dense", "index", str(cache), "-o", str(index)]) == 0
    run = tmp_path / "r.txt"
    assert (
        main(
            ["dense", "search", str(index), str(qpath), "-o", str(run), "--model", str(other_model)]
        )
        == 2
    )
    assert "built with embeddings of" in capsys.readouterr().err
    broken = tmp_path / "broken"
    shutil.copytree(tiny_model, broken)
    (broken / "model.safetensors").unlink()
    assert main(["dense", "encode", str(broken), str(corpus_path), "-o", str(tmp_path / "c2")]) == 2
    assert "no weights" in capsys.readouterr().err
    assert main(["dense", "index", str(tmp_path / "nothing"), "-o", str(index)]) == 2
    assert "does not exist" in capsys.readouterr().err


def test_rankme_command(
    tiny_model: Path, files: tuple[Path, Path, Corpus, Queries], capsys: pytest.CaptureFixture[str]
) -> None:
    corpus_path, _, corpus, _ = files
    assert main(["dense", "rankme", str(tiny_model), str(corpus_path), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    want = BiEncoder(str(tiny_model), corpus=corpus, progress=False).rank_me()
    assert out["rankme"] == pytest.approx(want, rel=1e-5) and out["documents"] == 60
    assert main(["dense", "rankme", str(tiny_model), str(corpus_path), "--samples", "20"]) == 0
    assert "RankMe" in capsys.readouterr().out
