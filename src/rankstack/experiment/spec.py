"""The experiment file: a TOML description of the systems to compare on a dataset.

Example (``examples/scifact.toml``)::

    name = "scifact-bm25"
    dataset = "beir/scifact"          # registry name or a BEIR folder
    split = "test"
    measures = ["nDCG@10", "AP", "RR@10", "R@100"]
    baseline = "BM25"

    [index]                            # how the shared BM25 index is built
    fields = ["title", "text"]

    [[systems]]
    name = "BM25"
    pipeline = "bm25()"

    [[systems]]
    name = "BM25 + RM3"
    pipeline = "rm3(bm25())"

Unknown keys are refused with the list of valid ones, so a typo never silently changes a run.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankstack.experiment.expression import ExperimentError, _suggest

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

DEFAULT_MEASURES = ("nDCG@10", "AP", "RR@10", "R@100")

_TOP_KEYS = {
    "name": str,
    "dataset": str,
    "split": str,
    "measures": list,
    "baseline": str,
    "depth": int,
    "index": dict,
    "systems": list,
    "tests": list,
    "alpha": float,
    "rel": int,
    "description": str,
}
_SYSTEM_KEYS = {"name": str, "pipeline": str, "description": str}
_INDEX_KEYS = {
    "fields": list,
    "stemmer": (str, bool),
    "stopwords": (str, bool, list),
    "lowercase": bool,
}


@dataclass(frozen=True)
class SystemSpec:
    """One system of an experiment: a name and a pipeline expression."""

    name: str
    pipeline: str
    description: str = ""


@dataclass(frozen=True)
class ExperimentSpec:
    """A parsed and validated experiment file."""

    name: str
    dataset: str
    systems: tuple[SystemSpec, ...]
    split: str | None = "test"
    measures: tuple[str, ...] = DEFAULT_MEASURES
    baseline: str | None = None
    depth: int = 1000
    index: dict[str, Any] = field(default_factory=dict)
    tests: tuple[str, ...] = ("t", "randomisation")
    alpha: float = 0.05
    rel: int | None = None
    description: str = ""
    source: Path | None = None

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> ExperimentSpec:
        p = Path(path)
        if not p.is_file():
            raise ExperimentError(f"experiment file not found: {p}")
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise ExperimentError(f"{p}: not valid TOML: {exc}") from exc
        return cls.from_dict(data, source=p)

    @classmethod
    def from_dict(cls, data: dict[str, Any], *, source: Path | None = None) -> ExperimentSpec:
        where = str(source) if source else "experiment"
        _check_keys(data, _TOP_KEYS, where)
        for key in ("dataset", "systems"):
            if key not in data:
                raise ExperimentError(f"{where}: the key {key!r} is required")
        systems = []
        for i, sys_data in enumerate(data["systems"]):
            at = f"{where}: systems[{i}]"
            if not isinstance(sys_data, dict):
                raise ExperimentError(f"{at}: expected a table with 'name' and 'pipeline'")
            _check_keys(sys_data, _SYSTEM_KEYS, at)
            for key in ("name", "pipeline"):
                if key not in sys_data:
                    raise ExperimentError(f"{at}: the key {key!r} is required")
            systems.append(SystemSpec(**sys_data))
        names = [s.name for s in systems]
        if not systems:
            raise ExperimentError(f"{where}: 'systems' is empty; declare at least one")
        dup = {n for n in names if names.count(n) > 1}
        if dup:
            raise ExperimentError(f"{where}: system names must be unique; repeated: {sorted(dup)}")
        baseline = data.get("baseline", names[0])
        if baseline not in names:
            raise ExperimentError(
                f"{where}: baseline {baseline!r} is not a system" + _suggest(baseline, names)
            )
        index = dict(data.get("index", {}))
        _check_keys(index, _INDEX_KEYS, f"{where}: [index]")
        return cls(
            name=data.get("name", source.stem if source else "experiment"),
            dataset=data["dataset"],
            systems=tuple(systems),
            split=data.get("split", "test"),
            measures=tuple(data.get("measures", DEFAULT_MEASURES)),
            baseline=baseline,
            depth=int(data.get("depth", 1000)),
            index=index,
            tests=tuple(data.get("tests", ("t", "randomisation"))),
            alpha=float(data.get("alpha", 0.05)),
            rel=data.get("rel"),
            description=data.get("description", ""),
            source=source,
        )


def _check_keys(data: dict[str, Any], allowed: dict[str, Any], where: str) -> None:
    for key, value in data.items():
        if key not in allowed:
            raise ExperimentError(f"{where}: unknown key {key!r}" + _suggest(key, sorted(allowed)))
        expected = allowed[key]
        if expected is float and isinstance(value, int):
            continue
        if not isinstance(value, expected):
            names = (
                " or ".join(t.__name__ for t in expected)
                if isinstance(expected, tuple)
                else expected.__name__
            )
            raise ExperimentError(
                f"{where}: key {key!r} must be a {names}, found {type(value).__name__}"
            )
