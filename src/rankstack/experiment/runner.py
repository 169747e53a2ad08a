"""``Experiment``: fit, run and compare systems with a baseline on the same queries.

Systems without learned stages are run on the report queries. Systems with learned stages are
fitted first, by one of two protocols:

- **split**: fit on the training queries (early stopping / model selection on the dev
  queries, if any), report on the test queries;
- **cv**: k-fold cross-validation over the report queries (seeded folds, see
  :func:`~rankstack.experiment.splits.kfold`): each fold's queries are ranked by a copy of the
  system fitted on the other folds, and the folds' runs are concatenated, so every query is
  evaluated once and the significance tests pair over all queries.

Retrieved runs and features are cached (:mod:`rankstack.experiment.cache`), and so is the final
run of each fitted system (keyed also by its training queries and judgements), so re-running a
changed experiment recomputes only what changed.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console
from rich.table import Table

from rankstack.data import Qrels, Queries, Run
from rankstack.evaluate import Comparison, compare
from rankstack.exceptions import MissingFeaturesError, RankstackError
from rankstack.experiment.cache import RunCache, qrels_hash, queries_hash
from rankstack.experiment.describe import describe
from rankstack.experiment.expression import ExperimentError
from rankstack.experiment.inputs import input_digests
from rankstack.experiment.plan import Planner, index_digests, input_key, key_expression
from rankstack.experiment.spec import DEFAULT_MEASURES, ExperimentSpec
from rankstack.experiment.splits import carve, kfold, subset, union
from rankstack.io._files import PathLike, atomic_write
from rankstack.pipeline import Stage, clone, learned_stages
from rankstack.pipeline_fit import fit_pipeline

logger = logging.getLogger(__name__)

PROTOCOLS = {
    "none": "no learned system",
    "split": "fit on train, report on test",
    "cv": "cross-validation over queries",
}


@dataclass(frozen=True)
class SystemInfo:
    """How one system was produced.

    ``protocol`` is ``"none"`` for a system without learned stages, else the experiment's;
    ``cached`` says whether its run came from the cache; ``fit`` holds facts about the fitting
    (query counts, each learned stage's best iteration or epoch per fold).
    """

    name: str
    expression: str
    learned: bool
    protocol: str
    seconds: float
    cached: bool = False
    fit: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return {
            "expression": self.expression,
            "learned": self.learned,
            "protocol": self.protocol,
            "seconds": round(self.seconds, 4),
            "cached": self.cached,
            "fit": self.fit,
        }


@dataclass(frozen=True)
class ExperimentResult:
    """The runs of every system, their comparison, how each was made and how long it took."""

    name: str
    runs: dict[str, Run]
    comparison: Comparison
    seconds: dict[str, float]
    n_queries: int
    systems: dict[str, SystemInfo] = field(default_factory=dict)
    protocol: str = "none"
    settings: dict[str, Any] = field(default_factory=dict)
    qrels: Qrels | None = None
    cache_stats: dict[str, int] = field(default_factory=dict)
    folds: list[list[str]] | None = None

    @property
    def baseline(self) -> str:
        return self.comparison.baseline

    def describe_protocol(self) -> str:
        """One line: how learned systems were fitted."""
        s = self.settings
        if self.protocol == "cv":
            dev = (
                f", dev {s.get('dev_fraction', 0):g} of each training part"
                if s.get("dev_fraction")
                else ""
            )
            k = len(self.folds or [])
            return f"{k}-fold cross-validation over queries (seed {s.get('seed', 0)}){dev}"
        if self.protocol == "split":
            parts = [f"fit on {s.get('train_queries', '?')} train queries"]
            if s.get("dev_queries"):
                parts.append(f"{s['dev_queries']} dev queries for early stopping")
            return ", ".join(parts) + f", report on {self.n_queries} queries"
        return PROTOCOLS["none"]

    def table(self) -> Table:
        """A compact rich table: each measure's mean with its significance marker, and time.

        Markers: ``+``/``-`` better/worse than the baseline, followed by the letters of the
        tests that find it significant after correction (``t`` paired t-test, ``r``
        randomisation). Full p-values are in :meth:`to_dict` and the comparison's CSV.
        """
        comp = self.comparison
        tests = ", ".join(
            {"t": "t = paired t-test", "randomisation": "r = randomisation"}[t] for t in comp.tests
        )
        how = "" if self.protocol == "none" else f"; {self.describe_protocol()}"
        table = Table(
            title=f"{self.name}: {self.n_queries} queries, baseline {comp.baseline}{how}",
            caption=f"+/- significantly better/worse than the baseline at alpha={comp.alpha:g}, "
            f"{comp.correction}-corrected ({tests})",
        )
        table.add_column("system")
        for m in comp.measures:
            table.add_column(m, justify="right")
        table.add_column("time (s)", justify="right", style="dim")
        best = {m: max(comp.means[s][m] for s in comp.systems) for m in comp.measures}
        for s in comp.systems:
            cells = [s + (" (baseline)" if s == comp.baseline else "")]
            for m in comp.measures:
                v = comp.means[s][m]
                mark = comp.marker(s, m)
                text = f"{v:.4f}" + (f" {mark}" if mark else "")
                cells.append(f"[bold]{text}[/]" if v == best[m] else text)
            info = self.systems.get(s)
            cached = " (cached)" if info is not None and info.cached else ""
            cells.append(f"{self.seconds[s]:.2f}{cached}")
            table.add_row(*cells)
        return table

    def to_dict(self) -> dict[str, Any]:
        """``{"baseline", "systems": [{"name", "measures", "p_values", "seconds", ...}], ...}``.

        ``p_values`` are the paired t-test's, Holm-corrected, against the baseline (None for
        the baseline itself); ``p_values_randomisation`` the randomisation test's. Each system
        also carries its ``expression``, ``protocol``, whether it was ``cached`` and ``fit``.
        """
        comp = self.comparison
        systems = []
        for s in comp.systems:
            entry: dict[str, Any] = {
                "name": s,
                "measures": comp.means[s],
                "seconds": round(self.seconds[s], 4),
            }
            for test, key in (("t", "p_values"), ("randomisation", "p_values_randomisation")):
                if test in comp.corrected:
                    entry[key] = {
                        m: (None if s == comp.baseline else comp.corrected[test][s][m])
                        for m in comp.measures
                    }
            info = self.systems.get(s)
            if info is not None:
                entry.update({k: v for k, v in info.to_dict().items() if k != "seconds"})
            systems.append(entry)
        return {
            "name": self.name,
            "baseline": comp.baseline,
            "queries": self.n_queries,
            "measures": comp.measures,
            "correction": comp.correction,
            "protocol": self.protocol,
            "settings": self.settings,
            "systems": systems,
        }

    def to_json(self, path: PathLike | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2, default=str)
        if path is not None:
            with atomic_write(path, "wb") as fh:
                cast("IO[bytes]", fh).write((text + "\n").encode())
        return text

    def to_html(self, path: PathLike | None = None, **options: Any) -> str:
        """The self-contained HTML report (:func:`rankstack.experiment.report.html_report`)."""
        from rankstack.experiment.report import html_report

        text = html_report(self, **options)
        if path is not None:
            with atomic_write(path, "wb") as fh:
                cast("IO[bytes]", fh).write(text.encode("utf-8"))
        return text

    def save_runs(self, folder: PathLike) -> list[Path]:
        """Write every system's run as a TREC file named after the system."""
        from rankstack.io import write_run

        out = []
        for name, run in self.runs.items():
            path = Path(folder) / f"{slug(name) or 'run'}.trec"
            write_run(run, path, tag=slug(name) or "rankstack")
            out.append(path)
        return out


