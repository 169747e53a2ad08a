"""Pipeline expressions: ``"bm25(k1=1.2) % 100 >> rm3()"`` parsed safely into stages.

An experiment file describes each system as one expression in Python's operator syntax. It is
parsed with :mod:`ast` and only a whitelist is accepted: calls of registered stage names with
literal keyword arguments, the pipeline operators (``>>``, ``%``, ``+``, ``**``, ``*``) and
literals. Nothing is evaluated with ``eval``; a file can never run code.
"""

from __future__ import annotations

import ast
import difflib
import inspect
from collections.abc import Callable, Mapping
from typing import Any

from rankstack.exceptions import RankstackError
from rankstack.pipeline import Stage


class ExperimentError(RankstackError, ValueError):
    """An experiment file or pipeline expression is invalid; the message names the key."""


StageFactory = Callable[..., Stage]


def _suggest(name: str, valid: list[str]) -> str:
    close = difflib.get_close_matches(name, valid, n=1)
    hint = f" (did you mean {close[0]!r}?)" if close else ""
    return f"{hint}; valid names: {', '.join(sorted(valid))}"


def parse_pipeline(
    text: str, factories: Mapping[str, StageFactory], *, where: str = "pipeline"
) -> Stage:
    """Build the stage that ``text`` describes, with ``factories`` mapping names to stages."""
    try:
        tree = ast.parse(text.strip(), mode="eval")
    except SyntaxError as exc:
        raise ExperimentError(
            f"{where}: cannot parse {text!r}: {exc.msg} (expected e.g. 'bm25() % 100 >> rm3()')"
        ) from exc
    value = _Builder(factories, where).build(tree.body)
    if not isinstance(value, Stage):
        raise ExperimentError(f"{where}: {text!r} is a value, not a pipeline of stages")
    return value


class _Builder:
    def __init__(self, factories: Mapping[str, StageFactory], where: str) -> None:
        self.factories = factories
        self.where = where

    def fail(self, node: ast.AST, message: str) -> ExperimentError:
        col = getattr(node, "col_offset", None)
        at = f" (column {col + 1})" if col is not None else ""
        return ExperimentError(f"{self.where}{at}: {message}")

    def build(self, node: ast.AST) -> Any:
        if isinstance(node, ast.Constant):
            return node.value
        if isinstance(node, (ast.List, ast.Tuple)):
            return [self.literal(e) for e in node.elts]
        if isinstance(node, ast.Dict):
            return self.literal(node)
        if isinstance(node, ast.UnaryOp) and isinstance(node.op, ast.USub):
            return self.literal(node)
        if isinstance(node, ast.Name):
            return self.call(node.id, [], {}, node)
        if isinstance(node, ast.Call):
            if not isinstance(node.func, ast.Name):
                raise self.fail(node, "only calls of stage names are allowed, like bm25(k1=1.2)")
            args = [self.build(a) for a in node.args]
            kwargs: dict[str, Any] = {}
            for kw in node.keywords:
                if kw.arg is None:
                    raise self.fail(kw, "**kwargs are not allowed in a pipeline expression")
                kwargs[kw.arg] = self.build(kw.value)
            return self.call(node.func.id, args, kwargs, node)
        if isinstance(node, ast.BinOp):
            left = self.build(node.left)
            right = self.build(node.right)
            return self.operator(node, left, right)
        raise self.fail(node, f"{type(node).__name__} is not allowed in a pipeline expression")

    def literal(self, node: ast.AST) -> Any:
        try:
            return ast.literal_eval(node)
        except ValueError as exc:
            raise self.fail(node, "expected a literal value (number, string, list, dict)") from exc

    def call(self, name: str, args: list[Any], kwargs: dict[str, Any], node: ast.AST) -> Stage:
        factory = self.factories.get(name)
        if factory is None:
            raise self.fail(node, f"unknown stage {name!r}" + _suggest(name, list(self.factories)))
        sig = inspect.signature(factory)
        params = sig.parameters
        accepts_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
        valid = [
            n
            for n, p in params.items()
            if p.kind in (inspect.Parameter.KEYWORD_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
            and not n.startswith("_")
        ]
        if not accepts_any:
            for key in kwargs:
                if key not in valid:
                    raise self.fail(
                        node, f"stage {name!r} has no parameter {key!r}" + _suggest(key, valid)
                    )
        try:
            sig.bind(*args, **kwargs)
        except TypeError as exc:
            raise self.fail(node, f"stage {name!r}: {exc}") from exc
        try:
            return factory(*args, **kwargs)
        except RankstackError as exc:
            raise self.fail(node, f"stage {name!r}: {exc}") from exc
        except (TypeError, ValueError) as exc:
            raise self.fail(node, f"stage {name!r}: invalid parameters: {exc}") from exc

    def operator(self, node: ast.BinOp, left: Any, right: Any) -> Stage:
        op = node.op
        if isinstance(op, ast.RShift) and isinstance(left, Stage) and isinstance(right, Stage):
            return left >> right
        if isinstance(op, ast.Mod) and isinstance(left, Stage) and isinstance(right, int):
            return left % right
        if isinstance(op, ast.Add) and isinstance(left, Stage) and isinstance(right, Stage):
            return left + right
        if isinstance(op, ast.Pow) and isinstance(left, Stage) and isinstance(right, Stage):
            return left**right
        if isinstance(op, ast.Mult):
            if isinstance(left, (int, float)) and isinstance(right, Stage):
                return right * float(left)
            if isinstance(left, Stage) and isinstance(right, (int, float)):
                return left * float(right)
        raise self.fail(
            node,
            f"operator {type(op).__name__} does not apply to {type(left).__name__} and "
            f"{type(right).__name__} (use stage >> stage, stage % int, stage + stage, "
            "stage ** stage, number * stage)",
        )
