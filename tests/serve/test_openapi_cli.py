"""The committed OpenAPI spec is current, and ``rankstack serve`` fails in one line."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rankstack.cli import main
from rankstack.serve.app import openapi_document, openapi_text

from .conftest import REPO_ROOT

SPEC = REPO_ROOT / "docs" / "openapi.json"


def test_committed_spec_is_current() -> None:
    assert SPEC.is_file(), "generate it: rankstack serve --write-openapi docs/openapi.json"
    assert SPEC.read_text(encoding="utf-8") == openapi_text(), (
        "docs/openapi.json is stale; regenerate: rankstack serve --write-openapi docs/openapi.json"
    )


def test_spec_describes_the_routes_and_limits() -> None:
    doc = openapi_document()
    assert set(doc["paths"]) == {
        "/search",
        "/rerank",
        "/health",
        "/pipelines",
        "/metrics",
        "/admin/reload",
    }
    search = doc["paths"]["/search"]["post"]
    assert {"200", "400", "404", "413", "422"} <= set(search["responses"])
    props = doc["components"]["schemas"]["SearchRequest"]["properties"]
    assert {"query", "k", "rerank_depth", "pipeline"} <= set(props)


def test_write_openapi_command(tmp_path: Path) -> None:
    out = tmp_path / "spec.json"
    assert main(["serve", "--write-openapi", str(out)]) == 0
    assert json.loads(out.read_text())["info"]["title"] == "rankstack search service"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["serve"], "name at least one saved pipeline folder"),
        (["serve", "/no/such/folder"], "does not exist"),
        (["serve", "bad name=/tmp"], "pipeline name 'bad name'"),
        (["serve", "a=/x", "a=/y"], "pipeline names must be unique"),
        (["serve", "/tmp", "--workers", "0"], "--workers must be >= 1"),
    ],
)
def test_serve_errors_are_one_line(
    args: list[str], message: str, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(args) == 2
    err = capsys.readouterr().err
    assert message in " ".join(err.split()) and "Traceback" not in err


def test_serve_refuses_a_folder_that_is_not_a_pipeline(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["serve", str(tmp_path)]) == 2
    assert "pipeline.json is missing" in " ".join(capsys.readouterr().err.split())
