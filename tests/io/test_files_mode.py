"""Files written atomically get the mode an ordinary open() gives (0666 minus the umask)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from rankstack.io._files import atomic_write


@pytest.mark.parametrize("mask", [0o022, 0o077])
def test_atomic_write_honours_the_umask(tmp_path: Path, mask: int) -> None:
    old = os.umask(mask)
    try:
        with atomic_write(tmp_path / "run.txt", "w") as fh:
            fh.write("q 0 d 1 1.0 t\n")  # type: ignore[arg-type]
    finally:
        os.umask(old)
    assert (tmp_path / "run.txt").stat().st_mode & 0o777 == 0o666 & ~mask
