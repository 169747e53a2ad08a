"""Examination propensities: the type, estimation from randomised interventions, export, plots.

Under the position-based model (PBM) a document at position ``k`` is clicked with probability
``p_k · γ(q, d)``: examined with the propensity ``p_k``, then clicked when relevant enough.
Only ratios ``p_k / p_1`` can be identified from clicks, so :class:`Propensities` holds
*relative* propensities, 1 at the first position.

Estimation from interventions
    Randomising the displayed order breaks the link between position and relevance, so the
    click rates of the *same* (query, doc) at two positions estimate the ratio of their
    propensities. The ``"swap"`` intervention (:func:`intervention_order`) swaps the first
    result with the one at a position ``k`` drawn uniformly per session (Joachims,
    Swaminathan and Schnabel 2017, "Unbiased learning-to-rank with biased feedback", WSDM,
    Section 5: the swap-1-k intervention); ``"randpair"`` swaps a random pair of positions
    (Wang, Golbandi, Bendersky, Metzler and Najork 2018, "Position bias estimation for
    unbiased learning to rank in personal search", WSDM: RandPair); ``"shuffle"`` shuffles
    the whole list (RandTop-n, Wang et al. 2016, SIGIR). Clicks on the new displays come
    from a click simulator (:func:`simulate_interventions`, :func:`iter_interventions`) or
    from users
    (:func:`intervene` gives the randomised displays of a log).

    :func:`estimate_from_interventions` then *harvests* the interventions (Agarwal, Zaitsev,
    Wang, Li, Najork and Joachims 2019, "Estimating position bias without intrusive
    interventions", WSDM, Section 4): for every pair of positions ``(a, b)`` and every
    (query, doc) shown at both, with ``n`` impressions and ``c`` clicks at each,

    .. math::  \\hat r_{ab} = \\frac{\\sum_{(q,d)} w \\, c_a / n_a}{\\sum_{(q,d)} w \\, c_b / n_b},
        \\qquad w = \\frac{n_a n_b}{n_a + n_b},

    a consistent estimate of ``p_a / p_b`` (both sums weight the same documents, so their
    relevance cancels; ``w`` does not depend on clicks, so it adds no bias). The log ratios are
    combined by weighted least squares, ``min Σ v_ab (x_a − x_b − log r̂_ab)²`` with ``x_1 = 0``
    and ``v_ab = 1 / (1/C_a + 1/C_b)`` (``C``: clicks behind each side, the inverse of the log
    ratio's delta-method variance), and ``p_k / p_1 = exp(x_k)``. On a swap-1-k log only the
    pairs ``(1, k)`` exist and this is the swap estimator of Joachims et al. (2017) using both
    swapped documents; on RandPair or shuffled logs every pair contributes. The same function
    harvests the natural interventions between several production rankers' logs.

Export and plots
    :meth:`Propensities.save` writes JSON (``.json``) or CSV (``.csv``) with the truth next to
    the estimate when known; :func:`plot_propensities` draws estimates against the truth with
    matplotlib (the ``report`` extra).
"""

from __future__ import annotations

import csv
import io
import json
import logging
import math
import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any, cast

import numpy as np

from rankstack._compat import require
from rankstack.data import ClickLog
from rankstack.data._columns import group_codes, row_group_index, take_str
from rankstack.exceptions import DataError, FormatError
from rankstack.io._files import atomic_write

logger = logging.getLogger(__name__)

PROPENSITY_FORMAT = "rankstack-propensities"
PROPENSITY_FORMAT_VERSION = 1


