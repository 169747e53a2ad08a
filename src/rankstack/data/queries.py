"""``Queries``: query ids with their text (and optional extra fields)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data._columns import as_str_array, take_str, to_str_list
from rankstack.exceptions import DataError, MissingFeaturesError

if TYPE_CHECKING:
    import pandas as pd


@dataclass(frozen=True, eq=False)
class Queries:
    """Query ids and texts, one row per query; ids are unique."""

    qids: pa.Array
    texts: pa.Array
    extra: Mapping[str, pa.Array] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if len(self.qids) != len(self.texts) or any(
            len(v) != len(self.qids) for v in self.extra.values()
        ):
            raise DataError("Queries: qids, texts and extra fields must have the same length")

    @classmethod
    def from_arrays(cls, qid: Any, text: Any, extra: Mapping[str, Any] | None = None) -> Queries:
        q = as_str_array(qid, "qid")
        t = as_str_array(text, "text")
        if len(q) != len(t):
            raise DataError(f"Queries: {len(q)} ids but {len(t)} texts")
        if len(pc.unique(q)) != len(q):
            counts = pc.value_counts(q)
            dup = [c["values"] for c in counts.to_pylist() if c["counts"] > 1][:3]
            raise DataError(f"Queries: query ids must be unique; repeated: {dup}")
        ex = {k: as_str_array(v, k) for k, v in (extra or {}).items()}
        return cls(q, t, ex)

    @classmethod
    def from_dict(cls, queries: Mapping[str, str]) -> Queries:
        return cls.from_arrays(list(queries.keys()), list(queries.values()))

    @classmethod
    def from_pandas(cls, df: pd.DataFrame) -> Queries:
        """From a frame with PyTerrier's columns ``qid`` and ``query``."""
        missing = [c for c in ("qid", "query") if c not in df.columns]
        if missing:
            raise MissingFeaturesError(
                f"Queries.from_pandas: the frame lacks column(s) {missing}; "
                f"it has {list(df.columns)}"
            )
        return cls.from_arrays(df["qid"].astype(str).to_numpy(), df["query"].astype(str).to_numpy())

    def __len__(self) -> int:
        return len(self.qids)

    def __repr__(self) -> str:
        return f"Queries({len(self)} queries)"

    def qid_list(self) -> list[str]:
        return to_str_list(self.qids)

    def text_list(self) -> list[str]:
        return to_str_list(self.texts)

    def to_dict(self) -> dict[str, str]:
        return dict(zip(self.qid_list(), self.text_list()))

    def select(self, qids: Sequence[str] | pa.Array, *, missing: str = "raise") -> Queries:
        """The given queries in the given order (``missing="drop"`` skips unknown ids)."""
        want = as_str_array(qids if isinstance(qids, pa.Array) else list(qids), "qid")
        pos = pc.fill_null(pc.index_in(want, value_set=self.qids), -1).to_numpy()
        if (pos < 0).any():
            if missing == "raise":
                absent = to_str_list(want.filter(pa.array(pos < 0)))[:5]
                raise DataError(f"unknown query ids (not among the {len(self)} queries): {absent}")
            pos = pos[pos >= 0]
        idx = pos.astype(np.int64)
        return Queries(
            take_str(self.qids, idx),
            take_str(self.texts, idx),
            {k: take_str(v, idx) for k, v in self.extra.items()},
        )

    def slice(self, start: int, stop: int) -> Queries:
        n = max(0, stop - start)
        return Queries(
            self.qids.slice(start, n),
            self.texts.slice(start, n),
            {k: v.slice(start, n) for k, v in self.extra.items()},
        )

    def texts_for(self, qids: pa.Array) -> pa.Array:
        """The text of each query id in ``qids`` (raises for unknown ids)."""
        return self.select(qids).texts

    def to_arrow(self) -> pa.Table:
        return pa.table({"qid": self.qids, "query": self.texts, **self.extra})

    def to_pandas(self) -> pd.DataFrame:
        from rankstack._compat import require

        require("pandas")
        return self.to_arrow().to_pandas()
