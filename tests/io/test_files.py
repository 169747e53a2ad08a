"""Compression detection by full signatures, in-memory decompression, zip members."""

from __future__ import annotations

import bz2
import gzip
import lzma
import zipfile
from pathlib import Path

import pytest

from rankstack.exceptions import FormatError
from rankstack.io import read_qrels
from rankstack.io._files import compression_of, decompress_bytes, read_bytes

TEXT = b"PK1 0 d1 1\nBZ2 0 d2 0\n"  # query ids that start like zip/bz2 magic bytes


def test_text_that_starts_like_an_archive_is_text(tmp_path: Path) -> None:
    p = tmp_path / "qrels.txt"
    p.write_bytes(TEXT)
    assert compression_of(p) is None
    assert read_qrels(p).qid_list() == ["PK1", "BZ2"]
    p.write_bytes(TEXT[11:])
    assert compression_of(p) is None


@pytest.mark.parametrize(
    ("pack", "kind"),
    [(gzip.compress, "gzip"), (bz2.compress, "bz2"), (lzma.compress, "xz")],
)
def test_compressed(tmp_path: Path, pack: object, kind: str) -> None:
    blob = pack(TEXT)  # type: ignore[operator]
    p = tmp_path / "f"
    p.write_bytes(blob)
    assert compression_of(p) == kind
    assert read_bytes(p) == TEXT
    assert decompress_bytes(blob) == TEXT


def test_decompress_bytes_errors() -> None:
    assert decompress_bytes(b"plain") == b"plain"
    with pytest.raises(FormatError, match="cannot decompress"):
        decompress_bytes(gzip.compress(TEXT)[:-6], "x.gz")


def test_zip_members(tmp_path: Path) -> None:
    z = tmp_path / "a.zip"
    with zipfile.ZipFile(z, "w") as zf:
        zf.writestr("one/q.txt", TEXT)
        zf.writestr("two.txt", b"x")
    assert read_bytes(z / "one" / "q.txt") == TEXT
    assert read_bytes(z, member="two.txt") == b"x"
    with pytest.raises(FormatError, match="holds 2 files"):
        read_bytes(z)
    with pytest.raises(FormatError, match="no member"):
        read_bytes(z, member="three.txt")


def test_atomic_write_text_mode_writes_and_replaces(tmp_path: Path) -> None:
    from rankstack.io._files import atomic_write

    target = tmp_path / "out.txt"
    target.write_text("old")
    with atomic_write(target, "w") as fh:
        fh.write("new ünïcode\n")  # type: ignore[arg-type]
    assert target.read_text(encoding="utf-8") == "new ünïcode\n"
    with pytest.raises(RuntimeError), atomic_write(target, "w") as fh:
        fh.write("half")  # type: ignore[arg-type]
        raise RuntimeError("crash mid-write")
    assert target.read_text(encoding="utf-8") == "new ünïcode\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]