@dataclass(frozen=True, eq=False)
class Propensities:
    """Relative examination propensities ``p_k / p_1`` for positions ``k = 1..K``.

    Attributes
    ----------
    values : float64 ``[K]``, 1.0 first (NaN where a method could not estimate a position)
    method : how they were obtained (``"given"``, ``"true"``, ``"swap"``, ``"harvest"``,
        ``"dla"``, ``"rem"``...)
    truth : the true relative propensities (simulated logs), or None
    support : evidence behind each estimate (clicks involved), or None
    info : free-form details (estimator settings, counts)
    """

    values: np.ndarray
    method: str = "given"
    truth: np.ndarray | None = None
    support: np.ndarray | None = None
    info: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        v = self.values
        if v.ndim != 1 or len(v) == 0:
            raise DataError(f"Propensities: need one value per position, found shape {v.shape}")
        if self.truth is not None and self.truth.shape != v.shape:
            raise DataError(f"Propensities: {len(v)} estimates but {len(self.truth)} true values")

    # ------------------------------------------------------------------ construction
    @classmethod
    def from_values(
        cls,
        values: Sequence[float] | np.ndarray,
        *,
        method: str = "given",
        truth: Sequence[float] | np.ndarray | None = None,
        support: Sequence[float] | np.ndarray | None = None,
        info: Mapping[str, Any] | None = None,
    ) -> Propensities:
        """Propensities of any scale, normalised to 1 at the first position.

        Raises :class:`DataError` unless every value is a finite number > 0 (NaN is allowed
        after the first position: "not estimated").
        """
        v = _positive(values, "propensities", allow_nan=True)
        t = None if truth is None else _positive(truth, "true propensities")
        s = None if support is None else np.asarray(support, dtype=np.float64)
        return cls(v / v[0], method, None if t is None else t / t[0], s, dict(info or {}))

    @classmethod
    def pbm(cls, eta: float, k: int) -> Propensities:
        """The position-based model's ``(1 / rank)^eta`` (Joachims et al. 2017; Ai et al.
        2018), for ranks 1..k."""
        if not (isinstance(eta, (int, float)) and eta >= 0 and math.isfinite(eta)):
            raise DataError(f"eta must be a finite number >= 0, found {eta!r}")
        if k < 1:
            raise DataError(f"k must be >= 1, found {k}")
        v = (1.0 / np.arange(1, k + 1, dtype=np.float64)) ** float(eta)
        return cls(v, "true", v.copy(), info={"model": "pbm", "eta": float(eta)})

    def with_truth(self, truth: Sequence[float] | np.ndarray | Propensities) -> Propensities:
        """The same estimates with the true propensities attached (cut to the same length)."""
        t = truth.values if isinstance(truth, Propensities) else np.asarray(truth, float)
        if len(t) < len(self.values):
            raise DataError(f"the truth covers {len(t)} positions, the estimate {len(self.values)}")
        t = _positive(t[: len(self.values)], "true propensities")
        return Propensities(self.values, self.method, t / t[0], self.support, self.info)

    # ------------------------------------------------------------------ use
    def __len__(self) -> int:
        return len(self.values)

    def __repr__(self) -> str:
        shown = ", ".join(f"{v:.3f}" for v in self.values[:10])
        more = ", ..." if len(self.values) > 10 else ""
        return f"Propensities({self.method}: [{shown}{more}])"

    def weights(
        self, n_positions: int | None = None, max_weight: float | None = None
    ) -> np.ndarray:
        """Inverse propensity weights ``p_1 / p_k`` for the first ``n_positions`` positions,
        clipped at ``max_weight`` when given.

        Raises :class:`DataError` when fewer positions are known than asked for, or an
        estimate is missing (NaN).
        """
        k = len(self.values) if n_positions is None else int(n_positions)
        if k > len(self.values):
            raise DataError(
                f"the log shows up to {k} positions but propensities are known for "
                f"{len(self.values)}; give one propensity per position"
            )
        v = self.values[:k]
        if not np.isfinite(v).all() or (v <= 0).any():
            bad = [i + 1 for i in np.flatnonzero(~np.isfinite(v) | (v <= 0))]
            raise DataError(f"propensities are missing or not positive at position(s) {bad}")
        w = 1.0 / v
        if max_weight is not None:
            w = np.minimum(w, float(max_weight))
        return w

    def relative_error(self) -> np.ndarray:
        """``|estimate - truth| / truth`` per position (needs ``truth``)."""
        if self.truth is None:
            raise DataError("relative_error: the true propensities are unknown")
        return np.abs(self.values - self.truth) / self.truth

    # ------------------------------------------------------------------ export
    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: positions (1-based), estimates, truth and relative error when known."""
        out: dict[str, Any] = {
            "format": PROPENSITY_FORMAT,
            "version": PROPENSITY_FORMAT_VERSION,
            "method": self.method,
            "positions": list(range(1, len(self.values) + 1)),
            "propensities": [_num(v) for v in self.values],
        }
        if self.truth is not None:
            out["true"] = [float(v) for v in self.truth]
            out["relative_error"] = [_num(v) for v in self.relative_error()]
        if self.support is not None:
            out["support"] = [_num(v) for v in self.support]
        if self.info:
            out["info"] = dict(self.info)
        return out

    @classmethod
    def from_dict(cls, data: Mapping[str, Any], path: Path | None = None) -> Propensities:
        if data.get("format") != PROPENSITY_FORMAT:
            raise FormatError("not a rankstack propensities file", path)
        if data.get("version") != PROPENSITY_FORMAT_VERSION:
            raise FormatError(
                f"propensities format version {data.get('version')!r}, this rankstack reads "
                f"version {PROPENSITY_FORMAT_VERSION}",
                path,
            )
        try:
            values = np.array([np.nan if v is None else v for v in data["propensities"]], float)
            truth = data.get("true")
            support = data.get("support")
            return cls(
                values,
                str(data.get("method", "given")),
                None if truth is None else np.asarray(truth, dtype=np.float64),
                None
                if support is None
                else np.array([np.nan if v is None else v for v in support], float),
                dict(data.get("info") or {}),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise FormatError(f"malformed propensities ({exc})", path) from exc

    def save(self, path: str | os.PathLike[str]) -> Path:
        """Write atomically as JSON (``.json``) or CSV (``.csv``: position, propensity, true,
        relative_error, support)."""
        target = Path(path)
        if target.suffix.lower() == ".csv":
            text = self._csv()
        else:
            text = json.dumps(self.to_dict(), indent=2) + "\n"
        with atomic_write(target, "w") as fh:
            cast("IO[str]", fh).write(text)
        return target

    def _csv(self) -> str:
        buf = io.StringIO()
        writer = csv.writer(buf, lineterminator="\n")
        header = ["position", "propensity"]
        if self.truth is not None:
            header += ["true", "relative_error"]
        if self.support is not None:
            header.append("support")
        writer.writerow(header)
        err = self.relative_error() if self.truth is not None else None
        for i, v in enumerate(self.values):
            row: list[Any] = [i + 1, repr(float(v))]
            if self.truth is not None and err is not None:
                row += [repr(float(self.truth[i])), repr(float(err[i]))]
            if self.support is not None:
                row.append(repr(float(self.support[i])))
            writer.writerow(row)
        return buf.getvalue()

    @classmethod
    def load(cls, path: str | os.PathLike[str]) -> Propensities:
        """Read a file written by :meth:`save` (JSON or CSV), or a CSV/JSON list of values."""
        p = Path(path)
        if not p.is_file():
            raise FormatError("propensities file not found", p)
        text = p.read_text(encoding="utf-8")
        if p.suffix.lower() == ".csv":
            return cls._from_csv(text, p)
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise FormatError(f"not valid JSON ({exc})", p, exc.lineno) from exc
        if isinstance(data, list):
            return cls.from_values(data, method="given")
        if not isinstance(data, dict):
            raise FormatError("expected a JSON object or a list of numbers", p)
        return cls.from_dict(data, p)

    @classmethod
    def _from_csv(cls, text: str, path: Path) -> Propensities:
        rows = list(csv.reader(io.StringIO(text)))
        if not rows or "propensity" not in rows[0]:
            raise FormatError("expected a header with a 'propensity' column", path, 1)
        header = rows[0]
        cols: dict[str, list[float]] = {h: [] for h in header}
        for line, row in enumerate(rows[1:], start=2):
            if not row:
                continue
            if len(row) != len(header):
                raise FormatError(f"{len(row)} fields, the header has {len(header)}", path, line)
            for h, v in zip(header, row):
                try:
                    cols[h].append(float(v))
                except ValueError:
                    raise FormatError(f"{h}: {v!r} is not a number", path, line) from None
        truth = cols.get("true")
        return cls(
            np.asarray(cols["propensity"], dtype=np.float64),
            "given",
            None if truth is None else np.asarray(truth, dtype=np.float64),
            None if "support" not in cols else np.asarray(cols["support"], dtype=np.float64),
        )


def _num(v: float) -> float | None:
    """A float for JSON (NaN becomes null)."""
    return None if not math.isfinite(float(v)) else float(v)


def _positive(values: Any, what: str, *, allow_nan: bool = False) -> np.ndarray:
    try:
        v = np.asarray(values, dtype=np.float64).reshape(-1)
    except (TypeError, ValueError) as exc:
        raise DataError(f"{what}: expected numbers ({exc})") from None
    if len(v) == 0:
        raise DataError(f"{what}: no values")
    known = v if not allow_nan else v[~np.isnan(v)]
    if np.isnan(v[0]) or not np.isfinite(known).all() or (known <= 0).any():
        raise DataError(f"{what}: every value must be a finite number > 0, found {v.tolist()}")
    return v


# ---------------------------------------------------------------------------------- interventions
INTERVENTIONS = ("swap", "randpair", "shuffle")


def intervention_order(
    sizes: np.ndarray, kind: str, rng: np.random.Generator, k: int | None = None
) -> np.ndarray:
    """``[sessions, k]`` display order: slot ``j`` of session ``i`` shows the document the
    production ranking had at slot ``order[i, j]`` (slots past a list's size keep their own).

    ``kind``: ``"swap"`` swaps slot 0 with a slot drawn uniformly from ``0..n-1`` (0: no swap;
    Joachims et al. 2017); ``"randpair"`` swaps a uniformly drawn pair of distinct slots (Wang
    et al. 2018); ``"shuffle"`` permutes the list uniformly (RandTop-n, Wang et al. 2016).
    """
    sizes = np.asarray(sizes, dtype=np.int64)
    n = len(sizes)
    width = int(sizes.max()) if k is None and n else int(k or 0)
    order = np.broadcast_to(np.arange(width, dtype=np.int64), (n, width)).copy()
    if n == 0 or width == 0:
        return order
    rows = np.arange(n)
    if kind == "swap":
        j = np.floor(rng.random(n) * sizes).astype(np.int64)
        j = np.minimum(j, np.maximum(sizes - 1, 0))
        order[rows, 0] = j
        order[rows, j] = 0
    elif kind == "randpair":
        has = sizes >= 2
        a = np.floor(rng.random(n) * sizes).astype(np.int64)
        b = np.floor(rng.random(n) * np.maximum(sizes - 1, 1)).astype(np.int64)
        b += b >= a
        a, b, r = a[has], b[has], rows[has]
        order[r, a] = b
        order[r, b] = a
    elif kind == "shuffle":
        past = np.arange(width)[None, :] >= sizes[:, None]
        keys = np.where(past, 2.0 + np.arange(width)[None, :], rng.random((n, width)))
        order = np.argsort(keys, axis=1, kind="stable")
    else:
        raise DataError(f"intervention must be one of {list(INTERVENTIONS)}, found {kind!r}")
    return order


def intervene(log: ClickLog, kind: str = "swap", *, seed: int = 0) -> ClickLog:
    """The log's displays randomised by ``kind`` (see :func:`intervention_order`): the lists
    to show users next. Clicks are reset to 0 (they belonged to the old displays);
    ``display["logged_position"]`` keeps each document's 1-based position in ``log``."""
    sizes = log.sizes
    order = intervention_order(sizes, kind, np.random.default_rng(seed))
    width = order.shape[1]
    valid = np.arange(width)[None, :] < sizes[:, None]
    src = (log.offsets[:-1][:, None] + order)[valid]
    display = {name: v[src] for name, v in log.display.items()}
    display["logged_position"] = (order[valid] + 1).astype(np.int32)
    return ClickLog(
        session_qids=log.session_qids,
        offsets=log.offsets,
        docids=take_str(log.docids, src),
        clicks=np.zeros(log.n_impressions, dtype=np.uint8),
        dwell=None,
        display=display,
        metadata={**dict(log.metadata), "intervention": kind},
    )


def simulate_interventions(
    data: Any,
    kind: str = "swap",
    *,
    sessions: int = 100_000,
    seed: int = 0,
    chunk_sessions: int = 1 << 16,
    **simulator: Any,
) -> ClickLog:
    """Simulate a log whose displays are randomised by ``kind`` around the production top-k.

    ``simulator`` are the keyword arguments of
    :class:`~rankstack.ultr.simulate.ClickSimulator` (``click_model``, ``k``, ``eps_pos``,
    ``eps_neg``, ``production``...; ``click_model`` may be a name with ``eta=`` given here as
    well). Each session draws a query, randomises its displayed list with
    :func:`intervention_order` and draws clicks from the click model on the new order. The
    log's metadata is the simulator's (true propensities for PBM) plus ``intervention``.
    :func:`iter_interventions` yields the same sessions chunk by chunk.
    """
    chunks = list(
        iter_interventions(
            data, kind, sessions=sessions, seed=seed, chunk_sessions=chunk_sessions, **simulator
        )
    )
    if not chunks:
        raise DataError("simulate_interventions: sessions must be >= 1")
    return ClickLog.concat(chunks) if len(chunks) > 1 else chunks[0]


def intervention_simulator(data: Any, seed: int = 0, **simulator: Any) -> Any:
    """The :class:`~rankstack.ultr.simulate.ClickSimulator` behind
    :func:`simulate_interventions` (``click_model`` may be a name with ``eta=``)."""
    from rankstack.ultr.click_models import make_click_model
    from rankstack.ultr.simulate import ClickSimulator

    settings = dict(simulator)
    eta = settings.pop("eta", None)
    model = settings.pop("click_model", "pbm")
    if isinstance(model, str):
        model = make_click_model(model, **({} if eta is None else {"eta": eta}))
    return ClickSimulator(data, model, seed=seed, **settings)


def iter_interventions(
    data: Any,
    kind: str = "swap",
    *,
    sessions: int = 100_000,
    seed: int = 0,
    chunk_sessions: int = 1 << 16,
    simulator: Any = None,
    **settings: Any,
) -> Iterator[ClickLog]:
    """:func:`simulate_interventions` as chunks of ``chunk_sessions`` sessions (for streaming
    to disk; a given ``simulator`` is used as is, else one is built from ``settings``).
    Sessions are drawn in fixed blocks, so the log does not depend on ``chunk_sessions``."""
    sim = simulator if simulator is not None else intervention_simulator(data, seed, **settings)
    if kind not in INTERVENTIONS:
        raise DataError(f"intervention must be one of {list(INTERVENTIONS)}, found {kind!r}")
    if int(chunk_sessions) < 1:
        raise DataError(f"chunk_sessions must be >= 1, found {chunk_sessions!r}")
    meta = {**sim.metadata(sessions), "intervention": kind}
    pending: list[ClickLog] = []
    held = 0
    for block in _intervention_blocks(sim, kind, sessions, seed, meta, data.run.docids):
        pending.append(block)
        held += len(block)
        while held >= chunk_sessions:
            merged = ClickLog.concat(pending) if len(pending) > 1 else pending[0]
            yield merged.slice_sessions(0, chunk_sessions)
            rest = merged.slice_sessions(chunk_sessions, len(merged))
            pending, held = ([rest] if len(rest) else []), len(rest)
    if held:
        yield ClickLog.concat(pending) if len(pending) > 1 else pending[0]


#: sessions drawn per generator block (the log does not depend on the chunk size)
INTERVENTION_BLOCK = 1 << 16


def _intervention_blocks(
    sim: Any, kind: str, sessions: int, seed: int, meta: dict[str, Any], docids: Any
) -> Iterator[ClickLog]:
    """Blocks of :data:`INTERVENTION_BLOCK` sessions, block ``b`` drawn with
    ``default_rng([seed, 7919, b])``."""
    done = 0
    block = 0
    while done < sessions:
        rng = np.random.default_rng([seed, 7919, block])
        n = min(INTERVENTION_BLOCK, sessions - done)
        probs = sim.query_distribution()
        q = rng.choice(sim.n_queries, size=n, p=probs)
        sizes = sim.sizes[q]
        order = intervention_order(sizes, kind, rng, k=sim.k)
        attract = np.take_along_axis(sim.attract[q], order, axis=1)
        rows = np.take_along_axis(sim.rows[q], order, axis=1)
        mask = sim.mask[q]
        clicks = sim.model.sample(attract, mask, rng)
        yield ClickLog(
            session_qids=take_str(sim.qids, q),
            offsets=np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64),
            docids=take_str(docids, rows[mask]),
            clicks=np.asarray(clicks, dtype=np.uint8)[mask],
            display={"logged_position": (order[mask] + 1).astype(np.int32)},
            metadata=meta,
        )
        done += n
        block += 1


