"""Any OpenAI-compatible chat endpoint: vLLM, Ollama, a llama.cpp server, hosted APIs.

Requests go to ``{base_url}/chat/completions`` from a thread pool of ``concurrency``
workers sharing one ``httpx.Client``. Each request has a timeout; timeouts, connection
errors, HTTP 429/5xx and unreadable bodies are retried ``max_retries`` times with
exponential backoff (``backoff * 2**attempt`` seconds). A prompt that still fails returns
``None`` (generation) or NaN (log-probabilities) and is counted in :attr:`stats`, so a run
goes on; an endpoint that refuses every connection of a batch raises
:class:`EndpointDownError` naming the URL (finished work is already in the response cache).

Log-probabilities come from ``logprobs``/``top_logprobs`` of the first answer token that is
not blank or ``[`` (servers that cannot continue an answer prefix start with ``[``). Where
the endpoint returns no log-probabilities, the first choice that appears in the answer text
gets log-probability 0 and the others ``-inf``. The answer prefix is sent as a final
assistant message only with ``prefill=True`` (vLLM and llama.cpp servers continue it;
OpenAI's API does not).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections import Counter
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import numpy as np

from rankstack._compat import require
from rankstack.llm.backends.base import (
    Backend,
    BackendError,
    Decoding,
    EndpointDownError,
    Prompt,
)

logger = logging.getLogger(__name__)

_RETRY_STATUS = {408, 409, 425, 429, 500, 502, 503, 504}


class _Garbage(Exception):
    """The endpoint answered, but not with a chat completion."""


class OpenAIBackend(Backend):
    """A chat model behind an OpenAI-compatible HTTP API.

    Parameters
    ----------
    base_url:
        The API root, e.g. ``http://localhost:8000/v1``.
    model:
        The model name the endpoint serves.
    api_key:
        Bearer token (default: ``OPENAI_API_KEY`` from the environment, or none).
    timeout:
        Seconds per request.
    max_retries:
        Retries of a failed request (timeouts, 429/5xx, garbage).
    backoff:
        First retry delay in seconds; doubled at each retry.
    concurrency:
        Requests in flight at once.
    context_length:
        The model's context in tokens (the API does not say; token counts are estimated at
        4 characters a token).
    top_logprobs:
        How many alternatives to ask for when reading choice log-probabilities.
    prefill:
        Send the answer prefix as a final assistant message (servers that continue it).
    """

    kind = "openai"

    def __init__(
        self,
        base_url: str,
        model: str,
        *,
        api_key: str | None = None,
        timeout: float = 60.0,
        max_retries: int = 3,
        backoff: float = 0.5,
        concurrency: int = 8,
        context_length: int = 8192,
        top_logprobs: int = 20,
        prefill: bool = False,
    ) -> None:
        if not base_url.startswith(("http://", "https://")):
            raise BackendError(
                f"OpenAIBackend: base_url must be an http(s) URL, found {base_url!r}"
            )
        if concurrency < 1 or max_retries < 0 or timeout <= 0 or context_length < 16:
            raise BackendError(
                "OpenAIBackend: concurrency >= 1, max_retries >= 0, timeout > 0 and "
                f"context_length >= 16 expected, found {concurrency}, {max_retries}, "
                f"{timeout}, {context_length}"
            )
        self.base_url = base_url.rstrip("/")
        self.model = model
        self.timeout = float(timeout)
        self.max_retries = int(max_retries)
        self.backoff = float(backoff)
        self.concurrency = int(concurrency)
        self.top_logprobs = int(top_logprobs)
        self.prefill = prefill
        self._context = int(context_length)
        self._api_key = api_key if api_key is not None else os.environ.get("OPENAI_API_KEY")
        self._client: Any = None
        self._lock = threading.Lock()
        #: requests, retries, timeouts, connection errors, garbage bodies, failed prompts
        self.stats: Counter[str] = Counter()

    @property
    def context_length(self) -> int:
        return self._context

    def identity(self) -> dict[str, Any]:
        return {"backend": self.kind, "name": self.model, "base_url": self.base_url}

    # ------------------------------------------------------------------ requests
    def _http(self) -> Any:
        if self._client is None:
            httpx = require("httpx")
            headers = {"Authorization": f"Bearer {self._api_key}"} if self._api_key else {}
            limits = httpx.Limits(max_connections=self.concurrency)
            self._client = httpx.Client(timeout=self.timeout, headers=headers, limits=limits)
        return self._client

    def _body(self, prompt: Prompt, max_tokens: int, decoding: Decoding | None) -> dict[str, Any]:
        messages = prompt.message_dicts()
        if self.prefill and prompt.prefix:
            messages.append({"role": "assistant", "content": prompt.prefix})
        body: dict[str, Any] = {
            "model": self.model,
            "messages": messages,
            "max_tokens": max_tokens,
            "temperature": 0.0 if decoding is None else decoding.temperature,
            "seed": 0 if decoding is None else decoding.seed,
        }
        if decoding is not None and decoding.stop:
            body["stop"] = list(decoding.stop)
        return body

    def _post(self, body: dict[str, Any]) -> dict[str, Any] | None:
        """One request with retries; ``None`` when it keeps failing (connection refused raises)."""
        httpx = require("httpx")
        url = self.base_url + "/chat/completions"
        refused = 0
        for attempt in range(self.max_retries + 1):
            if attempt:
                self._count("retries")
                time.sleep(self.backoff * 2 ** (attempt - 1))
            self._count("requests")
            try:
                resp = self._http().post(url, json=body)
                if resp.status_code in _RETRY_STATUS:
                    self._count(f"http_{resp.status_code}")
                    continue
                if resp.status_code >= 400:
                    self._count(f"http_{resp.status_code}")
                    logger.warning("%s answered %d: %s", url, resp.status_code, resp.text[:200])
                    return None
                data = resp.json()
                if not isinstance(data, dict) or not data.get("choices"):
                    raise _Garbage()
                return data
            except httpx.TimeoutException:
                self._count("timeouts")
            except httpx.TransportError as exc:  # refused, reset, protocol errors
                refused += isinstance(exc, httpx.ConnectError)
                self._count("connection_errors")
            except (_Garbage, ValueError):
                self._count("garbage")
        if refused == self.max_retries + 1:
            raise EndpointDownError(
                f"the LLM endpoint {url} refused every connection ({refused} tries): is the "
                "server running and the URL right?"
            )
        return None

    def _count(self, key: str) -> None:
        with self._lock:
            self.stats[key] += 1

    def _map(self, fn: Any, items: Sequence[Any]) -> list[Any]:
        if self.concurrency == 1 or len(items) <= 1:
            return [fn(x) for x in items]
        with ThreadPoolExecutor(max_workers=min(self.concurrency, len(items))) as pool:
            return list(pool.map(fn, items))

    # ------------------------------------------------------------------ interface
    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[str | None]:
        decoding.check()

        def one(prompt: Prompt) -> str | None:
            data = self._post(self._body(prompt, decoding.max_new_tokens, decoding))
            text = _message_text(data)
            if text is None:
                self._count("failed_prompts")
            return text

        return self._map(one, list(prompts))

    def choice_logprobs(
        self, prompts: Sequence[Prompt], choices: Sequence[str], *, exact: bool = False
    ) -> np.ndarray:
        # tokens are compared without blanks and "[", so exact changes nothing here
        wanted = [c.strip() for c in choices]

        def one(prompt: Prompt) -> np.ndarray:
            body = self._body(prompt, 4, None)
            body.update(logprobs=True, top_logprobs=self.top_logprobs)
            data = self._post(body)
            row = _read_choices(data, wanted)
            if row is None:
                self._count("failed_prompts")
                return np.full(len(wanted), np.nan)
            return row

        rows = self._map(one, list(prompts))
        return np.array(rows, dtype=np.float64).reshape(len(prompts), len(choices))

    def close(self) -> None:
        if self._client is not None:
            self._client.close()
            self._client = None

    def __repr__(self) -> str:
        return f"OpenAIBackend({self.base_url!r}, {self.model!r})"


def _message_text(data: dict[str, Any] | None) -> str | None:
    if data is None:
        return None
    try:
        choice = data["choices"][0]
        text = choice.get("message", {}).get("content")
        if text is None:
            text = choice.get("text")
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    return text if isinstance(text, str) else None


def _clean(token: str) -> str:
    return token.strip().lstrip("[").strip()


def _read_choices(data: dict[str, Any] | None, wanted: list[str]) -> np.ndarray | None:
    if data is None:
        return None
    row = np.full(len(wanted), -np.inf)
    try:
        content = data["choices"][0].get("logprobs", {}) or {}
        positions = content.get("content") or []
    except (KeyError, IndexError, TypeError, AttributeError):
        return None
    for pos in positions:
        if not isinstance(pos, dict) or not _clean(str(pos.get("token", ""))):
            continue
        alts = pos.get("top_logprobs") or [pos]
        for alt in alts:
            if not isinstance(alt, dict):
                continue
            tok = _clean(str(alt.get("token", "")))
            lp = alt.get("logprob")
            if tok in wanted and isinstance(lp, (int, float)):
                i = wanted.index(tok)
                row[i] = max(row[i], float(lp))
        return row
    text = _message_text(data)
    if text is None:
        return None
    # no log-probabilities: the first choice named in the text wins
    hits = [(text.find(w), i) for i, w in enumerate(wanted) if w and w in text]
    if hits:
        row[min(hits)[1]] = 0.0
    return row
