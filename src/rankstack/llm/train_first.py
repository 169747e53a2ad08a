"""Training a FIRST reranker on CPU: LoRA on a small causal LM, ranking loss on first-token logits.

FIRST (Reddy et al. 2024, "FIRST: Faster Improved Listwise Reranking with Single Token
Decoding", EMNLP) ranks a window of passages by the logits of the first identifier token the
model would generate. Training makes those logits rank: for each training query, a window of
candidates (its positives from the qrels plus BM25's hard negatives, in a seeded random order,
as RankZephyr-style shuffling does, so that the model cannot learn "first is best") is
rendered with exactly the prompt the :class:`~rankstack.llm.FirstReranker` uses at inference,
and the logits of the letters ``A..`` at the answer position are the scores.

Loss (``loss="weighted_ranknet"``, FIRST's eq. 2): RankNet over every pair whose labels
differ, each pair weighted by ``1 / (r_i + r_j)`` with ``r`` the 1-based ranks in the target
order, so mistakes near the top cost more. Any loss of :mod:`rankstack.ltr.losses` can be used
instead (``loss="listnet"``, ``"lambdarank"``...). Labels come from the qrels or, with a
``teacher`` run (e.g. a cross-encoder's scores), from the teacher's scores of the candidates.
FIRST's paper also adds the language-modelling loss of the full permutation; this trainer does
not (only the ranking loss), which is what makes the first-token logits rank.

Only the LoRA adapter (peft; Hu et al. 2022) is trained and saved, in safetensors;
``lora_top_layers=N`` puts it on the top ``N`` layers only, so that the backward pass stops
there (about half the cost of a step on a CPU for N = a quarter of the layers). A checkpoint
(adapter, optimizer state, step) is written every ``checkpoint_every`` optimizer steps; with
``resume=True`` training continues from it and ends with the same adapter as an uninterrupted
run (examples are drawn in a seeded order, dropout is seeded per step).
"""

from __future__ import annotations

import json
import logging
import os
import shutil
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from rankstack._compat import require
from rankstack.data import Corpus, Qrels, Queries, Run
from rankstack.exceptions import DataError, FormatError
from rankstack.io._files import atomic_write, replace_folder
from rankstack.llm.backends.hf import TransformersBackend
from rankstack.llm.methods.listwise import FirstReranker
from rankstack.llm.parse import LETTERS

logger = logging.getLogger(__name__)

FORMAT_NAME = "rankstack-first-training"
FORMAT_VERSION = 1
#: how a training window is drawn (see :func:`build_examples`)
WINDOWS = ("positives", "retrieved")


@dataclass
class FirstTrainConfig:
    """Settings of :func:`train_first_reranker` (recorded in ``training.json``)."""

    window: int = 10
    depth: int = 20
    max_positives: int = 3
    max_passage_tokens: int = 48
    epochs: int = 1
    max_queries: int | None = None
    max_steps: int | None = None
    lr: float = 3e-4
    grad_accum: int = 4
    lora_r: int = 8
    lora_alpha: int = 16
    lora_dropout: float = 0.05
    target_modules: list[str] = field(
        default_factory=lambda: ["q_proj", "k_proj", "v_proj", "o_proj"]
    )
    lora_top_layers: int | None = None
    loss: str = "weighted_ranknet"
    shuffle: bool = True
    windows: str = "positives"
    seed: int = 0
    checkpoint_every: int = 10
    snapshot_every: int | None = None
    threads: int | None = None

    def check(self) -> None:
        if not 2 <= self.window <= len(LETTERS) or self.depth < 2 or self.epochs < 1:
            raise DataError(
                f"FirstTrainConfig: 2 <= window <= 26, depth >= 2 and epochs >= 1 expected, "
                f"found {self.window}, {self.depth}, {self.epochs}"
            )
        if self.grad_accum < 1 or self.lr <= 0 or self.lora_r < 1 or self.checkpoint_every < 1:
            raise DataError(
                "FirstTrainConfig: grad_accum, lora_r and checkpoint_every must be >= 1 and lr > 0"
            )
        if self.windows not in WINDOWS:
            raise DataError(
                f"FirstTrainConfig: windows must be one of {WINDOWS}, found {self.windows!r}"
            )
        if self.snapshot_every is not None and self.snapshot_every < 1:
            raise DataError(
                f"FirstTrainConfig: snapshot_every must be >= 1 or None, found "
                f"{self.snapshot_every}"
            )