def slug(name: str) -> str:
    """A file-name-safe form of a system name (``BEIR SciFact (test)`` -> ``BEIR_SciFact_test``)."""
    safe = "".join(c if c.isalnum() or c in "-." else "_" for c in name)
    return "_".join(part for part in safe.split("_") if part)


class Experiment:
    """Compare systems (stages) on queries with judgements, as PyTerrier's ``Experiment``.

    >>> Experiment({"BM25": bm25, "LambdaMART": bm25 % 100 >> feats >> LambdaMART()},
    ...            test_queries, test_qrels, baseline="BM25",
    ...            train_queries=train_queries, train_qrels=train_qrels).run()  # doctest: +SKIP

    Parameters
    ----------
    systems:
        Name -> stage. Systems with learned stages are fitted (see the module docstring).
    queries, qrels:
        The report queries and judgements (for ``folds``: all queries, cross-validated).
    train_queries, train_qrels, dev_queries, dev_qrels:
        Training and dev queries for the split protocol (dev: early stopping).
    folds:
        Cross-validate learned systems over ``queries`` with this many folds instead.
    dev_fraction:
        Carve this seeded fraction of each training set as dev (when no dev set is given).
    seed:
        Seeds the folds and the dev carving.
    cache:
        A :class:`RunCache`, a folder for one, or None (in memory for this run only).
    dataset:
        A label of the data, part of the cache keys and the report.
    """

    def __init__(
        self,
        systems: Mapping[str, Stage],
        queries: Queries,
        qrels: Qrels,
        measures: Sequence[str] = DEFAULT_MEASURES,
        baseline: str | None = None,
        *,
        name: str = "experiment",
        tests: Sequence[str] = ("t", "randomisation"),
        alpha: float = 0.05,
        rel: int | None = None,
        train_queries: Queries | None = None,
        train_qrels: Qrels | None = None,
        dev_queries: Queries | None = None,
        dev_qrels: Qrels | None = None,
        folds: int | None = None,
        dev_fraction: float = 0.0,
        seed: int = 0,
        cache: RunCache | PathLike | None = None,
        dataset: str = "",
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        if not systems:
            raise ExperimentError("an experiment needs at least one system")
        self.systems = dict(systems)
        self.queries = queries
        self.qrels = qrels
        self.measures = list(measures)
        self.baseline = baseline or next(iter(self.systems))
        if self.baseline not in self.systems:
            raise ExperimentError(
                f"baseline {self.baseline!r} is not one of the systems {list(self.systems)}"
            )
        self.name = name
        self.tests = tuple(tests)
        self.alpha = alpha
        self.rel = rel
        self.train = _pair(train_queries, train_qrels, "train")
        self.dev = _pair(dev_queries, dev_qrels, "dev")
        self.folds = folds
        self.dev_fraction = float(dev_fraction)
        self.seed = int(seed)
        self.dataset = dataset
        self.extra_settings = dict(settings or {})
        self.cache = cache if isinstance(cache, RunCache) else RunCache(cache)
        self._protocol()  # inconsistent settings fail here, before any work

    @property
    def protocol(self) -> str:
        """``"none"`` (no learned system), ``"split"`` or ``"cv"``."""
        return self._protocol()

    def _protocol(self) -> str:
        learned = [n for n, s in self.systems.items() if learned_stages(s)]
        if not learned:
            return "none"
        if self.folds is not None and self.train is not None:
            raise ExperimentError("give training queries or folds (cross-validation), not both")
        if self.folds is not None:
            if self.dev is not None:
                raise ExperimentError("cross-validation carves dev sets (dev_fraction), not dev_*")
            return "cv"
        if self.train is None:
            raise ExperimentError(
                f"systems {learned} have learned stages: give training queries and qrels "
                "(train_split in a file) or folds for cross-validation"
            )
        if self.dev is not None and self.dev_fraction:
            raise ExperimentError("give a dev set or a dev_fraction, not both")
        return "split"

    @classmethod
    def from_spec(
        cls,
        spec: ExperimentSpec,
        *,
        cache_dir: PathLike | None = None,
        use_cache: bool = True,
    ) -> Experiment:
        """The experiment of a file, over its dataset (index built or cached).

        ``cache_dir`` holds the indexes (``indexes/``) and the runs (``runs/``); default:
        ``RANKSTACK_HOME/indexes`` and ``RANKSTACK_HOME/cache/runs``. ``use_cache=False``
        recomputes every run (indexes are still reused).
        """
        from rankstack.datasets import home_dir
        from rankstack.experiment.stages import ExperimentContext, check_spec

        check_spec(spec)  # typos fail before any data is loaded or indexed
        root = Path(cache_dir) if cache_dir is not None else None
        ctx = ExperimentContext(spec, cache_dir=root / "indexes" if root else None)
        systems = {s.name: ctx.build(s) for s in spec.systems}
        learned = any(learned_stages(s) for s in systems.values())
        protocol = spec.protocol
        splits = ctx.splits()
        train_split = spec.train_split or "train"
        if protocol == "auto":
            protocol = "split" if (not learned or train_split in splits) else "cv"
        kwargs: dict[str, Any] = {}
        if learned and protocol == "split":
            if train_split not in splits:
                raise ExperimentError(
                    f"{spec.source or 'experiment'}: dataset {spec.dataset!r} has no split "
                    f"{train_split!r} to fit on (splits: {splits or 'none'}); use "
                    "protocol = 'cv' for cross-validation over its queries"
                )
            kwargs.update(
                train_queries=ctx.queries(train_split), train_qrels=ctx.qrels(train_split)
            )
            if spec.dev_split:
                kwargs.update(
                    dev_queries=ctx.queries(spec.dev_split), dev_qrels=ctx.qrels(spec.dev_split)
                )
        elif learned:
            kwargs["folds"] = spec.folds
        runs_dir = (root / "runs") if root else Path(home_dir()) / "cache" / "runs"
        return cls(
            systems,
            ctx.queries(),
            ctx.qrels(),
            spec.measures,
            spec.baseline,
            name=spec.name,
            tests=spec.tests,
            alpha=spec.alpha,
            rel=spec.rel,
            dev_fraction=spec.dev_fraction,
            seed=spec.seed,
            cache=RunCache(runs_dir, enabled=use_cache),
            dataset=spec.dataset,
            settings=spec.settings(),
            **kwargs,
        )

    @classmethod
    def from_toml(
        cls, path: PathLike, *, cache_dir: PathLike | None = None, use_cache: bool = True
    ) -> Experiment:
        return cls.from_spec(
            ExperimentSpec.from_toml(path), cache_dir=cache_dir, use_cache=use_cache
        )

    # ------------------------------------------------------------------ running
    def run(
        self, *, console: Console | None = None, save_dir: PathLike | None = None
    ) -> ExperimentResult:
        """Fit and run every system, then evaluate and compare them.

        ``save_dir``: each fitted system is also saved there as a pipeline folder named after
        it (:func:`rankstack.pipeline_io.save_pipeline`); with cross-validation, one folder per
        fold (``NAME/fold-1`` ...), whose ``info`` lists the queries it was not fitted on.
        """
        test_q = self.queries
        train_q, dev_q, folds = self._query_sets()
        label = self.dataset or self.name
        plain = Planner(self.cache, test_q, f"{label}:report")
        universe = union([q for q in (train_q, dev_q, test_q) if q is not None])
        learned_planner = Planner(self.cache, universe, f"{label}:all")
        runs: dict[str, Run] = {}
        seconds: dict[str, float] = {}
        infos: dict[str, SystemInfo] = {}
        for name, stage in self.systems.items():
            start = time.perf_counter()
            learned = bool(learned_stages(stage))
            try:
                if not learned:
                    hits, misses = self.cache.stats["hits"], self.cache.stats["misses"]
                    runs[name] = plain.wrap(stage).transform(test_q)
                    cached = (
                        self.cache.stats["hits"] > hits and self.cache.stats["misses"] == misses
                    )
                    fit: dict[str, Any] = {}
                else:
                    runs[name], cached, fit = self._fitted_run(
                        name, learned_planner.wrap(stage), folds, save_dir
                    )
            except MissingFeaturesError as exc:
                raise MissingFeaturesError(f"system {name!r}: {exc}") from exc
            seconds[name] = time.perf_counter() - start
            infos[name] = SystemInfo(
                name=name,
                expression=_expression(stage),
                learned=learned,
                protocol=self.protocol if learned else "none",
                seconds=seconds[name],
                cached=cached,
                fit=fit,
            )
            if console is not None:
                verb = "fitted and ran" if learned else "ran"
                how = ", cached" if cached else ""
                console.print(
                    f"[dim]{verb}[/] {name} [dim]({seconds[name]:.2f} s{how})[/]", highlight=False
                )
            logger.info("%s: %d queries in %.2f s", name, len(test_q), seconds[name])
        comparison = compare(
            runs,
            self.qrels,
            self.measures,
            self.baseline,
            tests=self.tests,
            alpha=self.alpha,
            rel=self.rel,
        )
        settings = {
            **self.extra_settings,
            "protocol": self.protocol,
            "seed": self.seed,
            "dev_fraction": self.dev_fraction,
            "report_queries": len(test_q),
        }
        if self.protocol == "split":
            (fit_q, _), dev = self._split_sets()
            settings["train_queries"] = len(fit_q)
            settings["dev_queries"] = 0 if dev is None else len(dev[0])
        if folds is not None:
            settings["folds"] = len(folds)
        return ExperimentResult(
            self.name,
            runs,
            comparison,
            seconds,
            len(comparison.qids),
            systems=infos,
            protocol=self.protocol,
            settings=settings,
            qrels=self.qrels,
            cache_stats=dict(self.cache.stats),
            folds=folds,
        )

    def _query_sets(self) -> tuple[Queries | None, Queries | None, list[list[str]] | None]:
        """Training queries, dev queries (split protocol) and folds (cv)."""
        if self.protocol == "split":
            assert self.train is not None
            train_q = self.train[0]
            if self.dev is not None:
                return train_q, self.dev[0], None
            return train_q, None, None
        if self.protocol == "cv":
            assert self.folds is not None
            judged = set(self.qrels.select(self.queries.qids).qid_list())
            order = [q for q in self.queries.qid_list() if q in judged]
            return None, None, kfold(order, self.folds, self.seed)
        return None, None, None

    def _split_sets(
        self,
    ) -> tuple[tuple[Queries, Qrels], tuple[Queries, Qrels] | None]:
        assert self.train is not None
        train = self.train
        if self.dev is not None:
            return train, self.dev
        if self.dev_fraction:
            rest, dev = carve(train[0].qid_list(), self.dev_fraction, self.seed)
            return subset(*train, rest), subset(*train, dev)
        return train, None

    def _protocol_key(self) -> dict[str, Any]:
        if self.protocol == "split":
            train, dev = self._split_sets()
            return {
                "protocol": "split",
                "train": [queries_hash(train[0]), qrels_hash(train[1])],
                "dev": None if dev is None else [queries_hash(dev[0]), qrels_hash(dev[1])],
                "test": queries_hash(self.queries),
            }
        return {
            "protocol": "cv",
            "folds": self.folds,
            "seed": self.seed,
            "dev_fraction": self.dev_fraction,
            "queries": queries_hash(self.queries),
            "qrels": qrels_hash(self.qrels),
        }

    def _fitted_run(
        self,
        name: str,
        system: Stage,
        folds: list[list[str]] | None,
        save_dir: PathLike | None,
    ) -> tuple[Run, bool, dict[str, Any]]:
        """The report run of a learned system, its cache status and fitting facts."""
        fit: dict[str, Any] = {}

        def compute() -> Run:
            if self.protocol == "split":
                return self._fit_split(name, system, fit, save_dir)
            assert folds is not None
            return self._fit_cv(name, system, folds, fit, save_dir)

        expr = key_expression(system)
        inputs = input_digests(system) if expr is not None else None
        if expr is None or inputs is None:
            return compute(), False, fit
        description = {
            "kind": "fitted",
            "expression": expr,
            "indexes": index_digests(system),
            **input_key(inputs),
            **self._protocol_key(),
        }
        misses = self.cache.stats["misses"]
        # saving needs the fitted models: fit again even if the run is cached
        refresh = save_dir is not None
        run = self.cache.get(
            description, compute, label=f"fitted {expr}", refresh=refresh, info=fit
        )
        cached = self.cache.stats["misses"] == misses
        return run, cached, fit

    def _fit_split(
        self, name: str, system: Stage, fit: dict[str, Any], save_dir: PathLike | None
    ) -> Run:
        (train_q, train_r), dev = self._split_sets()
        fit_pipeline(system, train_q, train_r, *(dev if dev is not None else (None, None)))
        fit.update(
            train_queries=len(train_q),
            dev_queries=0 if dev is None else len(dev[0]),
            stages=[_fit_facts(s) for s in learned_stages(system)],
        )
        if save_dir is not None:
            from rankstack.pipeline_io import save_pipeline

            folder = Path(save_dir) / (slug(name) or "system")
            save_pipeline(system, folder, info={"experiment": self.name, "system": name})
            fit["saved"] = str(folder)
        return system.transform(self.queries)

    def _fit_cv(
        self,
        name: str,
        system: Stage,
        folds: list[list[str]],
        fit: dict[str, Any],
        save_dir: PathLike | None,
    ) -> Run:
        parts = []
        per_fold = []
        saved: list[str] = []
        all_q = self.queries
        for i, test_ids in enumerate(folds):
            held = set(test_ids)
            train_ids = [q for f in folds for q in f if q not in held]
            dev = None
            if self.dev_fraction:
                train_ids, dev_ids = carve(train_ids, self.dev_fraction, (self.seed, i))
                dev = subset(all_q, self.qrels, dev_ids)
            copy = clone(system, share_unlearned=True)
            train_q, train_r = subset(all_q, self.qrels, train_ids)
            fit_pipeline(copy, train_q, train_r, *(dev if dev is not None else (None, None)))
            parts.append(copy.transform(all_q.select(test_ids)))
            per_fold.append([_fit_facts(s) for s in learned_stages(copy)])
            logger.info("fold %d/%d: fitted on %d queries", i + 1, len(folds), len(train_ids))
            if save_dir is not None:
                from rankstack.pipeline_io import save_pipeline

                folder = Path(save_dir) / (slug(name) or "system") / f"fold-{i + 1}"
                info = {
                    "experiment": self.name,
                    "system": name,
                    "fold": i + 1,
                    "folds": len(folds),
                    "seed": self.seed,
                    "train_queries": len(train_ids),
                    "dev_queries": 0 if dev is None else len(dev[0]),
                    "held_out_qids": list(test_ids),
                }
                save_pipeline(copy, folder, info=info)
                saved.append(str(folder))
        fit.update(folds=len(folds), stages_per_fold=per_fold)
        if saved:
            fit["saved"] = saved
        return Run.concat(parts)


def _pair(queries: Queries | None, qrels: Qrels | None, what: str) -> tuple[Queries, Qrels] | None:
    if (queries is None) != (qrels is None):
        raise ExperimentError(f"give both {what}_queries and {what}_qrels, or neither")
    if queries is None or qrels is None:
        return None
    return queries, qrels


def _expression(stage: Stage) -> str:
    try:
        return describe(stage)
    except RankstackError:
        return repr(stage)


def _fit_facts(stage: Stage) -> dict[str, Any]:
    facts: dict[str, Any] = {"stage": type(stage).__name__}
    for attr in ("best_iteration_", "best_epoch_", "best_score_"):
        value = getattr(stage, attr, None)
        if isinstance(value, (int, float)):
            facts[attr.rstrip("_")] = value
    return facts
