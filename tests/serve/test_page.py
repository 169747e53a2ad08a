"""The search page end to end in headless Chromium (Debian's package, driven by Playwright):
type a query, see highlighted results with each stage's rank, switch pipelines, and document
text that looks like HTML stays text."""

from __future__ import annotations

import re
import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from rankstack.serve import Limits, ServeConfig, create_app

from .conftest import Served, ThreadedServer

CHROMIUM = next(
    (p for p in ("/usr/bin/chromium", shutil.which("chromium") or "") if p and Path(p).is_file()),
    None,
)
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

pytestmark = pytest.mark.skipif(
    CHROMIUM is None,
    reason="Debian's chromium is not installed (apt-get install chromium; .ci/run does it)",
)


@pytest.fixture(scope="module")
def page_url(served: Served) -> Iterator[str]:
    config = ServeConfig.from_args(
        [f"ltr={served.ltr}", f"bm25={served.bm25}"],
        corpus=str(served.corpus_file),
        limits=Limits(max_query_chars=100),
    )
    with ThreadedServer(create_app(config)) as server:
        yield server.url


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    sync_api = pytest.importorskip("playwright.sync_api", reason="pip install playwright")
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def test_search_page_end_to_end(browser: Any, page_url: str) -> None:
    page = browser.new_page()
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    page.goto(page_url + "/")
    page.wait_for_function("document.querySelectorAll('#right option').length === 3")
    assert page.input_value("#left") == "ltr" and page.input_value("#right") == "bm25"

    # type a query: both pipelines side by side
    page.fill("#query", "ocean reef")
    page.press("#query", "Enter")
    page.wait_for_selector("#panel-right li.result")
    left = page.locator("#panel-left li.result")
    assert left.count() == 10 and page.locator("#panel-right li.result").count() == 10
    assert page.inner_text("#panel-left h2") == "ltr"
    marks = page.locator("#panel-left li.result mark").all_inner_texts()
    assert marks and all(re.search(r"ocean|reef", m, re.I) for m in marks)
    stages = left.first.locator(".stages").inner_text()
    assert re.fullmatch(r"bm25 #\d+ \(-?[\d.]+\) → lambdamart #1 \(-?[\d.]+\)", stages), stages
    assert (
        "other pipeline" in left.first.inner_text() or "not in the other" in left.first.inner_text()
    )
    assert page.locator("#panel-right li.result .stages").count() == 0  # bm25: one stage

    # switch pipelines: the left one to bm25, the right one off
    page.select_option("#right", "")
    assert page.locator("#panel-right").is_hidden()
    page.select_option("#left", "bm25")
    page.wait_for_function(
        "document.querySelector('#panel-left h2')?.textContent === 'bm25' && "
        "document.querySelectorAll('#panel-left li.result').length === 10 && "
        # the heading can change before the list is re-rendered: wait for the new list
        "document.querySelectorAll('#panel-left li.result .stages').length === 0"
    )
    assert page.locator("#panel-left li.result .stages").count() == 0
    assert page.locator("#panel-left li.result .other").count() == 0
    assert errors == []
    page.close()


def test_markup_in_documents_stays_text(browser: Any, page_url: str) -> None:
    page = browser.new_page()
    page.goto(page_url + "/")
    page.wait_for_function("document.querySelectorAll('#left option').length === 2")
    page.select_option("#left", "bm25")
    page.fill("#query", "markup friends pwned")
    page.press("#query", "Enter")
    page.wait_for_selector("#panel-left li.result")
    first = page.locator("#panel-left li.result").first
    assert first.get_attribute("data-docid") == "d0"
    assert first.locator(".title").inner_text() == "<i>Markup</i> & friends"
    assert "<script>" in first.locator(".snippet").inner_text()
    assert page.evaluate("window.__pwned === undefined")
    assert (
        page.locator("#panel-left img, #panel-left script, #panel-left i, #panel-left b").count()
        == 0
    )
    page.close()


def test_errors_are_shown(browser: Any, page_url: str) -> None:
    page = browser.new_page()
    page.goto(page_url + "/")
    page.wait_for_function("document.querySelectorAll('#left option').length === 2")
    page.fill("#query", "reef " * 30)
    page.press("#query", "Enter")
    page.wait_for_selector("#error:not([hidden])")
    assert "query is too long" in page.inner_text("#error")
    page.close()
