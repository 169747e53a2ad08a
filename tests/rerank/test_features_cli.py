"""``rankstack features list``: templates, an index's concrete names, JSON, bad names."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankstack.cli import main
from rankstack.index import Index
from rankstack.rerank import list_features


def test_list_prints_every_feature(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["features", "list"]) == 0
    out = capsys.readouterr().out
    for info in list_features():
        assert info.name in out


def test_list_json_for_an_index(
    small_index: Index, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "idx"
    small_index.save(path)
    assert main(["features", "list", "--index", str(path), "--json"]) == 0
    rows = json.loads(capsys.readouterr().out)["features"]
    names = [r["name"] for r in rows]
    assert names[:3] == ["bm25_contents", "bm25_title", "bm25_text"]
    assert {r["name"] for r in rows if r["positions"]} >= {"phrase_count", "span_ordered"}
    assert rows[0]["field"] == "contents" and rows[0]["description"]


def test_list_restricted_and_unknown(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["features", "list", "-f", "idf", "-f", "bm25_title", "--json"]) == 0
    names = [r["name"] for r in json.loads(capsys.readouterr().out)["features"]]
    assert names == ["idf_sum", "idf_max", "idf_mean", "bm25_title"]
    assert main(["features", "list", "-f", "bm27"]) == 2
    err = capsys.readouterr().err
    assert "unknown feature 'bm27'" in err and "span_unordered" in err
