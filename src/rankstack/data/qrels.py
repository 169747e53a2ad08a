"""``Qrels``: graded relevance judgements, columnar and grouped by query."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa

from rankstack.data._columns import (
    as_str_array,
    check_unique_pairs,
    group_codes,
    offsets_from_sizes,
    row_group_index,
    take_str,
    to_str_list,
)
from rankstack.exceptions import DataError, MissingFeaturesError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class Qrels:
    """Relevance labels per (query, document); grades are integers and may be zero or negative.

    Rows are grouped by query (first-appearance order); ``offsets[i]:offsets[i+1]`` are the
    judgements of ``qids[i]``. Within a query rows keep their input order.
    """

    qids: pa.Array
    offsets: np.ndarray
    docids: pa.Array
    labels: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.docids)
        if (
            len(self.offsets) != len(self.qids) + 1
            or self.offsets[-1] != n
            or len(self.labels) != n
        ):
            raise DataError("Qrels: offsets, docids and labels are inconsistent")

    @classmethod
    def from_arrays(cls, qid: Any, docid: Any, label: Any, *, on_duplicate: str = "raise") -> Qrels:
        """Build from one entry per judgement.

        A (query, doc) judged twice raises :class:`DataError` (``on_duplicate="raise"``) or
        keeps the last judgement (``"last"``, trec_eval's behaviour is undefined here).
        """
        q = as_str_array(qid, "qid")
        d = as_str_array(docid, "docid")
        lab = np.asarray(label)
        if lab.dtype.kind == "f" and (
            not np.all(np.isfinite(lab)) or not np.array_equal(lab, np.round(lab))
        ):
            raise DataError("Qrels: relevance labels must be integers")
        try:
            labels = lab.astype(np.int32)
        except (TypeError, ValueError) as exc:
            raise DataError(f"Qrels: relevance labels must be integers ({exc})") from exc
        if not (len(q) == len(d) == len(labels)):
            raise DataError(
                f"Qrels: qid, docid and label lengths differ ({len(q)}, {len(d)}, {len(labels)})"
            )
        qids, codes = group_codes(q)
        dups = check_unique_pairs(codes, d, "qrels")
        keep = np.arange(len(d))
        if dups is not None:
            if on_duplicate == "raise":
                r = int(dups[0])
                raise DataError(
                    f"Qrels: document {d[r].as_py()!r} is judged more than once for query "
                    f"{q[r].as_py()!r} (row {r})"
                )
            # keep the last judgement of each pair
            _, dcodes = group_codes(d)
            key = codes * (int(dcodes.max()) + 1) + dcodes
            rev = key[::-1]
            _, first_in_rev = np.unique(rev, return_index=True)
            keep = np.sort(len(key) - 1 - first_in_rev)
            codes = codes[keep]
        order = keep[np.argsort(codes, kind="stable")]
        sizes = np.bincount(codes, minlength=len(qids))
        return cls(qids, offsets_from_sizes(sizes), take_str(d, order), labels[order])

    @classmethod
    def from_dict(cls, qrels: Mapping[str, Mapping[str, int]]) -> Qrels:
        """From pytrec_eval's ``{qid: {docid: grade}}`` (for interop; not a hot path)."""
        qs, ds, ls = [], [], []
        for q, docs in qrels.items():
            for d, lab in docs.items():
                qs.append(q)
                ds.append(d)
                ls.append(int(lab))
        return cls.from_arrays(qs, ds, np.asarray(ls, dtype=np.int32))

    @classmethod
    def from_pandas(cls, df: pd.DataFrame) -> Qrels:
        """From a frame with columns ``qid``, ``docno`` and ``label`` (PyTerrier's names)."""
        missing = [c for c in ("qid", "docno", "label") if c not in df.columns]
        if missing:
            raise MissingFeaturesError(
                f"Qrels.from_pandas: the frame lacks column(s) {missing}; it has {list(df.columns)}"
            )
        return cls.from_arrays(
            df["qid"].astype(str).to_numpy(), df["docno"].astype(str).to_numpy(), df["label"]
        )

    def __len__(self) -> int:
        return len(self.docids)

    @property
    def n_queries(self) -> int:
        return len(self.qids)

    @property
    def sizes(self) -> np.ndarray:
        return np.diff(self.offsets)

    @property
    def query_index(self) -> np.ndarray:
        return row_group_index(self.offsets)

    def qid_list(self) -> list[str]:
        return to_str_list(self.qids)

    def qid_column(self) -> pa.Array:
        return take_str(self.qids, self.query_index)

    def __repr__(self) -> str:
        return f"Qrels({self.n_queries} queries, {len(self)} judgements)"

    def select(self, qids: Any) -> Qrels:
        """Only the judgements of the given queries (order of ``self`` kept)."""
        import pyarrow.compute as pc

        want = as_str_array(qids if isinstance(qids, pa.Array) else list(qids), "qid")
        keep_q = pc.is_in(self.qids, value_set=want).to_numpy(zero_copy_only=False)
        rows = np.flatnonzero(np.repeat(keep_q, self.sizes))
        return Qrels(
            self.qids.filter(pa.array(keep_q)),
            offsets_from_sizes(self.sizes[keep_q]),
            take_str(self.docids, rows),
            self.labels[rows],
        )

    def to_dict(self) -> dict[str, dict[str, int]]:
        """pytrec_eval's ``{qid: {docid: grade}}`` (for interop and tests; not a hot path)."""
        out: dict[str, dict[str, int]] = {}
        docs = to_str_list(self.docids)
        labels = self.labels.tolist()
        for i, q in enumerate(self.qid_list()):
            lo, hi = int(self.offsets[i]), int(self.offsets[i + 1])
            out[q] = dict(zip(docs[lo:hi], labels[lo:hi]))
        return out

    def to_arrow(self) -> pa.Table:
        return pa.table(
            {"qid": self.qid_column(), "docno": self.docids, "label": pa.array(self.labels)}
        )

    def to_pandas(self) -> pd.DataFrame:
        from rankstack._compat import require

        require("pandas")
        return self.to_arrow().to_pandas()