# ---------------------------------------------------------------------------------- estimation
def estimate_from_interventions(
    log: ClickLog,
    *,
    n_positions: int | None = None,
    method: str = "harvest",
    truth: Sequence[float] | np.ndarray | Propensities | None = None,
) -> Propensities:
    """Relative propensities from a log with randomised (or harvested) displays.

    See the module docstring for the estimator. Positions that no (query, doc) links to the
    first position, directly or through other positions, get NaN (with a warning).

    Parameters
    ----------
    log:
        Sessions whose displays vary for the same query (interventions, or several rankers).
    n_positions:
        Estimate positions 1..n (default: the longest list).
    method:
        Label stored in the result (``"swap"``, ``"randpair"``, ``"harvest"``).
    truth:
        True propensities to attach (e.g. ``log.metadata`` of a simulated log).

    Raises
    ------
    DataError
        When no document was shown at two positions (no intervention in the log).
    """
    if not isinstance(log, ClickLog):
        raise DataError(f"expected a ClickLog, found {type(log).__name__}")
    k = int(log.sizes.max()) if n_positions is None and len(log) else int(n_positions or 0)
    if k < 2:
        raise DataError("estimating propensities needs lists of at least 2 positions")
    pos = log.positions
    keep = pos < k
    session = row_group_index(log.offsets)[keep]
    _, qcode = group_codes(take_str(log.session_qids, session))
    _, dcode = group_codes(log.docids.filter(_arrow_mask(keep)))
    pair = qcode * (int(dcode.max()) + 1 if len(dcode) else 1) + dcode
    uniq, key = np.unique(pair, return_inverse=True)
    cell = key.reshape(-1) * k + pos[keep]
    shown = np.bincount(cell, minlength=len(uniq) * k).reshape(-1, k).astype(np.float64)
    clicks = np.bincount(cell, weights=log.clicks[keep], minlength=len(uniq) * k).reshape(-1, k)
    multi = (shown > 0).sum(axis=1) >= 2
    shown, clicks = shown[multi], clicks[multi]
    if len(shown) == 0:
        raise DataError(
            "no (query, doc) was shown at two different positions: the log has no "
            "interventions to estimate propensities from (simulate_interventions with "
            "kind='swap' or 'randpair', or logs of several rankers)"
        )
    ctr = np.divide(clicks, shown, out=np.zeros_like(clicks), where=shown > 0)
    pairs, logs, weights = [], [], []
    for a in range(k):
        for b in range(a + 1, k):
            both = (shown[:, a] > 0) & (shown[:, b] > 0)
            if not both.any():
                continue
            na, nb = shown[both, a], shown[both, b]
            w = na * nb / (na + nb)
            num, den = float((w * ctr[both, a]).sum()), float((w * ctr[both, b]).sum())
            ca, cb = float(clicks[both, a].sum()), float(clicks[both, b].sum())
            if num <= 0 or den <= 0:
                continue
            pairs.append((a, b))
            logs.append(math.log(num / den))
            weights.append(1.0 / (1.0 / ca + 1.0 / cb))
    values = _solve_log_ratios(k, pairs, np.asarray(logs), np.asarray(weights))
    support = np.zeros(k)
    for (a, b), w in zip(pairs, weights):
        support[a] += w
        support[b] += w
    info = {
        "estimator": "harvested pairwise ratios, weighted least squares (Agarwal et al. 2019)",
        "documents": int(multi.sum()),
        "position_pairs": len(pairs),
    }
    out = Propensities(values, method, None, support, info)
    return out.with_truth(truth) if truth is not None else out


