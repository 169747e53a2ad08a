"""Fine-tuning a cross-encoder or a bi-encoder with hard negatives.

One loop serves both models. Each step takes ``batch_size`` training queries (a seeded
permutation per pass over the queries), one positive per query drawn uniformly from its
relevant documents, and ``n_negatives`` negatives from a sampler
(:mod:`rankstack.train.negatives`: ``random``, ``star`` or ``adore``). The loss is listwise:

- **cross-encoder**: softmax cross-entropy over each query's group of ``1 + n`` scored pairs,
  the positive being the target (the "localised contrastive estimation" loss of Gao et al.
  2021, "Rethink Training of BERT Rerankers in Multi-Stage Retrieval Pipeline", ECIR), or
  any loss of :mod:`rankstack.ltr.losses` over the ``[queries, 1 + n]`` score matrix;
- **bi-encoder**: InfoNCE (van den Oord et al. 2018) over cosine similarities divided by a
  temperature, each query against every document of the batch: its own positive, its hard
  negatives and the other queries' documents (in-batch negatives, Karpukhin et al. 2020).

With ``curriculum=m``, each query's loss is weighted by MacAvaney et al.'s difficulty weight,
annealed to 1 over ``m`` steps (:mod:`rankstack.train.curriculum`). AdamW with linear warm-up
and linear decay; gradients clipped by norm.

Every ``eval_every`` steps (and at the end) the model re-ranks the candidates of a **dev**
set (queries carved from the training queries, never the test set) and its nDCG@10 is
recorded, with RankMe (Garrido et al. 2023) of the document embeddings for a bi-encoder, or
of the [CLS] representations of the (query, document) pairs for a cross-encoder. The best
step's model is kept as ``OUTPUT/best`` (a plain transformers / sentence-transformers
folder in safetensors, loadable by :class:`~rankstack.rerank.cross_encoder.CrossEncoder` or
:class:`~rankstack.dense.BiEncoder`), the last one as ``OUTPUT/final``, and a resumable
checkpoint in ``OUTPUT/checkpoint`` (:mod:`rankstack.train.checkpoint`).
"""

from __future__ import annotations

import json
import logging
import math
import time
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack._compat import require
from rankstack.data import Qrels, Queries, Run
from rankstack.data._columns import take_str, to_str_list
from rankstack.exceptions import DataError
from rankstack.io._files import replace_folder
from rankstack.train import checkpoint as ckpt
from rankstack.train._progress import progress_bar
from rankstack.train.curriculum import curriculum_weight, reciprocal_rank_difficulty
from rankstack.train.data import TrainingData
from rankstack.train.negatives import NegativeSampler, Scorer, make_sampler

logger = logging.getLogger(__name__)


