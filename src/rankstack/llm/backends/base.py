"""The interface every LLM backend implements, and the request types methods build.

A backend turns prompts (chat messages plus an optional start of the answer) into either
generated text (:meth:`Backend.generate`) or the log-probabilities of a few candidate next
tokens (:meth:`Backend.choice_logprobs`: "Yes"/"No", "A"/"B", passage identifiers). Both take a
whole batch of prompts so that methods can batch windows of different queries together.

Failures of single prompts never raise: ``generate`` returns ``None`` and ``choice_logprobs`` a
row of NaN for them, and the methods count them in the run's metadata. Only an endpoint that
cannot be reached at all raises :class:`EndpointDownError`.
"""

from __future__ import annotations

import json
import math
from abc import ABC, abstractmethod
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from rankstack.exceptions import RankstackError

#: characters per token assumed by backends without a tokenizer (documented rule)
CHARS_PER_TOKEN = 4


class BackendError(RankstackError, RuntimeError):
    """An LLM backend cannot be built or used (bad settings, unloadable model)."""


class EndpointDownError(BackendError):
    """An HTTP endpoint refused every connection: it is down or the URL is wrong."""


@dataclass(frozen=True)
class Prompt:
    """One request: chat ``messages`` (``{"role", "content"}``) and an answer ``prefix``.

    ``prefix`` is the start of the assistant's answer that the model continues (``"["`` for
    FIRST, so that the next token is a passage identifier).
    """

    messages: tuple[tuple[str, str], ...]
    prefix: str = ""

    @classmethod
    def chat(cls, system: str | None, user: str, prefix: str = "") -> Prompt:
        msgs: list[tuple[str, str]] = []
        if system:
            msgs.append(("system", system))
        msgs.append(("user", user))
        return cls(tuple(msgs), prefix)

    def message_dicts(self) -> list[dict[str, str]]:
        return [{"role": r, "content": c} for r, c in self.messages]

    def key(self) -> str:
        """A canonical JSON form (part of the response cache key)."""
        return json.dumps({"messages": self.messages, "prefix": self.prefix}, ensure_ascii=False)

    def plain_text(self) -> str:
        """The prompt as plain text, for models without a chat template."""
        return "\n\n".join(c for _, c in self.messages) + "\n\n" + self.prefix


@dataclass(frozen=True)
class Decoding:
    """Decoding settings of :meth:`Backend.generate` (greedy unless ``temperature > 0``)."""

    max_new_tokens: int = 64
    temperature: float = 0.0
    seed: int = 0
    stop: tuple[str, ...] = field(default_factory=tuple)

    def check(self) -> Decoding:
        if self.max_new_tokens < 1 or not math.isfinite(self.temperature) or self.temperature < 0:
            raise BackendError(
                "Decoding: max_new_tokens must be >= 1 and temperature a number >= 0, found "
                f"{self.max_new_tokens} and {self.temperature}"
            )
        return self

    def to_dict(self) -> dict[str, Any]:
        return {
            "max_new_tokens": self.max_new_tokens,
            "temperature": self.temperature,
            "seed": self.seed,
            "stop": list(self.stop),
        }


class Backend(ABC):
    """A language model that methods can prompt (see the module docstring)."""

    #: short backend name recorded in run metadata ("transformers", "openai", "llamacpp")
    kind: str = "backend"

    @property
    @abstractmethod
    def context_length(self) -> int:
        """Tokens the model reads at most (prompt plus generated tokens)."""

    @abstractmethod
    def identity(self) -> dict[str, Any]:
        """What identifies the model's outputs: backend, model name/hash/revision, library."""

    @abstractmethod
    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[str | None]:
        """The generated answer of each prompt (``None`` where the request failed)."""

    @abstractmethod
    def choice_logprobs(
        self, prompts: Sequence[Prompt], choices: Sequence[str], *, exact: bool = False
    ) -> np.ndarray:
        """``[prompts, choices]`` log-probabilities of each choice as the next answer token.

        By default a choice also matches its variant with a leading space (``" Yes"``), the
        best of the two counting; ``exact=True`` reads only the token of the choice as written
        (FIRST: the identifier right after ``[``, the token its training shapes). ``-inf`` for
        a choice the model gives no probability (or the endpoint did not list); a row of NaN
        where the request failed.
        """

    # token accounting: exact with a tokenizer, CHARS_PER_TOKEN characters a token otherwise
    def count_tokens(self, texts: Sequence[str]) -> np.ndarray:
        """Tokens of each text (int64)."""
        return np.fromiter(
            (-(-len(t) // CHARS_PER_TOKEN) for t in texts), dtype=np.int64, count=len(texts)
        )

    def truncate(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        """Each text cut to its first ``max_tokens`` tokens."""
        return [t[: max_tokens * CHARS_PER_TOKEN] for t in texts]

    def prompt_tokens(self, prompt: Prompt) -> int:
        """Tokens of the whole prompt as the model will read it."""
        return int(self.count_tokens([prompt.plain_text()])[0]) + 8 * len(prompt.messages)

    def close(self) -> None:  # noqa: B027  (optional hook)
        """Release connections or threads (optional)."""
