"""Resolution order, downloads from a local HTTP server, checksums, extraction safety."""

from __future__ import annotations

import hashlib
import io
import json
import tarfile
import zipfile
from pathlib import Path
from typing import Any

import pytest

from rankstack import datasets
from rankstack.datasets import _store
from rankstack.exceptions import ChecksumError, DatasetNotFoundError, FormatError

CORPUS = b'{"_id": "d1", "title": "T", "text": "alpha"}\n{"_id": "d2", "text": "beta"}\n'
QUERIES = b'{"_id": "q1", "text": "alpha?"}\n{"_id": "q2", "text": "beta?"}\n'
QRELS = b"query-id\tcorpus-id\tscore\r\nq1\td1\t1\r\n"


def _zip_bytes(top: str = "mini") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        zf.writestr(f"{top}/corpus.jsonl", CORPUS)
        zf.writestr(f"{top}/queries.jsonl", QUERIES)
        zf.writestr(f"{top}/qrels/test.tsv", QRELS)
    return buf.getvalue()


def _entry(url: str, blob: bytes, *, md5: str | None = None, **extra: Any) -> dict[str, Any]:
    return {
        "kind": "beir",
        "description": "a tiny BEIR zip for tests",
        "splits": ["test"],
        "downloads": {
            "mini.zip": {
                "url": url,
                "md5": md5 or hashlib.md5(blob).hexdigest(),
                "size": len(blob),
                "archive": "zip",
                **extra,
            }
        },
        "files": {
            "corpus": {"download": "mini.zip", "member": "mini/corpus.jsonl", "format": "jsonl"},
            "queries": {"download": "mini.zip", "member": "mini/queries.jsonl", "format": "jsonl"},
            "qrels/test": {
                "download": "mini.zip",
                "member": "mini/qrels/test.tsv",
                "format": "beir-tsv",
            },
        },
    }


