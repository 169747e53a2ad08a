"""``rankstack datasets list|info|fetch``."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from pathlib import Path

import pytest

from rankstack.cli import main
from rankstack.datasets import _registry, register


@pytest.fixture(autouse=True)
def _isolated(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.setenv("RANKSTACK_HOME", str(tmp_path / "home"))
    monkeypatch.setenv("RANKSTACK_OFFLINE", "1")
    monkeypatch.setenv("COLUMNS", "200")
    yield
    _registry.reset()


def test_list_shows_every_dataset_and_availability(
    datasets_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RANKSTACK_DATA", str(datasets_dir))
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    for name in ("beir/scifact", "beir/nfcorpus", "letor/mq2008", "letor/mq2007", "cranfield"):
        assert name in out
    assert "offline" in out and "partial" in out and "download" in out
    assert "5,183 docs" in out


def test_list_without_offline_folder(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.delenv("RANKSTACK_DATA", raising=False)
    assert main(["datasets", "list"]) == 0
    out = capsys.readouterr().out
    assert "offline " not in out.split("offline folder")[0]
    assert "not set" in out


def test_info(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "info", "letor/mq2008"]) == 0
    out = capsys.readouterr().out
    assert "Qin and Liu" in out and "fold1/train" in out
    assert "raw.githubusercontent.com" in out


def test_info_unknown_dataset_is_one_line(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["datasets", "info", "beir/nope"]) == 2
    err = capsys.readouterr().err
    assert "unknown dataset" in err and "Traceback" not in err


def test_fetch_offline_verifies(
    datasets_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("RANKSTACK_DATA", str(datasets_dir))
    assert main(["datasets", "fetch", "cranfield"]) == 0
    out = capsys.readouterr().out
    assert "3 files verified" in out and "cran.all.1400" in out


def test_fetch_missing_offline_says_where_it_looked(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("RANKSTACK_DATA", raising=False)
    assert main(["datasets", "fetch", "letor/mq2007"]) == 2
    err = capsys.readouterr().err
    assert "RANKSTACK_OFFLINE" in err and "raw.githubusercontent.com" in err
    assert str(tmp_path / "home") in err


def test_fetch_downloads_into_the_cache(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], tmp_path: Path
) -> None:
    monkeypatch.delenv("RANKSTACK_OFFLINE")
    src = tmp_path / "qrels.txt"
    src.write_bytes(b"1 0 d 1\n")
    register(
        "test/cli",
        {
            "kind": "cranfield",
            "downloads": {
                "q": {"url": src.as_uri(), "sha256": hashlib.sha256(src.read_bytes()).hexdigest()}
            },
            "files": {"qrels": {"download": "q", "member": "qrels.txt", "format": "trec"}},
        },
    )
    assert main(["datasets", "fetch", "test/cli"]) == 0
    assert "downloaded" in capsys.readouterr().out
    assert (tmp_path / "home/datasets/test/cli/qrels.txt").read_bytes() == b"1 0 d 1\n"
    assert main(["datasets", "fetch", "test/cli"]) == 0
    assert "cached" in capsys.readouterr().out
