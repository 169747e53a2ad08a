"""Test helpers: a tiny random causal LM with its own tokenizer, and a stub OpenAI server.

Used by the tests and by ``benchmarks/llm_rerank.py`` (HTTP throughput); nothing here is
downloaded.
"""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from rankstack._compat import require

_CHAT_TEMPLATE = (
    "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
    "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}"
)
_CORPUS = (
    "the quick brown fox jumps over the lazy dog. Passage query answer relevant yes no. "
    "[1] > [2] > [3] [A] > [B] > [C] 0 1 2 3 4 5 6 7 8 9 A B C D E F G H I J K L M N O P Q R "
    "S T U V W X Y Z a b c d e f g h i j k l m n o p q r s t u v w x y z . , : ; ! ? ( ) < > / "
    "<think> </think> <answer> </answer> cells protein gene cancer blood study results"
)


def tiny_causal_lm(seed: int = 0, layers: int = 2, hidden: int = 32) -> tuple[Any, Any]:
    """A randomly initialised Llama with a byte-level BPE tokenizer (vocab ~300), built offline."""
    torch = require("torch")
    transformers = require("transformers")
    tokenizers = require("tokenizers")
    tok_model = tokenizers.models.BPE(unk_token=None)
    tk = tokenizers.Tokenizer(tok_model)
    tk.pre_tokenizer = tokenizers.pre_tokenizers.ByteLevel(add_prefix_space=False)
    tk.decoder = tokenizers.decoders.ByteLevel()
    specials = ["<pad>", "<eos>", "<|im_start|>", "<|im_end|>"]
    trainer = tokenizers.trainers.BpeTrainer(
        vocab_size=320,
        special_tokens=specials,
        initial_alphabet=tokenizers.pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tk.train_from_iterator([_CORPUS] * 4, trainer=trainer)
    tokenizer = transformers.PreTrainedTokenizerFast(
        tokenizer_object=tk, pad_token="<pad>", eos_token="<eos>"
    )
    tokenizer.chat_template = _CHAT_TEMPLATE
    torch.manual_seed(seed)
    config = transformers.LlamaConfig(
        vocab_size=len(tokenizer),
        hidden_size=hidden,
        intermediate_size=2 * hidden,
        num_hidden_layers=layers,
        num_attention_heads=2,
        num_key_value_heads=2,
        max_position_embeddings=2048,
        pad_token_id=tokenizer.pad_token_id,
        eos_token_id=tokenizer.eos_token_id,
        bos_token_id=tokenizer.eos_token_id,
        tie_word_embeddings=True,
    )
    model = transformers.LlamaForCausalLM(config)
    model.eval()
    return model, tokenizer


@dataclass
class StubBehaviour:
    """What the stub answers: ``mode`` is ``reverse`` (a permutation, last first), ``text``
    (``text`` verbatim), ``garbage`` (not JSON), ``error`` (HTTP 500), ``slow`` (sleeps
    ``delay`` seconds first, then reverses), or ``flaky`` (500 for the first ``fail_first``
    requests, then reverses)."""

    mode: str = "reverse"
    text: str = ""
    delay: float = 0.0
    fail_first: int = 0
    requests: int = 0
    bodies: list[dict[str, Any]] = field(default_factory=list)


def _answer(body: dict[str, Any]) -> dict[str, Any]:
    """A chat completion: a reversed permutation of the prompt's identifiers, logprobs if asked."""
    import re

    user = "\n".join(m.get("content", "") for m in body.get("messages", []))
    nums = re.findall(r"^\[(\d+)\]", user, re.M)
    letters = re.findall(r"^\[([A-Z])\]", user, re.M)
    ids = nums or letters
    text = " > ".join(f"[{i}]" for i in reversed(ids)) if ids else "Yes"
    choice: dict[str, Any] = {"index": 0, "message": {"role": "assistant", "content": text}}
    if body.get("logprobs"):
        first = ids[-1] if ids else "Yes"
        alts = [{"token": i, "logprob": -0.1 * r} for r, i in enumerate(reversed(ids))] or [
            {"token": "Yes", "logprob": -0.2},
            {"token": "No", "logprob": -1.9},
        ]
        choice["logprobs"] = {
            "content": [
                {"token": "[", "logprob": 0.0, "top_logprobs": [{"token": "[", "logprob": 0.0}]},
                {"token": first, "logprob": alts[0]["logprob"], "top_logprobs": alts},
            ]
        }
    return {"id": "stub", "object": "chat.completion", "choices": [choice]}


@contextmanager
def stub_openai_server(
    behaviour: StubBehaviour | None = None,
) -> Iterator[tuple[str, StubBehaviour]]:
    """Serve a stub ``/v1/chat/completions`` on a free loopback port.

    Yields ``(base_url, behaviour)``; the server stops when the block ends.
    """
    state = behaviour or StubBehaviour()
    lock = threading.Lock()

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: Any) -> None:  # quiet
            pass

        def setup(self) -> None:
            super().setup()
            # headers and body go out in two writes: without this, Nagle's algorithm and
            # delayed ACKs add ~40 ms to every keep-alive request
            self.request.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

        def _send(self, code: int, payload: bytes, ctype: str = "application/json") -> None:
            self.send_response(code)
            self.send_header("Content-Type", ctype)
            self.send_header("Content-Length", str(len(payload)))
            self.end_headers()
            self.wfile.write(payload)

        def do_POST(self) -> None:
            length = int(self.headers.get("Content-Length", 0))
            body = json.loads(self.rfile.read(length) or b"{}")
            with lock:
                state.requests += 1
                n = state.requests
                state.bodies.append(body)
            if not self.path.endswith("/chat/completions"):
                self._send(404, b'{"error": "not found"}')
                return
            mode = state.mode
            if mode == "slow" and state.delay:
                time.sleep(state.delay)
            if mode == "garbage":
                self._send(200, b"<html>not json</html>", "text/html")
            elif mode == "error" or (mode == "flaky" and n <= state.fail_first):
                self._send(500, b'{"error": "boom"}')
            elif mode == "text":
                data = {"choices": [{"index": 0, "message": {"content": state.text}}]}
                self._send(200, json.dumps(data).encode())
            else:
                self._send(200, json.dumps(_answer(body)).encode())

    class Server(ThreadingHTTPServer):
        request_queue_size = 256  # the default backlog of 5 resets connections at concurrency 32

    server = Server(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/v1", state
    finally:
        server.shutdown()
        server.server_close()