@dataclass
class TrainConfig:
    """Settings of a training run (all JSON-serialisable; stored with every checkpoint).

    Attributes
    ----------
    steps : optimisation steps
    batch_size : training queries per step
    n_negatives : negatives per query
    negatives : ``random``, ``star`` (static hard + random) or ``adore`` (re-mined)
    hard_fraction : STAR's share of hard negatives
    depth : pool candidates used as hard negatives (STAR) or re-scored (ADORE)
    refresh : steps an ADORE query's mined negatives stay valid
    curriculum : steps ``m`` of MacAvaney et al.'s curriculum (0: off)
    loss : ``softmax`` or a :mod:`rankstack.ltr.losses` name (cross-encoder only)
    lr, weight_decay, warmup : AdamW's rate, decay, and the warm-up share of the steps
    max_length : tokens per (query, document) pair or per text
    temperature : InfoNCE temperature (bi-encoder)
    clip_grad_norm : gradient norm clip (None: off)
    eval_every : steps between dev evaluations (and checkpoints)
    checkpoint_every : steps between resumable checkpoints (default ``eval_every``)
    keep_checkpoints : also keep each evaluated step's model as ``OUTPUT/step-NNNNNN``
    score_batch_size : pairs / texts per forward pass when scoring (dev, ADORE)
    seed : seeds torch (initial head, dropout) and numpy (batches, negatives)
    progress : progress bar on stderr
    bf16 : run forward passes under ``torch.autocast`` in bfloat16 (weights and optimiser
        stay float32: mixed precision); about twice as fast on CPUs with AMX or AVX512-BF16
    """

    steps: int = 300
    batch_size: int = 4
    n_negatives: int = 7
    negatives: str = "star"
    hard_fraction: float = 0.5
    depth: int = 30
    refresh: int = 1
    curriculum: int = 0
    loss: str = "softmax"
    lr: float = 2e-5
    weight_decay: float = 0.01
    warmup: float = 0.1
    max_length: int = 256
    temperature: float = 0.05
    clip_grad_norm: float | None = 1.0
    eval_every: int = 100
    checkpoint_every: int | None = None
    keep_checkpoints: bool = False
    score_batch_size: int = 32
    seed: int = 0
    progress: bool = False
    bf16: bool = False

    def check(self) -> None:
        if self.steps < 1 or self.batch_size < 1 or self.n_negatives < 0:
            raise DataError(
                "TrainConfig: steps and batch_size must be >= 1 and n_negatives >= 0, found "
                f"{self.steps}, {self.batch_size}, {self.n_negatives}"
            )
        if self.eval_every < 1 or (self.checkpoint_every is not None and self.checkpoint_every < 1):
            raise DataError("TrainConfig: eval_every and checkpoint_every must be >= 1")
        if not (self.lr > 0 and 0.0 <= self.warmup < 1.0 and self.temperature > 0):
            raise DataError("TrainConfig: lr and temperature must be > 0 and 0 <= warmup < 1")
        if self.curriculum and self.loss != "softmax":
            raise DataError(
                "TrainConfig: the curriculum weights the softmax loss; use loss='softmax'"
            )
        make_sampler(self.negatives)


@dataclass(frozen=True)
class DevSet:
    """Dev queries, their judgements and the candidates to re-rank (e.g. BM25's top 30)."""

    queries: Queries
    qrels: Qrels
    run: Run
    measure: str = "nDCG@10"


@dataclass
class TrainResult:
    """What a training run produced."""

    output: Path
    best_step: int | None
    best_score: float | None
    history: list[dict[str, Any]] = field(default_factory=list)
    train_seconds: float = 0.0

    @property
    def best_model(self) -> Path:
        return self.output / "best"

    @property
    def final_model(self) -> Path:
        return self.output / "final"


def split_dev(
    queries: Queries, qrels: Qrels, fraction: float = 0.1, seed: int = 0
) -> tuple[Queries, Qrels, Queries, Qrels]:
    """Carve a seeded dev split out of training queries: ``(train_q, train_qrels, dev_q,
    dev_qrels)``. Only judged queries are kept; at least one query goes to each side."""
    judged = queries.select(qrels.qids, missing="drop")
    n = len(judged)
    if n < 2:
        raise DataError(f"split_dev needs at least 2 judged queries, found {n}")
    n_dev = min(n - 1, max(1, round(n * fraction)))
    perm = np.random.default_rng(seed).permutation(n)
    dev_idx, train_idx = np.sort(perm[:n_dev]), np.sort(perm[n_dev:])
    tq = judged.select(judged.qids.take(pa.array(train_idx)))
    dq = judged.select(judged.qids.take(pa.array(dev_idx)))
    return tq, qrels.select(tq.qids), dq, qrels.select(dq.qids)