@dataclass
class FirstExample:
    """One training window: the query, its passages (in prompt order) and their labels."""

    qid: str
    query: str
    passages: list[str]
    labels: np.ndarray


@dataclass
class FirstTrainResult:
    adapter: Path
    steps: int
    examples: int
    seconds: float
    losses: list[float]


# ---------------------------------------------------------------------------- examples
def pair_scores(run: Run) -> dict[tuple[str, str], float]:
    """A run's scores keyed by (query id, doc id): the labels a teacher run gives."""
    return {
        (q, d): float(s)
        for q, d, s in zip(
            run.qid_column().to_pylist(), run.docids.to_pylist(), run.scores.tolist()
        )
    }


def build_examples(
    queries: Queries,
    qrels: Qrels,
    corpus: Corpus,
    run: Run,
    config: FirstTrainConfig,
    teacher: Run | None = None,
) -> list[FirstExample]:
    """One window per training query that has a positive.

    ``config.windows="positives"``: up to ``max_positives`` judged-relevant passages (from the
    run's top ``depth``, else from the qrels) plus the run's highest-ranked non-relevant ones up
    to ``window``. ``"retrieved"``: the run's top ``window`` passages, exactly the window that
    :class:`~rankstack.llm.FirstReranker` re-ranks at test time over the same run; queries
    whose window has no two different labels are skipped (they give no ranking pair). With
    ``shuffle`` the window is put in a seeded random order; without it, ``positives`` lists
    the positives first and ``retrieved`` keeps the run's order (the order seen at test time).
    """
    rng = np.random.default_rng(config.seed)
    texts = dict(zip(corpus.docid_list(), corpus.contents().to_pylist()))
    judged = qrels.to_dict()
    teach = pair_scores(teacher) if teacher is not None else {}
    qtext = queries.to_dict()
    out: list[FirstExample] = []
    for qid, docids, _ in run.cut(config.depth):
        rel = judged.get(qid, {})
        if qid not in qtext:
            continue
        cands = [str(d) for d in docids.to_pylist() if str(d) in texts]
        if config.windows == "retrieved":
            chosen = cands[: config.window]
            if len({rel.get(d, 0) for d in chosen}) < 2:
                continue
        else:
            pos = [d for d in cands if rel.get(d, 0) > 0]
            pos += [d for d in rel if rel[d] > 0 and d not in pos and d in texts]
            pos = pos[: config.max_positives]
            neg = [d for d in cands if rel.get(d, 0) <= 0][: config.window - len(pos)]
            if not pos or not neg:
                continue
            chosen = pos + neg
        if config.shuffle:
            chosen = [chosen[i] for i in rng.permutation(len(chosen))]
        if teacher is not None:
            labels = np.array([teach.get((qid, d), -1e9) for d in chosen], dtype=np.float64)
        else:
            labels = np.array([float(rel.get(d, 0)) for d in chosen], dtype=np.float64)
        out.append(
            FirstExample(qid, qtext[qid], [" ".join(texts[d].split()) for d in chosen], labels)
        )
        if config.max_queries is not None and len(out) >= config.max_queries:
            break
    return out


# ---------------------------------------------------------------------------- loss
def weighted_ranknet(scores: Any, labels: Any) -> Any:
    """FIRST's weighted RankNet for one window: ``sum 1/(r_i + r_j) log(1 + e^(s_j - s_i))``
    over pairs with ``label_i > label_j`` (``r``: 1-based ranks of the target order)."""
    torch = require("torch")
    order = torch.argsort(-labels, stable=True)
    ranks = torch.empty_like(labels)
    ranks[order] = torch.arange(1, len(labels) + 1, dtype=labels.dtype)
    better = labels[:, None] > labels[None, :]
    weight = 1.0 / (ranks[:, None] + ranks[None, :])
    pair = torch.nn.functional.softplus(scores[None, :] - scores[:, None])
    total = (weight * pair * better).sum()
    return total / better.sum().clamp(min=1)