def _solve_log_ratios(
    k: int, pairs: Sequence[tuple[int, int]], logs: np.ndarray, weights: np.ndarray
) -> np.ndarray:
    """``exp(x)`` minimising ``Σ v (x_a − x_b − l_ab)²`` with ``x_0 = 0``; NaN off the graph."""
    reach = _reachable(k, pairs)
    values = np.full(k, np.nan)
    values[0] = 1.0
    cols = [i for i in range(1, k) if reach[i]]
    if cols and len(pairs):
        index = {c: j for j, c in enumerate(cols)}
        design = np.zeros((len(pairs), len(cols)))
        for r, (a, b) in enumerate(pairs):
            if a in index:
                design[r, index[a]] = 1.0
            if b in index:
                design[r, index[b]] = -1.0
        sw = np.sqrt(weights)
        x, *_ = np.linalg.lstsq(design * sw[:, None], logs * sw, rcond=None)
        values[cols] = np.exp(x)
    missing = [i + 1 for i in range(k) if not reach[i]]
    if missing:
        logger.warning("no intervention links position(s) %s to position 1: left NaN", missing)
    return values


def _reachable(k: int, pairs: Sequence[tuple[int, int]]) -> np.ndarray:
    seen = np.zeros(k, dtype=bool)
    seen[0] = True
    changed = True
    while changed:
        changed = False
        for a, b in pairs:
            if seen[a] != seen[b]:
                seen[a] = seen[b] = True
                changed = True
    return seen