# ------------------------------------------------------------------------------ adapters
class _Adapter:
    """What the loop needs from a model: parameters, a batch loss, scoring, saving."""

    module: Any

    def loss(self, queries: list[str], groups: list[list[str]], weights: np.ndarray) -> Any:
        raise NotImplementedError

    def scorer(self, data: TrainingData) -> Scorer:
        raise NotImplementedError

    def score_rows(self, queries: list[str], docs: list[str]) -> np.ndarray:
        raise NotImplementedError

    def representations(self, queries: list[str], docs: list[str]) -> np.ndarray:
        raise NotImplementedError

    def score_and_represent(
        self, queries: list[str], docs: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores of the pairs and the representations RankMe reads."""
        return self.score_rows(queries, docs), self.representations(queries, docs)

    def save(self, folder: Path) -> None:
        raise NotImplementedError


class CrossEncoderAdapter(_Adapter):
    """A transformers sequence-classification model and its tokenizer."""

    def __init__(self, model: Any, tokenizer: Any, config: TrainConfig) -> None:
        self.module = model
        self.tokenizer = tokenizer
        self.config = config

    def loss(self, queries: list[str], groups: list[list[str]], weights: np.ndarray) -> Any:
        from rankstack.rerank.cross_encoder import pair_logits, tokenize_pairs

        g = len(groups[0])
        qs = [q for q, grp in zip(queries, groups) for _ in grp]
        ds = [d for grp in groups for d in grp]
        enc = tokenize_pairs(self.tokenizer, qs, ds, self.config.max_length)
        scores = pair_logits(self.module, enc).view(len(groups), g)
        return _listwise_loss(scores, weights, self.config.loss)

    def score_rows(self, queries: list[str], docs: list[str]) -> np.ndarray:
        from rankstack.rerank.cross_encoder import score_pairs

        return score_pairs(
            self.module,
            self.tokenizer,
            queries,
            docs,
            batch_size=self.config.score_batch_size,
            max_length=self.config.max_length,
        )

    def scorer(self, data: TrainingData) -> Scorer:
        def score(q: int, docs: np.ndarray) -> np.ndarray:
            texts = [data.doc_texts[int(d)] for d in docs]
            return self.score_rows([data.query_texts[q]] * len(texts), texts)

        return score

    def representations(self, queries: list[str], docs: list[str]) -> np.ndarray:
        """The [CLS] vectors of the pairs' last layer (what the head reads)."""
        return self.score_and_represent(queries, docs)[1]

    def score_and_represent(
        self, queries: list[str], docs: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and [CLS] vectors of the pairs from one forward pass (dev evaluation)."""
        torch = require("torch")
        from rankstack.rerank.cross_encoder import tokenize_pairs

        n = len(queries)
        scores = np.zeros(n, np.float32)
        reps: np.ndarray | None = None
        order = np.argsort([len(q) + len(d) for q, d in zip(queries, docs)], kind="stable")
        was = self.module.training
        self.module.eval()
        try:
            with torch.inference_mode():
                bs = self.config.score_batch_size
                for lo in range(0, n, bs):
                    idx = order[lo : lo + bs]
                    enc = tokenize_pairs(
                        self.tokenizer,
                        [queries[i] for i in idx],
                        [docs[i] for i in idx],
                        self.config.max_length,
                    )
                    out = self.module(**enc, output_hidden_states=True)
                    logits = out.logits
                    if logits.shape[-1] == 1:
                        s = logits[:, 0]
                    else:
                        s = torch.log_softmax(logits, dim=-1)[:, -1]
                    cls = out.hidden_states[-1][:, 0].float().numpy()
                    if reps is None:
                        reps = np.zeros((n, cls.shape[1]), np.float32)
                    scores[idx] = s.float().numpy()
                    reps[idx] = cls
        finally:
            self.module.train(was)
        return scores, reps if reps is not None else np.zeros((0, 0), np.float32)

    def save(self, folder: Path) -> None:
        self.module.save_pretrained(str(folder), safe_serialization=True)
        self.tokenizer.save_pretrained(str(folder))


class BiEncoderAdapter(_Adapter):
    """A sentence-transformers model trained with InfoNCE (cosine / temperature)."""

    def __init__(self, model: Any, config: TrainConfig) -> None:
        self.module = model
        self.config = config
        model.max_seq_length = config.max_length

    def _embed(self, texts: list[str]) -> Any:
        torch = require("torch")
        prep = getattr(self.module, "preprocess", None) or self.module.tokenize
        features = prep(texts)
        out = self.module(features)["sentence_embedding"]
        return torch.nn.functional.normalize(out, dim=-1)

    def embed(self, texts: list[str]) -> np.ndarray:
        torch = require("torch")
        was = self.module.training
        self.module.eval()
        try:
            with torch.inference_mode():
                bs = self.config.score_batch_size
                order = np.argsort([len(t) for t in texts], kind="stable")
                out = np.zeros((len(texts), _dimension(self.module)), np.float32)
                for lo in range(0, len(texts), bs):
                    idx = order[lo : lo + bs]
                    out[idx] = self._embed([texts[i] for i in idx]).float().numpy()
        finally:
            self.module.train(was)
        return out

    def loss(self, queries: list[str], groups: list[list[str]], weights: np.ndarray) -> Any:
        torch = require("torch")
        g = len(groups[0])
        q = self._embed(queries)
        d = self._embed([t for grp in groups for t in grp])
        logits = q @ d.T / self.config.temperature  # [B, B * g]: in-batch + hard negatives
        target = torch.arange(len(queries)) * g
        per_query = torch.nn.functional.cross_entropy(logits, target, reduction="none")
        w = torch.as_tensor(weights, dtype=per_query.dtype)
        return (per_query * w).mean()

    def score_rows(self, queries: list[str], docs: list[str]) -> np.ndarray:
        uq, qi = np.unique(np.array(queries, dtype=object), return_inverse=True)
        ud, di = np.unique(np.array(docs, dtype=object), return_inverse=True)
        qe = self.embed(list(uq))
        de = self.embed(list(ud))
        return np.einsum("ij,ij->i", qe[qi], de[di]).astype(np.float32)

    def scorer(self, data: TrainingData) -> Scorer:
        def score(q: int, docs: np.ndarray) -> np.ndarray:
            qe = self.embed([data.query_texts[q]])
            de = self.embed([data.doc_texts[int(x)] for x in docs])
            return (de @ qe[0]).astype(np.float32)

        return score

    def representations(self, queries: list[str], docs: list[str]) -> np.ndarray:
        return self.embed(sorted(set(docs)))

    def score_and_represent(
        self, queries: list[str], docs: list[str]
    ) -> tuple[np.ndarray, np.ndarray]:
        """Scores and the embeddings of the distinct documents (each embedded once)."""
        uq, qi = np.unique(np.array(queries, dtype=object), return_inverse=True)
        ud, di = np.unique(np.array(docs, dtype=object), return_inverse=True)
        qe = self.embed(list(uq))
        de = self.embed(list(ud))
        return np.einsum("ij,ij->i", qe[qi], de[di]).astype(np.float32), de

    def save(self, folder: Path) -> None:
        self.module.save(str(folder), safe_serialization=True)


def autocast(module: Any, enabled: bool) -> Any:
    """``torch.autocast`` in bfloat16 on the module's device when ``enabled``, else a no-op."""
    import contextlib

    if not enabled:
        return contextlib.nullcontext()
    torch = require("torch")
    try:
        device = next(module.parameters()).device.type
    except (StopIteration, AttributeError):
        device = "cpu"
    return torch.autocast(device_type=device, dtype=torch.bfloat16)


def _dimension(model: Any) -> int:
    get = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
    return int(get())


def _listwise_loss(scores: Any, weights: np.ndarray, name: str) -> Any:
    """Weighted softmax cross-entropy with the positive at column 0, or an LTR loss."""
    torch = require("torch")
    if name == "softmax":
        per_query = -torch.log_softmax(scores, dim=1)[:, 0]
        w = torch.as_tensor(weights, dtype=per_query.dtype)
        return (per_query * w).mean()
    from rankstack.ltr.losses import get_loss

    labels = torch.zeros_like(scores)
    labels[:, 0] = 1.0
    mask = torch.ones_like(scores, dtype=torch.bool)
    return get_loss(name)(scores, labels, mask)


# ------------------------------------------------------------------------------ the loop
def _lr_at(step: int, config: TrainConfig) -> float:
    warm = max(1, int(config.steps * config.warmup))
    if step < warm:
        return config.lr * (step + 1) / warm
    return config.lr * max(0.0, (config.steps - step) / max(1, config.steps - warm))


def _dev_rows(dev: DevSet) -> tuple[list[str], list[str], pa.Array]:
    run = dev.run
    pos = pc.index_in(run.qids, value_set=dev.queries.qids)
    if pos.null_count:
        raise DataError("dev set: the run has queries that the dev queries lack")
    rowq = np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)[run.query_index]
    return to_str_list(take_str(dev.queries.texts, rowq)), [], run.docids


class Trainer:
    """The shared loop (see the module docstring); use :func:`train_cross_encoder` or
    :func:`train_bi_encoder`."""

    def __init__(
        self,
        adapter: _Adapter,
        data: TrainingData,
        config: TrainConfig,
        output: str | Path,
        *,
        dev: DevSet | None = None,
        doc_text: Callable[[pa.Array], list[str]] | None = None,
        meta: dict[str, Any] | None = None,
    ) -> None:
        config.check()
        if data.n_queries == 0:
            raise DataError("training data has no query with a relevant document")
        self.adapter = adapter
        self.data = data
        self.config = config
        self.output = Path(output)
        self.dev = dev
        self.meta = dict(meta or {})
        self._doc_text = doc_text
        self.sampler: NegativeSampler = make_sampler(
            config.negatives,
            hard_fraction=config.hard_fraction,
            depth=config.depth,
            refresh=config.refresh,
        )

    # ------------------------------------------------------------------ evaluation
    def evaluate_dev(self) -> dict[str, float]:
        """Dev nDCG@10 of the current model (re-ranking the dev run), and RankMe."""
        if self.dev is None:
            return {}
        from rankstack.evaluate import evaluate

        dev = self.dev
        qtexts, _, docids = _dev_rows(dev)
        dtexts = self._texts_of(docids)
        with autocast(self.adapter.module, self.config.bf16):
            scores, reps = self.adapter.score_and_represent(qtexts, dtexts)
        run = dev.run.with_scores(scores.astype(np.float64))
        out = {dev.measure: float(evaluate(run, dev.qrels, [dev.measure])[dev.measure])}
        if reps.size:
            from rankstack.dense import rank_me

            out["rank_me"] = float(rank_me(reps))
        return out

    def _texts_of(self, docids: pa.Array) -> list[str]:
        if self._doc_text is not None:
            return self._doc_text(docids)
        pos = pc.index_in(docids, value_set=self.data.docids)
        if pos.null_count:
            raise DataError("dev set: candidates that are not in the training corpus")
        idx = np.asarray(pos.to_numpy(zero_copy_only=False), dtype=np.int64)
        return [self.data.doc_texts[i] for i in idx]

    # ------------------------------------------------------------------ training
    def train(self, *, resume: bool = False) -> TrainResult:
        torch = require("torch")
        cfg = self.config
        torch.manual_seed(cfg.seed)
        rng = np.random.default_rng(cfg.seed)
        model = self.adapter.module
        optimizer = torch.optim.AdamW(model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        ckpt_dir = self.output / "checkpoint"
        state: dict[str, Any] = {
            "step": 0,
            "history": [],
            "best_step": None,
            "best_score": None,
            "perm": [],
            "pos": 0,
            "train_seconds": 0.0,
            "running_loss": 0.0,
        }
        if resume and (ckpt_dir / ckpt.CONFIG_NAME).is_file():
            saved, sampler_state = ckpt.load_checkpoint(
                ckpt_dir, model=model, optimizer=optimizer, rng=rng
            )
            if saved.get("config", {}).get("negatives") != cfg.negatives:
                raise ckpt.CheckpointError(
                    f"{ckpt_dir}: the checkpoint was trained with negatives="
                    f"{saved.get('config', {}).get('negatives')!r}, not {cfg.negatives!r}"
                )
            state.update(saved["loop"])
            self.sampler.load_state(sampler_state)
            logger.info("resumed from step %d of %s", state["step"], ckpt_dir)
        self.output.mkdir(parents=True, exist_ok=True)
        n_q = self.data.n_queries
        every_ckpt = cfg.checkpoint_every or cfg.eval_every
        model.train()
        with progress_bar("train", cfg.steps, cfg.progress) as advance:
            advance(state["step"])
            while state["step"] < cfg.steps:
                started = time.perf_counter()
                step = state["step"]
                if state["pos"] >= len(state["perm"]):
                    state["perm"] = [int(i) for i in rng.permutation(n_q)]
                    state["pos"] = 0
                qidx = np.array(state["perm"][state["pos"] : state["pos"] + cfg.batch_size])
                state["pos"] += cfg.batch_size
                state["running_loss"] += self._step(qidx, step, rng, optimizer)
                state["step"] = step + 1
                state["train_seconds"] += time.perf_counter() - started
                advance(1)
                done = state["step"]
                if done % cfg.eval_every == 0 or done == cfg.steps:
                    since = done - (state["history"][-1]["step"] if state["history"] else 0)
                    record: dict[str, Any] = {
                        "step": done,
                        "loss": state["running_loss"] / max(1, since),
                        "train_seconds": round(state["train_seconds"], 2),
                    }
                    state["running_loss"] = 0.0
                    record.update(self.evaluate_dev())
                    score = record.get(self.dev.measure) if self.dev is not None else None
                    if score is not None and (
                        state["best_score"] is None or score > state["best_score"]
                    ):
                        state["best_score"], state["best_step"] = score, done
                        self._export("best", done, record)
                    if cfg.keep_checkpoints:
                        self._export(f"step-{done:06d}", done, record)
                    state["history"].append(record)
                    logger.info("step %d: %s", done, record)
                if done % every_ckpt == 0 or done == cfg.steps:
                    ckpt.save_checkpoint(
                        ckpt_dir,
                        step=done,
                        model=model,
                        optimizer=optimizer,
                        sampler_state=self.sampler.state(),
                        rng=rng,
                        info={"config": asdict(cfg), "loop": state, "meta": self.meta},
                    )
        self._export("final", state["step"], state["history"][-1] if state["history"] else {})
        if self.dev is None:  # nothing to select on: the final model is the best one
            self._export("best", state["step"], {})
        result = TrainResult(
            output=self.output,
            best_step=state["best_step"],
            best_score=state["best_score"],
            history=list(state["history"]),
            train_seconds=float(state["train_seconds"]),
        )
        ckpt.write_bytes(
            self.output / "history.json",
            json.dumps(
                {
                    "config": asdict(cfg),
                    "meta": self.meta,
                    "best_step": result.best_step,
                    "best_score": result.best_score,
                    "train_seconds": result.train_seconds,
                    "history": result.history,
                },
                indent=1,
            ).encode(),
        )
        return result

    def _step(self, qidx: np.ndarray, step: int, rng: np.random.Generator, optimizer: Any) -> float:
        torch = require("torch")
        cfg, data = self.config, self.data
        pos = np.array([int(rng.choice(data.positives(int(q)))) for q in qidx], dtype=np.int64)
        scorer = self.adapter.scorer(data) if cfg.negatives == "adore" else None
        with autocast(self.adapter.module, cfg.bf16):
            negs = self.sampler.sample(data, qidx, cfg.n_negatives, rng, step=step, scorer=scorer)
        if cfg.curriculum:
            pos_rank = np.array(
                [
                    data.pos_ranks[data.pos_offsets[q] : data.pos_offsets[q + 1]][
                        np.flatnonzero(data.positives(int(q)) == p)[0]
                    ]
                    for q, p in zip(qidx, pos)
                ]
            )
            weights = curriculum_weight(
                reciprocal_rank_difficulty(pos_rank, negs.ranks), step, cfg.curriculum
            )
        else:
            weights = np.ones(len(qidx))
        groups = [
            [data.doc_texts[int(p)], *(data.doc_texts[int(d)] for d in row)]
            for p, row in zip(pos, negs.docs)
        ]
        queries = [data.query_texts[int(q)] for q in qidx]
        for group in optimizer.param_groups:
            group["lr"] = _lr_at(step, cfg)
        with autocast(self.adapter.module, cfg.bf16):
            loss = self.adapter.loss(queries, groups, weights)
        value = float(loss.detach())
        if not math.isfinite(value):
            raise DataError(f"the training loss became {value} at step {step + 1}; lower the lr")
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        if cfg.clip_grad_norm is not None:
            torch.nn.utils.clip_grad_norm_(self.adapter.module.parameters(), cfg.clip_grad_norm)
        optimizer.step()
        return value

    def _export(self, name: str, step: int, record: dict[str, Any]) -> None:
        """Save the current model as ``OUTPUT/name`` (temporary folder, then rename)."""
        with replace_folder(self.output / name) as tmp:
            self.adapter.save(tmp)
            info = {
                "step": step,
                "record": record,
                "config": asdict(self.config),
                "meta": self.meta,
            }
            (tmp / "rankstack_train.json").write_text(json.dumps(info, indent=1), encoding="utf-8")


# ------------------------------------------------------------------------------ entry points
def train_cross_encoder(
    base_model: Any,
    data: TrainingData,
    config: TrainConfig,
    output: str | Path,
    *,
    dev: DevSet | None = None,
    resume: bool = False,
) -> TrainResult:
    """Fine-tune a cross-encoder from ``base_model`` (a BERT-like encoder folder or hub name,
    e.g. MiniLM: a fresh one-output head is added; or a loaded ``(model, tokenizer)`` pair)."""
    from rankstack.train.models import load_pretrained, model_identity

    torch = require("torch")
    torch.manual_seed(config.seed)  # the fresh head's initial weights
    if isinstance(base_model, tuple):
        model, tokenizer = base_model
        name = type(model).__name__
    else:
        transformers = require("transformers")
        tokenizer = load_pretrained(transformers.AutoTokenizer, base_model)
        model = load_pretrained(
            transformers.AutoModelForSequenceClassification, base_model, num_labels=1
        )
        name = model_identity(base_model)["name"]
    adapter = CrossEncoderAdapter(model, tokenizer, config)
    trainer = Trainer(
        adapter, data, config, output, dev=dev, meta={"kind": "cross-encoder", "base": name}
    )
    return trainer.train(resume=resume)


def train_bi_encoder(
    base_model: Any,
    data: TrainingData,
    config: TrainConfig,
    output: str | Path,
    *,
    dev: DevSet | None = None,
    resume: bool = False,
) -> TrainResult:
    """Fine-tune a sentence-transformers bi-encoder (folder, hub name or loaded model) with
    InfoNCE over in-batch and hard negatives."""
    torch = require("torch")
    torch.manual_seed(config.seed)
    if isinstance(base_model, (str, Path)):
        from rankstack.dense import load_model

        model, identity = load_model(base_model)
        name = str(identity)
    else:
        model, name = base_model, type(base_model).__name__
    adapter = BiEncoderAdapter(model, config)
    trainer = Trainer(
        adapter, data, config, output, dev=dev, meta={"kind": "bi-encoder", "base": name}
    )
    return trainer.train(resume=resume)


def dev_candidates(run: Run, depth: int) -> Run:
    """The top ``depth`` of a first-stage run: what the dev evaluation re-ranks."""
    return run.cut(depth)


__all__: Sequence[str] = (
    "BiEncoderAdapter",
    "CrossEncoderAdapter",
    "DevSet",
    "TrainConfig",
    "TrainResult",
    "Trainer",
    "dev_candidates",
    "split_dev",
    "train_bi_encoder",
    "train_cross_encoder",
)
