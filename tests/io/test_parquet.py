"""Parquet runs, qrels, queries and corpora: round trips, foreign files, bad input."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.exceptions import FormatError
from rankstack.io import (
    read_corpus_parquet,
    read_qrels_parquet,
    read_queries_parquet,
    read_run_parquet,
    write_corpus_parquet,
    write_qrels_parquet,
    write_queries_parquet,
    write_run_parquet,
)


def test_run_with_features_round_trip(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    run = Run.from_arrays(
        rng.integers(0, 5, 40).astype(str),
        [f"d{i}" for i in range(40)],
        rng.normal(size=40),
        rng.normal(size=(40, 3)).astype(np.float32),
        ["bm25", "tf", "len"],
        metadata={"tag": "x"},
    )
    write_run_parquet(run, tmp_path / "r.parquet")
    back = read_run_parquet(tmp_path / "r.parquet")
    assert back.equals(run) and back.feature_names == ("bm25", "tf", "len")
    assert back.metadata["tag"] == "x"


def test_qrels_queries_corpus_round_trip(tmp_path: Path) -> None:
    qrels = Qrels.from_arrays(["1", "1", "2"], ["a", "b", "a"], [1, 0, 3])
    write_qrels_parquet(qrels, tmp_path / "q.parquet")
    assert read_qrels_parquet(tmp_path / "q.parquet").to_dict() == qrels.to_dict()
    queries = Queries.from_arrays(["1", "2"], ["x", "y"], extra={"lang": ["en", "fr"]})
    write_queries_parquet(queries, tmp_path / "t.parquet")
    back = read_queries_parquet(tmp_path / "t.parquet")
    assert back.to_dict() == queries.to_dict() and back.extra["lang"].to_pylist() == ["en", "fr"]
    corpus = Corpus.from_arrays(
        ["a", "b"], fields={"title": ["t", "u"], "body": ["x", "y"]}, text_field="body"
    )
    write_corpus_parquet(corpus, tmp_path / "c.parquet")
    back_c = read_corpus_parquet(tmp_path / "c.parquet")
    assert back_c.text_field == "body" and back_c.field_names == ["title", "body"]


def test_foreign_parquet_with_known_column_names(tmp_path: Path) -> None:
    pq.write_table(
        pa.table({"query-id": [1, 1], "corpus-id": ["a", "b"], "score": [1, 0]}),
        tmp_path / "qrels.parquet",
    )
    assert read_qrels_parquet(tmp_path / "qrels.parquet").to_dict() == {"1": {"a": 1, "b": 0}}


def test_errors(tmp_path: Path) -> None:
    p = tmp_path / "x.parquet"
    p.write_text("not parquet")
    with pytest.raises(FormatError, match="PAR1"):
        read_run_parquet(p)
    write_qrels_parquet(Qrels.from_arrays(["1"], ["a"], [1]), p)
    with pytest.raises(FormatError, match="expected a run Parquet file, found a qrels"):
        read_run_parquet(p)
    pq.write_table(pa.table({"q": ["1"], "docno": ["a"], "score": [1.0]}), p)
    with pytest.raises(FormatError, match="query id column"):
        read_run_parquet(p)
    pq.write_table(pa.table({"qid": ["1", "1"], "docno": ["a", "a"], "score": [1.0, 2.0]}), p)
    with pytest.raises(FormatError, match="listed again"):
        read_run_parquet(p)
    pq.write_table(pa.table({"qid": ["1"], "docno": ["a"], "label": [0.5]}), p)
    with pytest.raises(FormatError, match="integer"):
        read_qrels_parquet(p)
    pq.write_table(
        pa.table({"docno": pa.array([], pa.string()), "text": pa.array([], pa.string())}), p
    )
    with pytest.raises(FormatError, match="at least one document"):
        read_corpus_parquet(p)


def test_newer_format_version_is_refused(tmp_path: Path) -> None:
    table = pa.table({"qid": ["1"], "docno": ["a"], "label": [1]}).replace_schema_metadata(
        {b"rankstack.kind": b"qrels", b"rankstack.format_version": b"99"}
    )
    pq.write_table(table, tmp_path / "q.parquet")
    with pytest.raises(FormatError, match="newer rankstack"):
        read_qrels_parquet(tmp_path / "q.parquet")
