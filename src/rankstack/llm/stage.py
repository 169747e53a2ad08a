"""``LLMRerank``: an LLM re-ranking stage described by literals only.

The method classes take a :class:`~rankstack.llm.backends.Backend` object; this stage takes
the backend's *spec* (kind, model, URL) and builds backend and method on first use. Every
parameter is a number or a string, so pipeline expressions and saved pipelines can write it
(``bm25 % 20 >> llm_rerank(method="first", model="smollm2-135m")``) and the CLI can build it
from options.
"""

from __future__ import annotations

import inspect
from typing import Any

from rankstack.data import Corpus, Queries, Run
from rankstack.exceptions import DataError
from rankstack.pipeline import Stage


class LLMRerank(Stage):
    """Re-rank with an LLM method over a backend given by name (see the module docstring).

    Parameters
    ----------
    method:
        A key of :data:`rankstack.llm.METHODS` (``first``, ``listwise``, ``full-list``,
        ``pointwise``, ``pointwise-grade``, ``pairwise``, ``pairwise-bubble``, ``reasoning``...).
    model:
        The model: ``smollm2-135m``, ``qwen2.5-coder-0.5b``, a ``.gguf`` file, a folder, a hub
        name, or the served model's name for ``backend="openai"``.
    backend:
        ``transformers``, ``llamacpp`` or ``openai``.
    base_url:
        The endpoint of ``backend="openai"``.
    adapter:
        A LoRA adapter folder (transformers backend), e.g. a trained FIRST reranker.
    corpus:
        The documents' texts.
    top_k, window, stride, passes, template, max_passage_tokens, max_new_tokens, cache:
        As in the method classes (``window``/``stride``/``passes`` only for windowed methods,
        ``max_new_tokens`` only for generating ones).
    batch_size:
        Prompts per forward pass (transformers).
    concurrency, timeout:
        Requests in flight and seconds per request (openai).
    name:
        Name of the stage in run metadata.
    """

    def __init__(
        self,
        method: str = "first",
        model: str = "smollm2-135m",
        backend: str = "transformers",
        base_url: str | None = None,
        adapter: str | None = None,
        corpus: Corpus | None = None,
        top_k: int = 20,
        window: int | None = 20,
        stride: int = 10,
        passes: int = 1,
        template: str | None = None,
        max_passage_tokens: int = 100,
        max_new_tokens: int | None = None,
        cache: str | None = None,
        batch_size: int = 8,
        concurrency: int = 8,
        timeout: float = 60.0,
        name: str = "llm",
    ) -> None:
        from rankstack.llm import METHODS

        if method.lower().replace("_", "-") not in METHODS:
            raise DataError(
                f"llm_rerank: unknown method {method!r}; expected one of {sorted(METHODS)}"
            )
        self.method = method
        self.model = model
        self.backend = backend
        self.base_url = base_url
        self.adapter = adapter
        self.corpus = corpus
        self.top_k = top_k
        self.window = window
        self.stride = stride
        self.passes = passes
        self.template = template
        self.max_passage_tokens = max_passage_tokens
        self.max_new_tokens = max_new_tokens
        self.cache = cache
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.timeout = timeout
        self.name = name
        self._stage: Stage | None = None

    def build(self) -> Stage:
        """The method stage (built, with its backend, on first use)."""
        if self._stage is None:
            from rankstack.llm import METHODS, llm_reranker
            from rankstack.llm.backends import make_backend

            kind = self.backend.lower()
            options: dict[str, Any] = {}
            if kind in ("openai", "http"):
                options = {
                    "base_url": self.base_url,
                    "concurrency": self.concurrency,
                    "timeout": self.timeout,
                }
                if self.base_url is None:
                    options.pop("base_url")
            elif kind in ("transformers", "hf"):
                options = {"batch_size": self.batch_size, "adapter": self.adapter}
            be = make_backend(self.backend, self.model, **options)
            cls, _ = METHODS[self.method.lower().replace("_", "-")]
            accepted = set(inspect.signature(cls.__init__).parameters)
            wanted = {
                "top_k": self.top_k,
                "window": self.window,
                "stride": self.stride,
                "passes": self.passes,
                "template": self.template,
                "max_passage_tokens": self.max_passage_tokens,
                "max_new_tokens": self.max_new_tokens,
                "cache": self.cache,
                "name": self.name,
            }
            params = {k: v for k, v in wanted.items() if k in accepted}
            self._stage = llm_reranker(self.method, be, self.corpus, **params)
        return self._stage

    def transform(self, queries: Queries, run: Run | None = None) -> Run:
        return self.build().transform(queries, run)
