"""A pipeline described in a TOML file, fitted on a dataset's training queries.

A standalone ``pipeline.toml`` uses the experiment file's keys with one ``pipeline``
expression instead of ``[[systems]]``::

    dataset = "beir/scifact"
    train_split = "train"          # default "train"; a dataset without splits: all queries
    dev_fraction = 0.2             # or dev_split = "dev"; seeded by seed
    pipeline = "bm25(k=100) >> features() >> lambdamart()"

    [index]
    fields = ["title", "text"]
    positions = true

An experiment file works too: name the system to fit (or it must have only one).
:func:`fit_pipeline_file` builds the stages over the dataset's (cached) index and fits them;
``rankstack pipeline fit FILE -o DIR`` then saves the result with
:func:`rankstack.pipeline_io.save_pipeline`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from rankstack.experiment.expression import ExperimentError, _suggest
from rankstack.experiment.spec import ExperimentSpec
from rankstack.experiment.splits import carve, subset
from rankstack.io._files import PathLike
from rankstack.pipeline import Stage
from rankstack.pipeline_fit import fit_pipeline

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib


def read_pipeline_file(path: PathLike, *, system: str | None = None) -> tuple[ExperimentSpec, str]:
    """The file as an experiment spec, and the name of the system to fit."""
    p = Path(path)
    if not p.is_file():
        raise ExperimentError(f"pipeline file not found: {p}")
    try:
        data = tomllib.loads(p.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise ExperimentError(f"{p}: not valid TOML: {exc}") from exc
    if "pipeline" in data:
        if "systems" in data:
            raise ExperimentError(f"{p}: give 'pipeline' or [[systems]], not both")
        text = data.pop("pipeline")
        if not isinstance(text, str):
            raise ExperimentError(f"{p}: key 'pipeline' must be a str (an expression)")
        name = str(data.get("name", p.stem))
        data["systems"] = [{"name": name, "pipeline": text}]
    spec = ExperimentSpec.from_dict(data, source=p)
    names = [s.name for s in spec.systems]
    if system is None:
        if len(names) > 1:
            raise ExperimentError(f"{p} declares {len(names)} systems; name one of {names}")
        return spec, names[0]
    if system not in names:
        raise ExperimentError(f"{p}: no system {system!r}" + _suggest(system, names))
    return spec, system


def fit_pipeline_file(
    path: PathLike, *, system: str | None = None, cache_dir: PathLike | None = None
) -> tuple[Stage, dict[str, Any]]:
    """Build the file's pipeline over its dataset and fit it; returns it and what it saw."""
    from rankstack.experiment.stages import ExperimentContext, check_spec

    spec, name = read_pipeline_file(path, system=system)
    check_spec(spec)
    ctx = ExperimentContext(spec, cache_dir=cache_dir)
    stage = ctx.build(next(s for s in spec.systems if s.name == name))
    splits = ctx.splits()
    train_split = spec.train_split or ("train" if splits else None)
    if splits and train_split not in splits:
        raise ExperimentError(
            f"{spec.source}: dataset {spec.dataset!r} has no split {train_split!r}; "
            f"its splits are {splits}"
        )
    train = (ctx.queries(train_split), ctx.qrels(train_split))
    dev = None
    if spec.dev_split:
        dev = (ctx.queries(spec.dev_split), ctx.qrels(spec.dev_split))
    elif spec.dev_fraction:
        rest, dev_ids = carve(train[0].qid_list(), spec.dev_fraction, spec.seed)
        train, dev = subset(*train, rest), subset(*train, dev_ids)
    fit_pipeline(stage, *train, *(dev if dev is not None else (None, None)))
    info = {
        "source": str(spec.source),
        "system": name,
        "dataset": spec.dataset,
        "train_split": train_split,
        "train_queries": len(train[0]),
        "dev_split": spec.dev_split,
        "dev_queries": 0 if dev is None else len(dev[0]),
        "dev_fraction": spec.dev_fraction,
        "seed": spec.seed,
    }
    return stage, info