@pytest.fixture
def online(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("RANKSTACK_OFFLINE")


def test_download_verify_extract_then_cache(
    http_root: tuple[Path, str], online: None, tmp_path: Path
) -> None:
    root, base = http_root
    blob = _zip_bytes()
    (root / "mini.zip").write_bytes(blob)
    datasets.register("test/mini", _entry(f"{base}/mini.zip", blob))
    ds = datasets.load("test/mini/test")
    assert datasets.list_datasets()[-1].name == "test/mini"
    assert {i.name: i.availability for i in datasets.list_datasets()}["test/mini"] == "download"
    assert ds.corpus().docid_list() == ["d1", "d2"]
    assert ds.queries().qid_list() == ["q1"]  # the split's queries (BEIR's rule)
    assert ds.qrels().to_dict() == {"q1": {"d1": 1}}
    home = tmp_path / "home"
    assert (home / "datasets/test/mini/mini/corpus.jsonl").read_bytes() == CORPUS
    assert {i.name: i.availability for i in datasets.list_datasets()}["test/mini"] == "cached"
    # the server is gone: the cache answers
    (root / "mini.zip").unlink()
    assert len(datasets.load_corpus("test/mini")) == 2
    assert datasets.fetch("test/mini") == {
        "corpus": "cached",
        "queries": "cached",
        "qrels/test": "cached",
    }


def test_checksum_mismatch_deletes_the_download(
    http_root: tuple[Path, str], online: None, tmp_path: Path
) -> None:
    root, base = http_root
    blob = _zip_bytes()
    (root / "mini.zip").write_bytes(blob)
    datasets.register("test/bad", _entry(f"{base}/mini.zip", blob, md5="0" * 32))
    with pytest.raises(ChecksumError, match="md5") as err:
        datasets.load_corpus("test/bad")
    assert "0" * 32 in str(err.value)
    home = tmp_path / "home"
    leftovers = [p for p in home.rglob("*") if p.is_file()] if home.exists() else []
    assert leftovers == []


def test_size_mismatch(http_root: tuple[Path, str], online: None) -> None:
    root, base = http_root
    blob = _zip_bytes()
    (root / "mini.zip").write_bytes(blob + b"extra")
    datasets.register("test/size", _entry(f"{base}/mini.zip", blob))
    with pytest.raises(ChecksumError, match="bytes"):
        datasets.load_corpus("test/size")


def test_file_url_and_plain_file_download(online: None, tmp_path: Path) -> None:
    src = tmp_path / "qrels.txt"
    src.write_bytes(b"1 0 d1 1\n1 0 d2 0\n")
    digest = hashlib.sha256(src.read_bytes()).hexdigest()
    datasets.register(
        "test/plain",
        {
            "kind": "cranfield",
            "downloads": {"q": {"url": src.as_uri(), "sha256": digest}},
            "files": {"qrels": {"download": "q", "member": "qrels.txt", "format": "trec"}},
        },
    )
    assert datasets.load_qrels("test/plain").to_dict() == {"1": {"d1": 1, "d2": 0}}


def test_git_blob_checksum(online: None, tmp_path: Path) -> None:
    src = tmp_path / "train.txt"
    content = b"1 qid:1 1:0.5 #docid = a\n0 qid:1 1:0.25 #docid = b\n"
    src.write_bytes(content)
    blob = hashlib.sha1(b"blob %d\0" % len(content) + content).hexdigest()
    datasets.register(
        "test/letor",
        {
            "kind": "letor",
            "splits": ["fold1/train"],
            "downloads": {"t": {"url": src.as_uri(), "git_sha1": blob}},
            "files": {
                "fold1/train": {"download": "t", "member": "Fold1/train.txt", "format": "letor"}
            },
        },
    )
    data = datasets.load("test/letor/fold1").letor("train")
    assert data.labels.tolist() == [0, 1]  # doc ids b, a (descending)
    assert _store.digests(src, ["git_sha1"])["git_sha1"] == blob


def _tar_bytes(members: dict[str, bytes]) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tf:
        for name, data in members.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    return buf.getvalue()


def _tar_entry(url: str, blob: bytes) -> dict[str, Any]:
    return {
        "kind": "cranfield",
        "downloads": {
            "c.tar.gz": {"url": url, "sha256": hashlib.sha256(blob).hexdigest(), "archive": "tar"}
        },
        "files": {
            "corpus": {"download": "c.tar.gz", "member": "cran.all.1400", "format": "cranfield"},
            "queries": {"download": "c.tar.gz", "member": "cran.qry", "format": "cranfield"},
            "qrels": {"download": "c.tar.gz", "member": "cranqrel", "format": "cranfield"},
        },
    }


def test_tar_extraction(online: None, tmp_path: Path) -> None:
    blob = _tar_bytes(
        {
            "cran.all.1400": b".I 1\n.T\nwing\n.W\nlift\n",
            "cran.qry": b".I 001\n.W\nlift?\n",
            "cranqrel": b"1 1 2\n1 1 -1\n".replace(b"1 1 -1", b"1 2 -1"),
        }
    )
    src = tmp_path / "c.tar.gz"
    src.write_bytes(blob)
    datasets.register("test/cran", _tar_entry(src.as_uri(), blob))
    ds = datasets.load("test/cran")
    assert ds.corpus().docid_list() == ["1"]
    assert ds.qrels().to_dict() == {"1": {"1": 3, "2": 0}}
    assert ds.queries().to_dict() == {"1": "lift?"}


def test_tar_with_path_traversal_is_refused(online: None, tmp_path: Path) -> None:
    blob = _tar_bytes({"../evil": b"x", "cranqrel": b"1 1 1\n"})
    src = tmp_path / "c.tar.gz"
    src.write_bytes(blob)
    datasets.register("test/evil", _tar_entry(src.as_uri(), blob))
    with pytest.raises(FormatError, match="refusing archive member"):
        datasets.load_qrels("test/evil")
    home = tmp_path / "home"
    assert not any(p.is_file() and p.name == "evil" for p in home.rglob("*"))
    assert not (tmp_path / "evil").exists()


def test_offline_mode_names_every_place(tmp_path: Path) -> None:
    blob = _zip_bytes()
    datasets.register("test/off", _entry("https://example.invalid/mini.zip", blob))
    with pytest.raises(DatasetNotFoundError) as err:
        datasets.load_corpus("test/off")
    text = str(err.value)
    assert "RANKSTACK_OFFLINE" in text
    assert "https://example.invalid/mini.zip" in text
    assert str(tmp_path / "home") in text  # the cache folder it looked in
    assert "RANKSTACK_DATA" in text
    assert "rankstack datasets fetch test/off" in text


def test_failed_download_is_dataset_not_found(online: None) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    blob = _zip_bytes()
    datasets.register("test/down", _entry(f"http://127.0.0.1:{port}/mini.zip", blob))
    with pytest.raises(DatasetNotFoundError, match="download failed"):
        datasets.load_corpus("test/down")


def test_offline_folder_first_and_checked(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    data = tmp_path / "data"
    (data / "mini").mkdir(parents=True)
    (data / "mini/qrels.txt").write_bytes(b"1 0 d1 1\n")
    content = (data / "mini/qrels.txt").read_bytes()
    spec = {
        "kind": "cranfield",
        "files": {
            "qrels": {
                "offline": "mini/qrels.txt",
                "sha256": hashlib.sha256(content).hexdigest(),
                "size": len(content),
                "format": "trec",
            }
        },
    }
    datasets.register("test/local", spec)
    monkeypatch.setenv("RANKSTACK_DATA", str(data))
    assert datasets.load_qrels("test/local").to_dict() == {"1": {"d1": 1}}
    assert datasets.fetch("test/local") == {"qrels": "offline"}
    (data / "mini/qrels.txt").write_bytes(b"1 0 d1 2\n")  # same size, other content
    _store._verified.clear()
    with pytest.raises(ChecksumError, match="sha256"):
        datasets.load_qrels("test/local")
    (data / "mini/qrels.txt").write_bytes(b"1 0 d1 10\n")
    with pytest.raises(ChecksumError, match="bytes"):
        datasets.load_qrels("test/local")
    (data / "mini/qrels.txt").unlink()
    with pytest.raises(DatasetNotFoundError, match="only distributed offline"):
        datasets.load_qrels("test/local")


def test_stamp_records_the_source(
    http_root: tuple[Path, str], online: None, tmp_path: Path
) -> None:
    root, base = http_root
    blob = _zip_bytes()
    (root / "mini.zip").write_bytes(blob)
    datasets.register("test/stamp", _entry(f"{base}/mini.zip", blob))
    datasets.fetch("test/stamp")
    stamp = tmp_path / "home/datasets/test/stamp/.mini.zip.verified"
    assert json.loads(stamp.read_text())["md5"] == hashlib.md5(blob).hexdigest()
