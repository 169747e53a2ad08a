"""GGUF models run by llama.cpp through ``llama-cpp-python`` (optional extra ``llamacpp``).

``llama-cpp-python`` has no wheel on PyPI for this platform and compiles from source (about
10 minutes on 2 cores), so it is never part of the default install or test run. Prompts are
rendered with the chat template stored in the GGUF file (``tokenizer.chat_template``) through
llama-cpp-python's Jinja2 formatter, then evaluated token by token; log-probabilities are read
from the logits of the last prompt position. Decoding is greedy (``temperature=0``).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from typing import Any

import numpy as np

from rankstack._compat import require
from rankstack.llm.backends.base import Backend, BackendError, Decoding, Prompt
from rankstack.llm.weights import resolve_llm


class LlamaCppBackend(Backend):
    """A GGUF model run by llama.cpp.

    Parameters
    ----------
    model:
        A ``.gguf`` file or a registry alias (``smollm2-135m``, ``qwen2.5-coder-0.5b``).
    n_ctx:
        Context length.
    n_threads:
        CPU threads (default: llama.cpp's choice).
    """

    kind = "llamacpp"

    def __init__(
        self, model: str | os.PathLike[str], *, n_ctx: int = 4096, n_threads: int | None = None
    ) -> None:
        llama_cpp = require("llama_cpp")
        _, ident, gguf = resolve_llm(model)
        if gguf is None:
            raise BackendError(f"LlamaCppBackend needs a .gguf file, found {model!r}")
        self._llm = llama_cpp.Llama(
            model_path=str(gguf),
            n_ctx=int(n_ctx),
            n_threads=n_threads,
            logits_all=False,
            verbose=False,
        )
        self._identity = {**ident, "library": f"llama-cpp-python {llama_cpp.__version__}"}
        template = self._llm.metadata.get("tokenizer.chat_template")
        self._formatter: Any = None
        if template:
            from llama_cpp.llama_chat_format import Jinja2ChatFormatter

            eos = self._llm.detokenize([self._llm.token_eos()]).decode("utf-8", "replace")
            bos = self._llm.detokenize([self._llm.token_bos()]).decode("utf-8", "replace")
            self._formatter = Jinja2ChatFormatter(template, eos_token=eos, bos_token=bos)
        self._n_ctx = int(n_ctx)

    @property
    def context_length(self) -> int:
        return self._n_ctx

    def identity(self) -> dict[str, Any]:
        return {"backend": self.kind, **self._identity}

    def render(self, prompt: Prompt) -> str:
        if self._formatter is None:
            return prompt.plain_text()
        res = self._formatter(messages=prompt.message_dicts())
        return str(res.prompt) + prompt.prefix

    def _tokens(self, text: str) -> list[int]:
        return list(self._llm.tokenize(text.encode("utf-8"), add_bos=False, special=True))

    def count_tokens(self, texts: Sequence[str]) -> np.ndarray:
        return np.array([len(self._tokens(t)) for t in texts], dtype=np.int64)

    def truncate(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        out = []
        for t in texts:
            toks = self._tokens(t)
            if len(toks) <= max_tokens:
                out.append(t)
            else:
                out.append(self._llm.detokenize(toks[:max_tokens]).decode("utf-8", "ignore"))
        return out

    def prompt_tokens(self, prompt: Prompt) -> int:
        return len(self._tokens(self.render(prompt)))

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[str | None]:
        decoding.check()
        out: list[str | None] = []
        for p in prompts:
            text = self.render(p)
            if self.prompt_tokens(p) + decoding.max_new_tokens > self._n_ctx:
                out.append(None)
                continue
            res = self._llm.create_completion(
                text,
                max_tokens=decoding.max_new_tokens,
                temperature=decoding.temperature,
                seed=decoding.seed,
                stop=list(decoding.stop) or None,
            )
            out.append(str(res["choices"][0]["text"]))
        return out

    def choice_logprobs(
        self, prompts: Sequence[Prompt], choices: Sequence[str], *, exact: bool = False
    ) -> np.ndarray:
        ids = []
        for c in choices:
            variants = (c,) if exact else (c, " " + c)
            ids.append(sorted({t[0] for t in (self._tokens(v) for v in variants) if t}))
        out = np.full((len(prompts), len(choices)), np.nan)
        for i, p in enumerate(prompts):
            toks = self._tokens(self.render(p))
            if len(toks) + 1 > self._n_ctx:
                continue
            self._llm.reset()
            self._llm.eval(toks)
            logits = np.asarray(self._llm.scores[self._llm.n_tokens - 1], dtype=np.float64)
            lp = logits - np.logaddexp.reduce(logits)
            out[i] = [lp[c].max() if c else -np.inf for c in ids]
        return out

    def __repr__(self) -> str:
        return f"LlamaCppBackend({self._identity.get('name')!r})"
