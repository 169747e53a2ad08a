"""An on-disk cache of LLM responses, so a re-run is bit-identical and costs nothing.

Responses live in one SQLite file (``responses.sqlite`` in the cache folder), keyed by the
sha256 of everything that decides an answer: the backend's identity (backend, model name,
weight hash or revision, library), the template's hash, the decoding settings or the list of
choices, and the exact prompt. Each batch of answers is committed as soon as it is back, so
a run that stops half-way keeps every finished query: running it again only asks the model
for what is missing. Failed requests (``None``/NaN) are not stored and are retried next time.
The file carries a format version that is checked when it is opened.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import sqlite3
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rankstack.exceptions import FormatError
from rankstack.llm.backends.base import Backend, Decoding, Prompt

FORMAT_NAME = "rankstack-llm-cache"
FORMAT_VERSION = 1
FILE_NAME = "responses.sqlite"


class ResponseCache:
    """The response store of one folder (created on first use)."""

    def __init__(self, folder: str | os.PathLike[str]) -> None:
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / FILE_NAME
        try:
            self._db = sqlite3.connect(self.path)
            self._db.execute("PRAGMA journal_mode=WAL")
            self._db.execute("CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT)")
            self._db.execute(
                "CREATE TABLE IF NOT EXISTS responses (key TEXT PRIMARY KEY, value TEXT)"
            )
            row = self._db.execute("SELECT value FROM meta WHERE key='format'").fetchone()
        except sqlite3.DatabaseError as exc:
            raise FormatError(f"not a rankstack LLM response cache ({exc})", self.path) from exc
        expected = f"{FORMAT_NAME} {FORMAT_VERSION}"
        if row is None:
            with self._db:
                self._db.execute("INSERT INTO meta VALUES ('format', ?)", (expected,))
        elif row[0] != expected:
            raise FormatError(
                f"LLM response cache of format {row[0]!r}, expected {expected!r}: delete the "
                "folder or point --cache elsewhere",
                self.path,
            )

    def get_many(self, keys: Sequence[str]) -> dict[str, Any]:
        found: dict[str, Any] = {}
        for lo in range(0, len(keys), 500):
            chunk = list(keys[lo : lo + 500])
            marks = ",".join("?" * len(chunk))
            for key, value in self._db.execute(
                f"SELECT key, value FROM responses WHERE key IN ({marks})", chunk
            ):
                found[key] = json.loads(value)
        return found

    def put_many(self, items: dict[str, Any]) -> None:
        with self._db:
            self._db.executemany(
                "INSERT OR REPLACE INTO responses VALUES (?, ?)",
                [(k, json.dumps(v)) for k, v in items.items()],
            )

    def __len__(self) -> int:
        return int(self._db.execute("SELECT COUNT(*) FROM responses").fetchone()[0])

    def close(self) -> None:
        self._db.close()


def request_key(kind: str, identity: dict[str, Any], extra: dict[str, Any], prompt: Prompt) -> str:
    payload = json.dumps(
        {"kind": kind, "model": identity, "extra": extra, "prompt": prompt.key()},
        sort_keys=True,
        ensure_ascii=False,
    )
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


class CachingBackend(Backend):
    """A backend seen through a :class:`ResponseCache` (or none), counting every request.

    ``counts`` holds ``prompts`` (asked by the method), ``cache_hits`` and ``backend_calls``
    (prompts sent to the model). Misses are sent in chunks of ``chunk`` prompts and stored
    after each chunk.
    """

    def __init__(
        self,
        inner: Backend,
        cache: ResponseCache | None,
        extra: dict[str, Any] | None = None,
        chunk: int = 32,
    ) -> None:
        self.inner = inner
        self.cache = cache
        self.extra = dict(extra or {})
        self.chunk = int(chunk)
        self.kind = inner.kind
        self.counts: Counter[str] = Counter(prompts=0, cache_hits=0, backend_calls=0)
        self._identity = inner.identity()

    @property
    def context_length(self) -> int:
        return self.inner.context_length

    def identity(self) -> dict[str, Any]:
        return self._identity

    def count_tokens(self, texts: Sequence[str]) -> np.ndarray:
        return self.inner.count_tokens(texts)

    def truncate(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        return self.inner.truncate(texts, max_tokens)

    def prompt_tokens(self, prompt: Prompt) -> int:
        return self.inner.prompt_tokens(prompt)

    def _run(
        self, kind: str, extra: dict[str, Any], prompts: Sequence[Prompt], call: Any
    ) -> list[Any]:
        self.counts["prompts"] += len(prompts)
        keys = [request_key(kind, self._identity, {**self.extra, **extra}, p) for p in prompts]
        found = self.cache.get_many(keys) if self.cache is not None else {}
        self.counts["cache_hits"] += sum(k in found for k in keys)
        out: list[Any] = [found.get(k) for k in keys]
        todo = [i for i, k in enumerate(keys) if k not in found]
        # duplicates within a call are asked once
        first: dict[str, int] = {}
        unique = [i for i in todo if first.setdefault(keys[i], i) == i]
        for lo in range(0, len(unique), self.chunk):
            idx = unique[lo : lo + self.chunk]
            answers = call([prompts[i] for i in idx])
            self.counts["backend_calls"] += len(idx)
            fresh = {}
            for i, ans in zip(idx, answers):
                out[i] = ans
                if ans is not None:
                    fresh[keys[i]] = ans
            if self.cache is not None and fresh:
                self.cache.put_many(fresh)
        for i in todo:
            out[i] = out[first[keys[i]]]
        return out

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[str | None]:
        def call(batch: list[Prompt]) -> list[Any]:
            return [
                None if t is None else {"text": t} for t in self.inner.generate(batch, decoding)
            ]

        got = self._run("generate", {"decoding": decoding.to_dict()}, prompts, call)
        return [None if g is None else str(g["text"]) for g in got]

    def choice_logprobs(
        self, prompts: Sequence[Prompt], choices: Sequence[str], *, exact: bool = False
    ) -> np.ndarray:
        def call(batch: list[Prompt]) -> list[Any]:
            rows = self.inner.choice_logprobs(batch, choices, exact=exact)
            return [None if np.isnan(r).any() else {"logprobs": [_enc(x) for x in r]} for r in rows]

        extra: dict[str, Any] = {"choices": list(choices)}
        if exact:
            extra["exact"] = True
        got = self._run("choices", extra, prompts, call)
        out = np.full((len(prompts), len(choices)), np.nan)
        for i, g in enumerate(got):
            if g is not None:
                out[i] = [_dec(x) for x in g["logprobs"]]
        return out


def _enc(x: float) -> float | None:
    return None if math.isinf(x) else float(x)


def _dec(x: float | None) -> float:
    return -math.inf if x is None else float(x)
