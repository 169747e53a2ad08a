"""Local models through transformers: a folder, a hub name, a GGUF file, or a loaded pair.

Prompts go through the tokenizer's chat template (plain text joined by blank lines for
models without one) followed by the answer prefix. Batches are left-padded with explicit
position ids, so a padded prompt sees the same positions as an unpadded one; prompts are
sorted by length before batching so that batches pad little. Generation is greedy unless the
decoding asks for a temperature. A prompt longer than the context is not sent: it fails
(``None`` / NaN) and is counted by the method (methods shrink passages first, see
:mod:`rankstack.llm.methods.base`).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rankstack._compat import require
from rankstack.llm.backends.base import Backend, BackendError, Decoding, Prompt
from rankstack.llm.weights import dequantised_folder, file_sha256, resolve_llm

logger = logging.getLogger(__name__)


class TransformersBackend(Backend):
    """A causal LM run in-process by transformers.

    Parameters
    ----------
    model:
        ``smollm2-135m`` / ``qwen2.5-coder-0.5b`` (registry weights), a ``.gguf`` file, a model
        folder, a hub name (``name@revision``), or a loaded ``(model, tokenizer)`` pair.
    adapter:
        A LoRA adapter folder (peft, safetensors) to apply, e.g. from
        :func:`rankstack.llm.train_first.train_first_reranker`.
    batch_size:
        Prompts per forward pass.
    max_context:
        Context length to use (default: the model's, capped at 8192).
    threads:
        torch CPU threads (default: torch's choice).
    """

    kind = "transformers"

    def __init__(
        self,
        model: Any,
        *,
        adapter: str | os.PathLike[str] | None = None,
        batch_size: int = 8,
        max_context: int | None = None,
        threads: int | None = None,
    ) -> None:
        if batch_size < 1:
            raise BackendError(f"TransformersBackend: batch_size must be >= 1, found {batch_size}")
        self.batch_size = int(batch_size)
        self.threads = threads
        torch = require("torch")
        if threads:
            torch.set_num_threads(int(threads))
        if isinstance(model, tuple) and len(model) == 2:
            net, tok = model
            if adapter is not None:  # merging the adapter changes the weights in place
                import copy

                net = copy.deepcopy(net)
            self._identity: dict[str, Any] = {
                "name": getattr(net.config, "_name_or_path", "") or type(net).__name__,
                "sha256": _state_hash(net),
            }
        else:
            net, tok, self._identity = _load(model)
        if adapter is not None:
            net, self._identity["adapter"] = _with_adapter(net, Path(adapter))
        self.model = net
        self.tokenizer = tok
        if tok.pad_token_id is None:
            tok.pad_token = tok.eos_token
        tok.padding_side = "left"
        net.eval()
        native = int(getattr(net.config, "max_position_embeddings", 2048) or 2048)
        self._context = int(max_context) if max_context else min(native, 8192)
        transformers = require("transformers")
        self._identity["library"] = f"transformers {transformers.__version__}"
        self._identity["torch"] = str(torch.__version__)
        self._templated = bool(getattr(tok, "chat_template", None))
        self._choice_ids: dict[str, list[int]] = {}
        self._keep_last = True

    # ------------------------------------------------------------------ interface
    @property
    def context_length(self) -> int:
        return self._context

    def identity(self) -> dict[str, Any]:
        return {"backend": self.kind, **self._identity}

    def render(self, prompt: Prompt) -> str:
        """The exact text the model reads."""
        if not self._templated:
            return prompt.plain_text()
        text = self.tokenizer.apply_chat_template(
            prompt.message_dicts(), add_generation_prompt=True, tokenize=False
        )
        return str(text) + prompt.prefix

    def count_tokens(self, texts: Sequence[str]) -> np.ndarray:
        if not texts:
            return np.zeros(0, dtype=np.int64)
        enc = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        return np.fromiter((len(e) for e in enc), dtype=np.int64, count=len(texts))

    def truncate(self, texts: Sequence[str], max_tokens: int) -> list[str]:
        if not texts:
            return []
        enc = self.tokenizer(list(texts), add_special_tokens=False, return_offsets_mapping=True)
        out = []
        for text, offsets in zip(texts, enc["offset_mapping"]):
            if len(offsets) <= max_tokens:
                out.append(text)
            else:
                out.append(text[: offsets[max_tokens - 1][1]] if max_tokens > 0 else "")
        return out

    def prompt_tokens(self, prompt: Prompt) -> int:
        return int(self.count_tokens([self.render(prompt)])[0])

    def generate(self, prompts: Sequence[Prompt], decoding: Decoding) -> list[str | None]:
        torch = require("torch")
        decoding.check()
        out: list[str | None] = [None] * len(prompts)
        for idx, enc in self._batches(prompts, decoding.max_new_tokens, positions=False):
            kwargs: dict[str, Any] = {
                "max_new_tokens": decoding.max_new_tokens,
                "pad_token_id": self.tokenizer.pad_token_id,
            }
            if decoding.temperature > 0:
                torch.manual_seed(decoding.seed)
                kwargs.update(do_sample=True, temperature=decoding.temperature)
            else:
                kwargs.update(do_sample=False, temperature=None, top_p=None, top_k=None)
            if decoding.stop:
                kwargs.update(stop_strings=list(decoding.stop), tokenizer=self.tokenizer)
            with torch.inference_mode():
                gen = self.model.generate(**enc, **kwargs)
            new = gen[:, enc["input_ids"].shape[1] :]
            texts = self.tokenizer.batch_decode(new, skip_special_tokens=True)
            for i, t in zip(idx, texts):
                out[i] = t
        return out

    def choice_logprobs(
        self, prompts: Sequence[Prompt], choices: Sequence[str], *, exact: bool = False
    ) -> np.ndarray:
        torch = require("torch")
        ids = [self._ids_of(c)[:1] if exact else self._ids_of(c) for c in choices]
        out = np.full((len(prompts), len(choices)), np.nan)
        for idx, enc in self._batches(prompts, 1, positions=True):
            with torch.inference_mode():
                logits = self._last_logits(enc).float()
            lp = torch.log_softmax(logits, dim=-1).numpy().astype(np.float64)
            for c, cids in enumerate(ids):
                out[idx, c] = lp[:, cids].max(axis=1) if cids else -np.inf
        return out

    def forward_choice_logits(self, prompts: Sequence[Prompt], choices: Sequence[str]) -> Any:
        """Raw ``[prompts, choices]`` next-token logits *with gradients* (for training)."""
        torch = require("torch")
        ids = [self._ids_of(c)[0] for c in choices]
        texts = [self.render(p) for p in prompts]
        enc = self._encode(texts)
        logits = self._last_logits(enc)
        return logits[:, torch.tensor(ids)]

    def _last_logits(self, enc: dict[str, Any]) -> Any:
        """Next-token logits at the last position only, ``[batch, vocab]``.

        ``logits_to_keep=1`` makes the model apply its output layer to the last position only:
        the vocabulary projection of every position is a large share of a forward pass for a
        small model (SmolLM2-135M: 49,152 x 576 a token; 42 % of the time of a 10-passage
        FIRST window on one CPU core). Models whose forward has no such argument get the full
        logits, sliced.
        """
        if self._keep_last:
            try:
                return self.model(**enc, logits_to_keep=1).logits[:, -1, :]
            except TypeError:
                self._keep_last = False
        return self.model(**enc).logits[:, -1, :]

    # ------------------------------------------------------------------ helpers
    def _ids_of(self, choice: str) -> list[int]:
        """Token ids that start ``choice`` (with and without a leading space)."""
        if choice not in self._choice_ids:
            found: list[int] = []
            for variant in (choice, " " + choice):
                enc = self.tokenizer(variant, add_special_tokens=False)["input_ids"]
                if enc and enc[0] not in found:
                    found.append(int(enc[0]))
            self._choice_ids[choice] = found
        return self._choice_ids[choice]

    def _encode(self, texts: list[str]) -> dict[str, Any]:
        enc = self.tokenizer(texts, add_special_tokens=False, padding=True, return_tensors="pt")
        mask = enc["attention_mask"]
        pos = (mask.cumsum(dim=1) - 1).clamp(min=0)
        return {"input_ids": enc["input_ids"], "attention_mask": mask, "position_ids": pos}

    def _batches(self, prompts: Sequence[Prompt], reserve: int, positions: bool) -> Any:
        texts = [self.render(p) for p in prompts]
        lengths = self.count_tokens(texts)
        fits = np.flatnonzero(lengths + reserve <= self._context)
        if len(fits) < len(texts):
            logger.warning(
                "%d prompts exceed the context of %d tokens and were not run",
                len(texts) - len(fits),
                self._context,
            )
        order = fits[np.argsort(lengths[fits], kind="stable")]
        for lo in range(0, len(order), self.batch_size):
            idx = order[lo : lo + self.batch_size]
            enc = self._encode([texts[i] for i in idx])
            if not positions:
                enc.pop("position_ids")  # generate() derives positions from the mask itself
            yield idx, enc

    def __repr__(self) -> str:
        return f"TransformersBackend({self._identity.get('name')!r})"


def _load(spec: Any) -> tuple[Any, Any, dict[str, Any]]:
    transformers = require("transformers")
    from rankstack.train.models import load_pretrained

    target, ident, gguf = resolve_llm(spec)
    if gguf is not None:
        target = str(dequantised_folder(gguf, ident["sha256"]))
    try:
        if Path(target).is_dir():
            tok = transformers.AutoTokenizer.from_pretrained(target, local_files_only=True)
            net = transformers.AutoModelForCausalLM.from_pretrained(target, local_files_only=True)
        else:
            revision = ident.get("revision", "main")
            tok = load_pretrained(transformers.AutoTokenizer, target, revision=revision)
            net = load_pretrained(transformers.AutoModelForCausalLM, target, revision=revision)
    except (OSError, ValueError) as exc:
        raise BackendError(f"cannot load the language model {spec!r}: {exc}") from exc
    return net, tok, ident


def _with_adapter(net: Any, folder: Path) -> tuple[Any, str]:
    peft = require("peft")
    weights = folder / "adapter_model.safetensors"
    if not weights.is_file():
        raise BackendError(f"{folder} is not a LoRA adapter folder (no adapter_model.safetensors)")
    model = peft.PeftModel.from_pretrained(net, str(folder))
    return model.merge_and_unload(), file_sha256(weights)


def _state_hash(net: Any) -> str:
    """A cheap identity of an in-memory model: hash of its parameter names, shapes and sums."""
    import hashlib

    h = hashlib.sha256()
    for name, p in net.state_dict().items():
        h.update(f"{name}:{tuple(p.shape)}:{float(p.double().sum()):.10e}".encode())
    return h.hexdigest()
