"""``Experiment``: run several systems on the same queries and compare them with a baseline."""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, cast

from rich.console import Console
from rich.table import Table

from rankstack.data import Qrels, Queries, Run
from rankstack.evaluate import Comparison, compare
from rankstack.experiment.expression import ExperimentError
from rankstack.experiment.spec import DEFAULT_MEASURES, ExperimentSpec
from rankstack.io._files import PathLike, atomic_write
from rankstack.pipeline import Stage

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ExperimentResult:
    """The runs of every system, their comparison and how long each took."""

    name: str
    runs: dict[str, Run]
    comparison: Comparison
    seconds: dict[str, float]
    n_queries: int

    @property
    def baseline(self) -> str:
        return self.comparison.baseline

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
        table = Table(
            title=f"{self.name}: {self.n_queries} queries, baseline {comp.baseline}",
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
            cells.append(f"{self.seconds[s]:.2f}")
            table.add_row(*cells)
        return table

    def to_dict(self) -> dict[str, Any]:
        """``{"baseline", "systems": [{"name", "measures", "p_values", "seconds"}]}``.

        ``p_values`` are the paired t-test's, Holm-corrected, against the baseline (None for
        the baseline itself); ``p_values_randomisation`` the randomisation test's.
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
            systems.append(entry)
        return {
            "name": self.name,
            "baseline": comp.baseline,
            "queries": self.n_queries,
            "correction": comp.correction,
            "systems": systems,
        }

    def to_json(self, path: PathLike | None = None) -> str:
        text = json.dumps(self.to_dict(), indent=2)
        if path is not None:
            with atomic_write(path, "wb") as fh:
                cast("IO[bytes]", fh).write((text + "\n").encode())
        return text

    def save_runs(self, folder: PathLike) -> list[Path]:
        """Write every system's run as a TREC file named after the system."""
        from rankstack.io import write_run

        out = []
        for name, run in self.runs.items():
            slug = "".join(c if c.isalnum() or c in "-_." else "_" for c in name).strip("_")
            path = Path(folder) / f"{slug or 'run'}.trec"
            write_run(run, path, tag=slug or "rankstack")
            out.append(path)
        return out


class Experiment:
    """Compare systems (stages) on queries with judgements, as PyTerrier's ``Experiment``.

    >>> Experiment({"BM25": bm25, "BM25+RM3": RM3(bm25)}, queries, qrels,
    ...            ["nDCG@10", "AP"], baseline="BM25").run()            # doctest: +SKIP
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

    @classmethod
    def from_spec(cls, spec: ExperimentSpec, *, cache_dir: PathLike | None = None) -> Experiment:
        """Build the systems of an experiment file over its dataset (index built or cached)."""
        from rankstack.experiment.stages import ExperimentContext, check_spec

        check_spec(spec)  # typos fail before any data is loaded or indexed
        ctx = ExperimentContext(spec, cache_dir=cache_dir)
        systems = {s.name: ctx.build(s) for s in spec.systems}
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
        )

    @classmethod
    def from_toml(cls, path: PathLike, *, cache_dir: PathLike | None = None) -> Experiment:
        return cls.from_spec(ExperimentSpec.from_toml(path), cache_dir=cache_dir)

    def run(self, *, console: Console | None = None) -> ExperimentResult:
        """Run every system on the queries, then evaluate and compare them."""
        runs: dict[str, Run] = {}
        seconds: dict[str, float] = {}
        for name, stage in self.systems.items():
            start = time.perf_counter()
            runs[name] = stage.transform(self.queries)
            seconds[name] = time.perf_counter() - start
            if console is not None:
                console.print(
                    f"[dim]ran[/] {name} [dim]({seconds[name]:.2f} s)[/]", highlight=False
                )
            logger.info("%s: %d queries in %.2f s", name, self.queries.__len__(), seconds[name])
        comparison = compare(
            runs,
            self.qrels,
            self.measures,
            self.baseline,
            tests=self.tests,
            alpha=self.alpha,
            rel=self.rel,
        )
        return ExperimentResult(self.name, runs, comparison, seconds, len(comparison.qids))