def _loss_fn(name: str) -> Any:
    if name == "weighted_ranknet":
        return lambda s, y: weighted_ranknet(s[0], y[0])
    from rankstack.ltr.losses import LOSSES

    if name not in LOSSES:
        raise DataError(f"unknown loss {name!r}: weighted_ranknet or one of {sorted(LOSSES)}")
    torch = require("torch")
    loss = LOSSES[name]
    return lambda s, y: loss(s, y, torch.ones_like(y, dtype=torch.bool))


# ---------------------------------------------------------------------------- training
def train_first_reranker(
    model: Any,
    examples: list[FirstExample],
    output: str | os.PathLike[str],
    config: FirstTrainConfig | None = None,
    *,
    resume: bool = True,
    progress: bool = False,
) -> FirstTrainResult:
    """Fine-tune ``model`` (a spec for :class:`TransformersBackend` or a loaded pair) with LoRA.

    Writes ``OUTPUT/adapter`` (``adapter_model.safetensors`` + ``adapter_config.json``; load
    it with ``TransformersBackend(model, adapter=OUTPUT/"adapter")``), ``OUTPUT/training.json``
    and, during training, ``OUTPUT/checkpoint``.
    """
    cfg = config or FirstTrainConfig()
    cfg.check()
    if not examples:
        raise DataError("train_first_reranker: no training examples (queries need a positive)")
    torch = require("torch")
    peft = require("peft")
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    if isinstance(model, tuple):  # LoRA layers are injected in place: train a copy
        import copy

        model = copy.deepcopy(model)
    backend = TransformersBackend(model, batch_size=1, threads=cfg.threads)
    base_identity = backend.identity()
    extra: dict[str, Any] = {}
    if cfg.lora_top_layers:
        # LoRA only on the top layers: backward then stops there (much cheaper on a CPU)
        n_layers = int(backend.model.config.num_hidden_layers)
        extra["layers_to_transform"] = list(range(max(0, n_layers - cfg.lora_top_layers), n_layers))
    lora = peft.LoraConfig(
        **extra,
        r=cfg.lora_r,
        lora_alpha=cfg.lora_alpha,
        lora_dropout=cfg.lora_dropout,
        target_modules=list(cfg.target_modules),
        task_type="CAUSAL_LM",
    )
    torch.manual_seed(cfg.seed)  # LoRA's A matrices start random
    net = peft.get_peft_model(backend.model, lora)
    backend.model = net
    ranker = FirstReranker(backend, None, window=cfg.window, stride=1, top_k=cfg.window)
    params = [p for p in net.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=cfg.lr)
    loss_fn = _loss_fn(cfg.loss)
    # the epochs' orders are concatenated, so a step may span two epochs; no step is empty
    n_steps = -(-(cfg.epochs * len(examples)) // cfg.grad_accum)
    if cfg.max_steps is not None:  # stop early; the seeded order of examples is unchanged
        n_steps = min(n_steps, cfg.max_steps)
    order = np.concatenate(
        [np.random.default_rng(cfg.seed + e).permutation(len(examples)) for e in range(cfg.epochs)]
    )
    step, spent = 0, 0.0
    losses: list[float] = []
    ckpt = out / "checkpoint"
    if resume and (ckpt / "state.json").is_file():
        step, losses, spent = _load_checkpoint(ckpt, net, opt, peft)
        logger.info("resuming FIRST training at step %d of %d", step, n_steps)
    passages_cut = {
        id(ex): backend.truncate(ex.passages, cfg.max_passage_tokens) for ex in examples
    }
    t0 = time.perf_counter()
    net.train()
    while step < n_steps:
        idx = order[step * cfg.grad_accum : (step + 1) * cfg.grad_accum]
        torch.manual_seed(cfg.seed * 1_000_003 + step)
        opt.zero_grad(set_to_none=True)
        total = 0.0
        for i in idx:
            ex = examples[int(i)]
            prompt = ranker.prompt(ex.query, passages_cut[id(ex)])
            scores = backend.forward_choice_logits([prompt], list(LETTERS[: len(ex.passages)]))
            labels = torch.tensor(ex.labels, dtype=scores.dtype)[None, :]
            loss = loss_fn(scores.float(), labels) / len(idx)
            loss.backward()
            total += float(loss.detach())
        opt.step()
        step += 1
        losses.append(total)
        if progress or step % 10 == 0:
            logger.info("FIRST step %d/%d loss %.4f", step, n_steps, total)
        if cfg.snapshot_every and (step % cfg.snapshot_every == 0 or step == n_steps):
            with replace_folder(out / "snapshots" / f"step-{step:06d}") as tmp:
                net.save_pretrained(tmp, safe_serialization=True)
        if step % cfg.checkpoint_every == 0 and step < n_steps:
            _save_checkpoint(ckpt, net, opt, step, losses, spent + time.perf_counter() - t0)
    seconds = spent + time.perf_counter() - t0
    adapter = out / "adapter"
    with replace_folder(adapter) as tmp:
        net.save_pretrained(tmp, safe_serialization=True)
    info = {
        "format": FORMAT_NAME,
        "version": FORMAT_VERSION,
        "base_model": base_identity,
        "config": asdict(cfg),
        "template": ranker.template_.describe(),
        "examples": len(examples),
        "steps": step,
        "seconds": seconds,
        "losses": losses,
    }
    _write_json(out / "training.json", info)
    shutil.rmtree(ckpt, ignore_errors=True)
    return FirstTrainResult(adapter, step, len(examples), seconds, losses)


def _save_checkpoint(
    folder: Path, net: Any, opt: Any, step: int, losses: list[float], seconds: float
) -> None:
    st = require("safetensors.torch")
    torch = require("torch")
    peft = require("peft")
    folder.mkdir(parents=True, exist_ok=True)
    tensors = {
        f"adapter/{k}": v.detach().contiguous()
        for k, v in peft.get_peft_model_state_dict(net).items()
    }
    state = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for pid, pstate in state["state"].items():
        for key, value in pstate.items():
            if isinstance(value, torch.Tensor):
                tensors[f"optim/{pid}/{key}"] = value.contiguous()
            else:
                scalars.setdefault(str(pid), {})[key] = value
    st.save_file(tensors, str(folder / "state.safetensors.tmp"))
    os.replace(folder / "state.safetensors.tmp", folder / "state.safetensors")
    meta = {
        "format": FORMAT_NAME + "-checkpoint",
        "version": FORMAT_VERSION,
        "step": step,
        "losses": losses,
        "seconds": seconds,
        "scalars": scalars,
        "param_groups": state["param_groups"],
    }
    _write_json(folder / "state.json", meta)


def _load_checkpoint(folder: Path, net: Any, opt: Any, peft: Any) -> tuple[int, list[float], float]:
    st = require("safetensors.torch")
    try:
        meta = json.loads((folder / "state.json").read_text())
        tensors = st.load_file(str(folder / "state.safetensors"))
    except (OSError, ValueError) as exc:
        raise FormatError(f"unreadable FIRST training checkpoint ({exc})", folder) from exc
    if meta.get("format") != FORMAT_NAME + "-checkpoint" or meta.get("version") != FORMAT_VERSION:
        raise FormatError(
            f"not a FIRST training checkpoint of version {FORMAT_VERSION}: {meta.get('format')} "
            f"{meta.get('version')}",
            folder / "state.json",
        )
    adapter = {k[len("adapter/") :]: v for k, v in tensors.items() if k.startswith("adapter/")}
    peft.set_peft_model_state_dict(net, adapter)
    state: dict[str, Any] = {"state": {}, "param_groups": meta["param_groups"]}
    for key, value in tensors.items():
        if key.startswith("optim/"):
            _, pid, name = key.split("/", 2)
            state["state"].setdefault(int(pid), {})[name] = value
    for pid, extra in meta["scalars"].items():
        state["state"].setdefault(int(pid), {}).update(extra)
    opt.load_state_dict(state)
    return int(meta["step"]), list(meta["losses"]), float(meta["seconds"])


def _write_json(path: Path, data: dict[str, Any]) -> None:
    with atomic_write(path, "wb") as fh:
        cast(IO[bytes], fh).write((json.dumps(data, indent=1, default=str) + "\n").encode())