def _arrow_mask(mask: np.ndarray) -> Any:
    import pyarrow as pa

    return pa.array(mask)


# ---------------------------------------------------------------------------------- plots
def plot_propensities(
    estimates: Propensities | Mapping[str, Propensities],
    path: str | os.PathLike[str] | None = None,
    *,
    truth: Sequence[float] | np.ndarray | Propensities | None = None,
    title: str = "Examination propensity by position",
) -> Any:
    """Plot estimated relative propensities against the truth (matplotlib, ``report`` extra).

    ``estimates`` is one :class:`Propensities` or a mapping label -> estimate; the truth is
    ``truth`` or the first estimate's own. Saves to ``path`` (PNG, SVG, PDF by suffix) when
    given, atomically; returns the matplotlib figure.
    """
    require("matplotlib")
    from matplotlib.figure import Figure

    items = {estimates.method: estimates} if isinstance(estimates, Propensities) else estimates
    if not items:
        raise DataError("plot_propensities: nothing to plot")
    fig = Figure(figsize=(6.0, 4.0), dpi=120)
    ax = fig.add_subplot(1, 1, 1)
    true_values = None
    if truth is not None:
        true_values = truth.values if isinstance(truth, Propensities) else np.asarray(truth, float)
    else:
        true_values = next((p.truth for p in items.values() if p.truth is not None), None)
    if true_values is not None:
        pos = np.arange(1, len(true_values) + 1)
        ax.plot(pos, true_values / true_values[0], "k-", lw=2, label="true", zorder=1)
    markers = "osD^vP*X"
    for i, (label, p) in enumerate(items.items()):
        pos = np.arange(1, len(p.values) + 1)
        ax.plot(pos, p.values, marker=markers[i % len(markers)], ls="--", label=label, zorder=2)
    ax.set_xlabel("position")
    ax.set_ylabel("relative propensity $p_k / p_1$")
    ax.set_title(title)
    ax.set_ylim(bottom=0)
    ax.grid(alpha=0.3)
    ax.legend()
    fig.tight_layout()
    if path is not None:
        target = Path(path)
        fmt = target.suffix.lstrip(".").lower() or "png"
        with atomic_write(target, "wb") as fh:
            fig.savefig(fh, format=fmt)
    return fig


__all__ = [
    "INTERVENTIONS",
    "Propensities",
    "estimate_from_interventions",
    "intervene",
    "intervention_order",
    "intervention_simulator",
    "iter_interventions",
    "plot_propensities",
    "simulate_interventions",
]
