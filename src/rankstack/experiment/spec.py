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

Systems with learned stages (``lambdamart()``, ``neural()``) are fitted before they are
evaluated, by one of two protocols:

- ``protocol = "split"`` (the default when the dataset has a ``train`` split): fit on
  ``train_split``, select (early stopping) on ``dev_split`` or on a seeded ``dev_fraction`` of
  the training queries, report on ``split``;
- ``protocol = "cv"`` (the default for a dataset without a train split, such as Cranfield):
  ``folds``-fold cross-validation over the queries, seeded by ``seed``; each fold's test queries
  are ranked by a model fitted on the other folds, and the per-query values of all folds are
  pooled, so significance tests pair over every query.

Unknown keys are refused with the list of valid ones, so a typo never silently changes a run;
so are unknown measures (with the list of valid measure names).
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
    "protocol": str,
    "train_split": str,
    "dev_split": str,
    "dev_fraction": float,
    "folds": int,
    "seed": int,
}
PROTOCOLS = ("auto", "split", "cv")
_SYSTEM_KEYS = {"name": str, "pipeline": str, "description": str}
_INDEX_KEYS = {
    "fields": list,
    "stemmer": (str, bool),
    "stopwords": (str, bool, list),
    "lowercase": bool,
    "positions": bool,
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
    protocol: str = "auto"
    train_split: str | None = None
    dev_split: str | None = None
    dev_fraction: float = 0.0
    folds: int = 5
    seed: int = 0
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
        measures = tuple(data.get("measures", DEFAULT_MEASURES))
        _check_measures(measures, where)
        protocol = data.get("protocol", "auto")
        if protocol not in PROTOCOLS:
            raise ExperimentError(
                f"{where}: protocol {protocol!r} is unknown" + _suggest(protocol, list(PROTOCOLS))
            )
        dev_fraction = float(data.get("dev_fraction", 0.0))
        if not 0.0 <= dev_fraction < 1.0:
            raise ExperimentError(f"{where}: dev_fraction must be in [0, 1), found {dev_fraction}")
        folds = int(data.get("folds", 5))
        if folds < 2:
            raise ExperimentError(f"{where}: folds must be >= 2, found {folds}")
        if "dev_split" in data and dev_fraction:
            raise ExperimentError(f"{where}: give dev_split or dev_fraction, not both")
        return cls(
            name=data.get("name", source.stem if source else "experiment"),
            dataset=data["dataset"],
            systems=tuple(systems),
            split=data.get("split", "test"),
            measures=measures,
            baseline=baseline,
            depth=int(data.get("depth", 1000)),
            index=index,
            tests=tuple(data.get("tests", ("t", "randomisation"))),
            alpha=float(data.get("alpha", 0.05)),
            rel=data.get("rel"),
            description=data.get("description", ""),
            protocol=protocol,
            train_split=data.get("train_split"),
            dev_split=data.get("dev_split"),
            dev_fraction=dev_fraction,
            folds=folds,
            seed=int(data.get("seed", 0)),
            source=source,
        )

    def settings(self) -> dict[str, Any]:
        """The settings that decide the results (for reports and cache keys)."""
        return {
            "name": self.name,
            "dataset": self.dataset,
            "split": self.split,
            "measures": list(self.measures),
            "baseline": self.baseline,
            "depth": self.depth,
            "index": self.index,
            "tests": list(self.tests),
            "alpha": self.alpha,
            "rel": self.rel,
            "protocol": self.protocol,
            "train_split": self.train_split,
            "dev_split": self.dev_split,
            "dev_fraction": self.dev_fraction,
            "folds": self.folds,
            "seed": self.seed,
        }


def _check_measures(measures: tuple[str, ...], where: str) -> None:
    from rankstack.evaluate import parse_measure
    from rankstack.exceptions import MeasureError

    for i, m in enumerate(measures):
        if not isinstance(m, str):
            raise ExperimentError(f"{where}: measures[{i}] must be a string, found {m!r}")
        try:
            parse_measure(m)
        except MeasureError as exc:
            raise ExperimentError(f"{where}: measures[{i}]: {exc}") from exc


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
