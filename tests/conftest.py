"""Shared fixtures: the offline datasets folder and small hand-made runs."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def shared_datasets() -> Path | None:
    """The offline datasets folder (RANKSTACK_DATA, else ../shared/datasets), or None."""
    env = os.environ.get("RANKSTACK_DATA")
    candidates = [Path(env)] if env else []
    candidates.append(REPO.parent / "shared" / "datasets")
    for c in candidates:
        if (c / "README.md").exists() or (c / "beir").is_dir():
            return c.resolve()
    return None


@pytest.fixture(scope="session")
def datasets_dir() -> Path:
    """The real datasets; tests that need them skip only when the folder is absent."""
    found = shared_datasets()
    if found is None:
        pytest.skip("offline datasets folder not found (set RANKSTACK_DATA)")
    return found


@pytest.fixture(autouse=True, scope="session")
def _rankstack_data_env() -> None:
    found = shared_datasets()
    if found is not None and "RANKSTACK_DATA" not in os.environ:
        os.environ["RANKSTACK_DATA"] = str(found)
