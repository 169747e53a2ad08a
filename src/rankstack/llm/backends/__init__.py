"""LLM backends behind one interface (:class:`Backend`): transformers, llama.cpp, HTTP.

:func:`make_backend` builds one from a short spec, as the CLI does.
"""

from __future__ import annotations

from typing import Any

from rankstack.llm.backends.base import (
    Backend,
    BackendError,
    Decoding,
    EndpointDownError,
    Prompt,
)

__all__ = [
    "Backend",
    "BackendError",
    "Decoding",
    "EndpointDownError",
    "Prompt",
    "make_backend",
]


def make_backend(kind: str, model: str, **options: Any) -> Backend:
    """A backend by kind: ``transformers`` (``hf``), ``llamacpp`` or ``openai`` (``http``).

    For ``openai``, ``options`` must hold ``base_url``; other options go to the backend's
    constructor.
    """
    key = kind.lower()
    if key in ("transformers", "hf"):
        from rankstack.llm.backends.hf import TransformersBackend

        return TransformersBackend(model, **options)
    if key in ("llamacpp", "llama.cpp", "llama-cpp"):
        from rankstack.llm.backends.llamacpp import LlamaCppBackend

        return LlamaCppBackend(model, **options)
    if key in ("openai", "http"):
        from rankstack.llm.backends.openai_http import OpenAIBackend

        if "base_url" not in options:
            raise BackendError("the openai backend needs a base URL (--base-url)")
        return OpenAIBackend(options.pop("base_url"), model, **options)
    raise BackendError(f"unknown LLM backend {kind!r}: expected transformers, llamacpp or openai")
