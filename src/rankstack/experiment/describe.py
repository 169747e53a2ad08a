"""Stages back to pipeline expressions: the inverse of :func:`~.expression.parse_pipeline`.

``describe(bm25 % 100 >> features >> lambdamart)`` gives
``"bm25(k=100) % 100 >> features() >> lambdamart(n_estimators=200)"``: a text that
:func:`~rankstack.experiment.parse_pipeline`, with the factories of
:mod:`rankstack.experiment.factories`, turns back into an equal pipeline. Saved pipelines store
this text, experiments print it, and the run cache keys on its ``full=True`` form (every
parameter written out, defaults included, so a change of a default never reuses a stale entry).
"""

from __future__ import annotations

import inspect
import math
import os
from collections.abc import Callable, Mapping
from typing import Any

import numpy as np

from rankstack.exceptions import DataError
from rankstack.pipeline import Cutoff, FeatureUnion, Scaled, ScoreSum, Stage, Then

#: stage class name -> (factory name, parameters bound by the context, positional parameter(s))
_NAMES: dict[str, tuple[str, tuple[str, ...], str | tuple[str, ...] | None]] = {
    "BM25": ("bm25", ("index", "n_jobs"), None),
    "RM3": ("rm3", (), "bm25"),
    "Fuse": ("fuse", (), "stages"),
    "Features": ("features", ("index", "corpus", "chunk_entries"), None),
    "LambdaMART": ("lambdamart", (), None),
    "NeuralRanker": ("neural", ("progress", "checkpoint_dir"), None),
    "BiEncoder": ("dense", ("corpus", "index", "device", "progress", "rebuild"), None),
    "DenseFeatures": ("dense_features", ("corpus", "device", "progress", "rebuild"), None),
    "Hybrid": ("hybrid", (), ("sparse", "dense")),
    "LLMRerank": ("llm_rerank", ("corpus",), None),
    "CrossEncoder": ("cross_encoder", ("corpus", "progress"), None),
    "Splade": ("splade", ("progress",), None),
}

#: parameters written even at their class default (the factory's default differs)
_ALWAYS: dict[str, tuple[str, ...]] = {"BM25": ("k",), "Splade": ("index", "model")}

#: a hook that may write a stage itself (a saved model's folder, a cached stage's inner one)
Resolver = Callable[[Stage], "str | None"]


def describe(stage: Stage, *, full: bool = False, resolve: Resolver | None = None) -> str:
    """The pipeline expression of ``stage``.

    Parameters
    ----------
    full:
        Write every parameter, defaults included (for cache keys); otherwise only the
        parameters that differ from the stage's defaults (for people).
    resolve:
        Called on every stage first; a string it returns is used as that stage's text.

    Raises
    ------
    DataError
        For a stage the expression language has no name for, or a parameter that is not a
        literal (number, string, bool, None, list, dict).
    """
    return _Writer(full, resolve).write(stage, top=True)


class _Writer:
    def __init__(self, full: bool, resolve: Resolver | None) -> None:
        self.full = full
        self.resolve = resolve

    def write(self, stage: Stage, *, top: bool = False) -> str:
        if self.resolve is not None:
            text = self.resolve(stage)
            if text is not None:
                return text
        inner = getattr(stage, "wrapped_stage", None)  # a cache in front of a stage
        if isinstance(inner, Stage):
            return self.write(inner, top=top)
        if isinstance(stage, Then):
            parts: list[str] = []
            for step in stage.stages:
                if isinstance(step, Cutoff) and parts:
                    parts[-1] = f"{parts[-1]} % {step.k}"
                else:
                    parts.append(self.write(step))
            text = " >> ".join(parts)
            return text if top or len(parts) == 1 else f"({text})"
        if isinstance(stage, ScoreSum):
            return self._wrap(f"{self.write(stage.left)} + {self.write(stage.right)}", top)
        if isinstance(stage, FeatureUnion):
            return self._wrap(" ** ".join(self.write(s) for s in stage.stages), top)
        if isinstance(stage, Scaled):
            return self._wrap(f"{_literal(stage.weight)} * {self.write(stage.stage)}", top)
        if isinstance(stage, Cutoff):
            return f"cutoff(k={stage.k})"
        return self._call(stage)

    @staticmethod
    def _wrap(text: str, top: bool) -> str:
        return text if top else f"({text})"

    def _call(self, stage: Stage) -> str:
        cls = type(stage).__name__
        known = _NAMES.get(cls)
        if known is None or not type(stage).__module__.startswith("rankstack."):
            raise DataError(
                f"cannot write {cls} as a pipeline expression: the expression language knows "
                f"{sorted(n for n, _, _ in _NAMES.values())}, cutoff, run and the operators"
            )
        name, bound, positional = known
        params = stage.get_params()
        defaults = _defaults(type(stage))
        args: list[str] = []
        for pos in (positional,) if isinstance(positional, str) else positional or ():
            value = params.pop(pos)
            items = value if isinstance(value, (list, tuple)) else [value]
            args.extend(self.write(s, top=True) for s in items)
        for key, value in params.items():
            if key in bound:
                continue
            keep = self.full or key in _ALWAYS.get(cls, ())
            if not keep and key in defaults and _same(value, defaults[key]):
                continue
            args.append(f"{key}={_literal(value, f'{cls}.{key}')}")
        return f"{name}({', '.join(args)})"


def _defaults(cls: type) -> dict[str, Any]:
    sig = inspect.signature(cls.__init__)  # type: ignore[misc]
    return {
        n: p.default
        for n, p in sig.parameters.items()
        if n != "self" and p.default is not inspect.Parameter.empty
    }


def _same(a: Any, b: Any) -> bool:
    try:
        return bool(_plain(a) == _plain(b))
    except (TypeError, ValueError):
        return False


def _plain(value: Any) -> Any:
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return value


def _literal(value: Any, where: str = "value") -> str:
    """``value`` as a Python literal that :func:`ast.literal_eval` reads back."""
    value = _plain(value)
    if value is None or isinstance(value, (bool, int, str)):
        return repr(value)
    if isinstance(value, float):
        if not math.isfinite(value):
            raise DataError(f"{where}: {value} cannot be written in a pipeline expression")
        return repr(value)
    if isinstance(value, list):
        return "[" + ", ".join(_literal(v, where) for v in value) + "]"
    if isinstance(value, dict):
        return "{" + ", ".join(f"{k!r}: {_literal(v, where)}" for k, v in value.items()) + "}"
    raise DataError(
        f"{where}: a {type(value).__name__} cannot be written in a pipeline expression "
        "(only numbers, strings, booleans, None, lists and dicts)"
    )
