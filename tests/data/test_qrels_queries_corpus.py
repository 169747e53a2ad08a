from __future__ import annotations

import pytest

from rankstack.data import Corpus, Qrels, Queries
from rankstack.exceptions import DataError


def test_qrels_grouping_negative_grades_and_dict_round_trip() -> None:
    q = Qrels.from_arrays(["1", "2", "1"], ["a", "b", "c"], [2, -1, 0])
    assert q.qid_list() == ["1", "2"]
    assert q.to_dict() == {"1": {"a": 2, "c": 0}, "2": {"b": -1}}
    assert Qrels.from_dict(q.to_dict()).to_dict() == q.to_dict()


def test_qrels_duplicates() -> None:
    with pytest.raises(DataError, match="judged more than once"):
        Qrels.from_arrays(["1", "1"], ["a", "a"], [1, 2])
    q = Qrels.from_arrays(["1", "1", "1"], ["a", "b", "a"], [1, 0, 2], on_duplicate="last")
    assert q.to_dict() == {"1": {"a": 2, "b": 0}}


def test_qrels_non_integer_labels() -> None:
    with pytest.raises(DataError, match="integers"):
        Qrels.from_arrays(["1"], ["a"], [1.5])


def test_queries_unique_select_and_pandas() -> None:
    qs = Queries.from_arrays(["1", "2"], ["hello", "world"])
    assert qs.select(["2"]).text_list() == ["world"]
    with pytest.raises(DataError, match="unknown query ids"):
        qs.select(["3"])
    with pytest.raises(DataError, match="unique"):
        Queries.from_arrays(["1", "1"], ["a", "b"])
    assert Queries.from_pandas(qs.to_pandas()).to_dict() == qs.to_dict()


def test_corpus_fields_and_contents() -> None:
    c = Corpus.from_arrays(
        ["d1", "d2"], fields={"title": ["T1", ""], "text": ["body one", "body two"]}
    )
    assert c.contents().to_pylist() == ["T1 body one", "body two"]
    assert c.take([1]).docid_list() == ["d2"]
    with pytest.raises(DataError, match="unique"):
        Corpus.from_arrays(["d", "d"], ["x", "y"])
