"""``compare``: several systems against a baseline, with paired tests and Holm correction.

All systems are evaluated over the same queries: the judged queries that at least one run
answers. A run that lacks one of them scores it as an empty ranking (0 for every measure,
trec_eval's ``-c``), and a warning says how many it lacks, so per-query values pair up.
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Qrels, Run
from rankstack.data._columns import concat_str
from rankstack.evaluate._evaluate import MeasureLike, PerQuery, evaluate_per_query, parse_measures
from rankstack.evaluate.significance import holm, paired_t_test, randomisation_pvalues
from rankstack.exceptions import DataError
from rankstack.io._files import PathLike, atomic_write

if TYPE_CHECKING:
    import pandas as pd
    from rich.table import Table

logger = logging.getLogger(__name__)

TESTS = {"t": "t", "ttest": "t", "t-test": "t", "randomisation": "randomisation"}
TESTS.update({"randomization": "randomisation", "permutation": "randomisation"})
TESTS.update({"rand": "randomisation", "perm": "randomisation"})
_LETTER = {"t": "t", "randomisation": "r"}
_LABEL = {"t": "p(t)", "randomisation": "p(rand)"}
CORRECTIONS = ("holm", "bonferroni", "none")


@dataclass(frozen=True)
class Comparison:
    """Means, p-values and significance of each system against the baseline.

    Attributes
    ----------
    systems : system names, the baseline first
    baseline : the baseline's name
    measures : canonical measure names
    qids : the queries every system was evaluated on
    per_query : system -> its :class:`PerQuery` over ``qids``
    means : system -> measure -> summary value
    pvalues : test -> system -> measure -> raw p-value (NaN for the baseline)
    corrected : the same, corrected across systems per measure and test
    missing : system -> number of ``qids`` it did not answer (scored as empty rankings)
    """

    systems: list[str]
    baseline: str
    measures: list[str]
    qids: list[str]
    per_query: dict[str, PerQuery]
    means: dict[str, dict[str, float]]
    pvalues: dict[str, dict[str, dict[str, float]]]
    corrected: dict[str, dict[str, dict[str, float]]]
    tests: tuple[str, ...] = ("t", "randomisation")
    correction: str = "holm"
    alpha: float = 0.05
    n_permutations: int = 10_000
    seed: int | None = 0
    missing: dict[str, int] = field(default_factory=dict)

    def significant(self, system: str, measure: str, test: str) -> bool:
        p = self.corrected[test][system][measure]
        return bool(p < self.alpha) if not math.isnan(p) else False

    def marker(self, system: str, measure: str) -> str:
        """``+`` (better) or ``-`` (worse than the baseline) followed by the letters of the tests
        that find the difference significant (``t``: t-test, ``r``: randomisation); empty when
        none does."""
        letters = "".join(_LETTER[t] for t in self.tests if self.significant(system, measure, t))
        if not letters:
            return ""
        better = self.means[system][measure] > self.means[self.baseline][measure]
        return ("+" if better else "-") + letters

    def _corr_label(self) -> str:
        return "" if self.correction == "none" else f" {self.correction}"

    def to_records(self) -> list[dict[str, Any]]:
        """One flat record per system: means, raw and corrected p-values, markers."""
        rows = []
        for s in self.systems:
            row: dict[str, Any] = {"system": s, "baseline": s == self.baseline}
            for m in self.measures:
                row[m] = self.means[s][m]
                for t in self.tests:
                    row[f"{m} {_LABEL[t]}"] = self.pvalues[t][s][m]
                    if self.correction != "none":
                        row[f"{m} {_LABEL[t]}{self._corr_label()}"] = self.corrected[t][s][m]
                row[f"{m} sig"] = self.marker(s, m)
            row["missing queries"] = self.missing.get(s, 0)
            rows.append(row)
        return rows

    def to_pandas(self) -> pd.DataFrame:
        """The records of :meth:`to_records` as a frame, one row per system."""
        from rankstack._compat import require

        return require("pandas").DataFrame(self.to_records())

    def to_csv(self, path: PathLike) -> None:
        """Write the records as CSV (atomically)."""
        rows = self.to_records()
        buf = io.StringIO()
        writer = csv.DictWriter(buf, fieldnames=list(rows[0]), lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: ("" if _isnan(v) else v) for k, v in row.items()})
        with atomic_write(path, "wb") as fh:
            fh.write(buf.getvalue().encode("utf-8"))  # type: ignore[arg-type]

    def to_json(self, *, indent: int | None = 2) -> str:
        """A JSON document with the settings, means, p-values and markers (NaN as null)."""
        doc = {
            "baseline": self.baseline,
            "systems": self.systems,
            "measures": self.measures,
            "n_queries": len(self.qids),
            "tests": list(self.tests),
            "correction": self.correction,
            "alpha": self.alpha,
            "n_permutations": self.n_permutations,
            "seed": self.seed,
            "missing_queries": self.missing,
            "means": self.means,
            "pvalues": self.pvalues,
            "corrected_pvalues": self.corrected,
            "markers": {s: {m: self.marker(s, m) for m in self.measures} for s in self.systems},
        }
        return json.dumps(_nan_to_none(doc), indent=indent)

    def to_rich_table(self) -> Table:
        """A rich table: one row per system, one column per measure. Each cell holds the mean
        with its marker and, beneath it, the (corrected) p-value of each test."""
        from rich.table import Table

        tests = ", ".join(
            f"{_LETTER[t]} = {'paired t-test' if t == 't' else 'randomisation'}" for t in self.tests
        )
        corr = (
            "uncorrected"
            if self.correction == "none"
            else f"{self.correction.capitalize()}-corrected"
        )
        table = Table(
            title=(
                f"{len(self.systems)} systems, {len(self.qids)} queries, baseline {self.baseline}"
            ),
            caption=(
                f"mean, then p-values {corr} across systems; +/- better/worse than the baseline "
                f"at alpha={self.alpha:g} ({tests}"
                + (f", {self.n_permutations} permutations" if "randomisation" in self.tests else "")
                + ")"
            ),
        )
        table.add_column("system")
        for m in self.measures:
            table.add_column(m, justify="right")
        for s in self.systems:
            cells = [s + (" (baseline)" if s == self.baseline else "")]
            for m in self.measures:
                mark = self.marker(s, m)
                text = _fmt(self.means[s][m]) + (f" {mark}" if mark else "")
                ps = [
                    f"{_LETTER[t]} {_fmt_p(self.corrected[t][s][m])}"
                    for t in self.tests
                    if not math.isnan(self.corrected[t][s][m])
                ]
                cells.append(text + ("\n[dim]" + " ".join(ps) + "[/]" if ps else ""))
            table.add_row(*cells)
        return table


def _fmt(v: float) -> str:
    return f"{v:.4f}" if not float(v).is_integer() or abs(v) < 1 else f"{int(v)}"


def _fmt_p(p: float) -> str:
    if math.isnan(p):
        return ""
    return f"{p:.4f}" if p >= 1e-4 else f"{p:.1e}"


def _isnan(v: Any) -> bool:
    return isinstance(v, float) and math.isnan(v)


def _nan_to_none(obj: Any) -> Any:
    if isinstance(obj, dict):
        return {k: _nan_to_none(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_nan_to_none(v) for v in obj]
    return None if _isnan(obj) else obj


def _tests(tests: str | Sequence[str]) -> tuple[str, ...]:
    items = [tests] if isinstance(tests, str) else list(tests)
    out: list[str] = []
    for t in items:
        key = TESTS.get(str(t).lower())
        if key is None:
            raise DataError(f"unknown test {t!r}; choose from 't', 'randomisation'")
        if key not in out:
            out.append(key)
    return tuple(out)


def compare(
    runs: Mapping[str, Run],
    qrels: Qrels,
    measures: MeasureLike | Iterable[MeasureLike],
    baseline: str,
    *,
    tests: str | Sequence[str] = ("t", "randomisation"),
    correction: str = "holm",
    alpha: float = 0.05,
    rel: int | None = None,
    n_permutations: int = 10_000,
    seed: int | None = 0,
) -> Comparison:
    """Compare systems with a baseline on paired per-query values.

    Parameters
    ----------
    runs:
        System name -> run. ``baseline`` must be one of the names.
    qrels, measures, rel:
        As for :func:`~rankstack.evaluate.evaluate`.
    tests:
        ``"t"`` (paired t-test) and/or ``"randomisation"`` (paired randomisation test with
        ``n_permutations`` random sign flips drawn with ``seed``).
    correction:
        ``"holm"`` (Holm-Bonferroni across the non-baseline systems, per measure and test),
        ``"bonferroni"`` or ``"none"``.
    alpha:
        Level at which a corrected p-value is marked significant.
    """
    if baseline not in runs:
        raise DataError(f"baseline {baseline!r} is not one of the runs {list(runs)}")
    if correction not in CORRECTIONS:
        raise DataError(f"unknown correction {correction!r}; choose from {list(CORRECTIONS)}")
    if not 0.0 < alpha < 1.0:
        raise DataError(f"alpha must be in (0, 1), found {alpha}")
    chosen = _tests(tests)
    parsed = parse_measures(measures)
    for name, r in runs.items():
        if not isinstance(r, Run):
            raise DataError(f"compare: run {name!r} is a {type(r).__name__}, expected a Run")
    systems = [baseline] + [s for s in runs if s != baseline]

    # the shared query set: judged queries that at least one run answers
    answered = pc.unique(concat_str([runs[s].qids for s in systems]))
    keep = pc.is_in(qrels.qids, value_set=answered.cast(qrels.qids.type))
    shared = qrels.select(qrels.qids.filter(keep))
    per_query: dict[str, PerQuery] = {}
    missing: dict[str, int] = {}
    for s in systems:
        pq = evaluate_per_query(runs[s], shared, parsed, rel=rel, complete=True)
        lacks = int(len(pq) - pc.sum(pc.is_in(pa.array(pq.qids), value_set=runs[s].qids)).as_py())
        missing[s] = lacks
        if lacks:
            logger.warning(
                "run %r lacks %d of the %d evaluated queries; they count as empty rankings (0)",
                s,
                lacks,
                len(pq),
            )
        per_query[s] = pq
    qids = per_query[baseline].qids
    names = [str(m) for m in parsed]
    means = {s: per_query[s].mean() for s in systems}

    others = systems[1:]
    pvalues: dict[str, dict[str, dict[str, float]]] = {}
    corrected: dict[str, dict[str, dict[str, float]]] = {}
    for t in chosen:
        pvalues[t] = {s: {} for s in systems}
        corrected[t] = {s: {} for s in systems}
        for m in names:
            base = per_query[baseline].values[m]
            diffs = (
                np.stack([per_query[s].values[m] - base for s in others], axis=1)
                if others
                else np.zeros((len(qids), 0))
            )
            if t == "t":
                raw = np.array([paired_t_test(per_query[s].values[m], base) for s in others])
            else:
                raw = randomisation_pvalues(diffs, n=n_permutations, seed=seed)
            if correction == "holm":
                adj = holm(raw)
            elif correction == "bonferroni":
                adj = np.minimum(1.0, raw * max(len(others), 1))
            else:
                adj = raw.copy()
            pvalues[t][baseline][m] = float("nan")
            corrected[t][baseline][m] = float("nan")
            for i, s in enumerate(others):
                pvalues[t][s][m] = float(raw[i])
                corrected[t][s][m] = float(adj[i])
    return Comparison(
        systems=systems,
        baseline=baseline,
        measures=names,
        qids=qids,
        per_query=per_query,
        means=means,
        pvalues=pvalues,
        corrected=corrected,
        tests=chosen,
        correction=correction,
        alpha=alpha,
        n_permutations=n_permutations,
        seed=seed,
        missing=missing,
    )
