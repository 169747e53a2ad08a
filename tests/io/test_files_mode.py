"""Files written atomically get the mode an ordinary open() gives (0666 minus the umask)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rankstack.io._files import atomic_write, replace_folder


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_atomic_write_honours_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        with atomic_write(tmp_path / "run.txt", "w") as fh:
            fh.write("q 0 d 1 1.0 t\n")  # type: ignore[arg-type]
    finally:
        os.umask(old)
    assert (tmp_path / "run.txt").stat().st_mode & 0o777 == 0o666 & ~mask


def test_replace_folder_swaps_in_a_readable_folder(tmp_path: Path) -> None:
    target = tmp_path / "model"
    old = os.umask(0o022)
    try:
        with replace_folder(target) as tmp:
            (tmp / "a.txt").write_text("first")
        with pytest.raises(RuntimeError), replace_folder(target) as tmp:
            (tmp / "a.txt").write_text("half-written")
            raise RuntimeError("crash mid-write")
        assert (target / "a.txt").read_text() == "first"  # untouched by the failed write
        with replace_folder(target) as tmp:
            (tmp / "b.txt").write_text("second")
    finally:
        os.umask(old)
    assert sorted(p.name for p in target.iterdir()) == ["b.txt"]
    assert target.stat().st_mode & 0o777 == 0o755
    assert [p.name for p in tmp_path.iterdir()] == ["model"]  # no temporary folders left
