"""Prompt templates (versioned files, hashes) and the response cache (format, keys)."""

from __future__ import annotations

import sqlite3

import numpy as np
import pytest

from rankstack.exceptions import FormatError
from rankstack.llm.backends.base import Decoding, Prompt
from rankstack.llm.cache import CachingBackend, ResponseCache
from rankstack.llm.prompts import available, load_template

from .conftest import FakeBackend


def test_bundled_templates_load_and_hash():
    names = available()
    assert {
        "listwise.v1",
        "listwise_letters.v1",
        "pairwise.v1",
        "pointwise_yes_no.v1",
        "pointwise_grade.v1",
        "reasoning.v1",
    } <= set(names)
    for name in names:
        t = load_template(name)
        assert len(t.sha256) == 64 and t.user
    system, user = load_template("listwise.v1").render(query="q?", passages="[1] x", n=1)
    assert "q?" in user and "[1] x" in user and system


def test_user_template_file_and_errors(tmp_path):
    f = tmp_path / "mine.v3.txt"
    f.write_text("# comment\n=== user ===\nQ: $query\n")
    t = load_template(f)
    assert t.name == "mine.v3" and t.render(query="x") == ("", "Q: x")
    with pytest.raises(FormatError, match="placeholder"):
        t.render()
    bad = tmp_path / "bad.txt"
    bad.write_text("stray text\n=== user ===\nx\n")
    with pytest.raises(FormatError, match="line 1"):
        load_template(bad)
    bad.write_text("=== system ===\nx\n")
    with pytest.raises(FormatError, match="user"):
        load_template(bad)
    with pytest.raises(FormatError, match="unknown prompt template"):
        load_template("nope.v9")


def test_cache_roundtrip_and_version_check(tmp_path):
    cache = ResponseCache(tmp_path)
    cache.put_many({"k": {"text": "x"}})
    assert cache.get_many(["k", "other"]) == {"k": {"text": "x"}}
    assert len(cache) == 1
    cache.close()
    db = sqlite3.connect(tmp_path / "responses.sqlite")
    with db:
        db.execute("UPDATE meta SET value='rankstack-llm-cache 0' WHERE key='format'")
    db.close()
    with pytest.raises(FormatError, match="format"):
        ResponseCache(tmp_path)
    junk = tmp_path / "junk"
    junk.mkdir()
    (junk / "responses.sqlite").write_bytes(b"not a database at all" * 100)
    with pytest.raises(FormatError, match="not a rankstack"):
        ResponseCache(junk)


def test_keys_depend_on_everything_and_failures_are_not_stored(tmp_path):
    cache = ResponseCache(tmp_path)
    fake = FakeBackend()
    be = CachingBackend(fake, cache, {"template": "t1"})
    p = [Prompt.chat(None, "[1] rel1\n[2] rel5")]
    be.generate(p, Decoding(max_new_tokens=10))
    be.generate(p, Decoding(max_new_tokens=10))
    assert be.counts["backend_calls"] == 1 and be.counts["cache_hits"] == 1
    be.generate(p, Decoding(max_new_tokens=11))  # other decoding
    CachingBackend(fake, cache, {"template": "t2"}).generate(p, Decoding(max_new_tokens=10))
    assert len(fake.calls) == 3
    lp = be.choice_logprobs(p, ["1", "2", "9"])
    again = CachingBackend(FakeBackend(), cache, {"template": "t1"}).choice_logprobs(
        p, ["1", "2", "9"]
    )
    assert np.array_equal(lp, again) and again[0, 2] == -50
    failing = CachingBackend(FakeBackend(fail=True), cache, {"template": "t3"})
    assert failing.generate(p, Decoding()) == [None]
    assert failing.generate(p, Decoding()) == [None]
    assert failing.counts["backend_calls"] == 2


def test_duplicate_prompts_in_one_call_are_asked_once():
    fake = FakeBackend()
    be = CachingBackend(fake, None)
    p = Prompt.chat(None, "[1] rel1\n[2] rel5")
    out = be.generate([p, p, p], Decoding())
    assert out == ["[2] > [1]"] * 3 and fake.calls == [1]
