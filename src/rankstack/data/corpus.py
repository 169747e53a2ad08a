"""``Corpus``: documents as a doc-id column plus named text fields."""

from __future__ import annotations

from collections.abc import Iterator, Mapping, Sequence
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
class Corpus:
    """Documents: unique ``docids`` and one or more text ``fields`` (e.g. ``title``, ``text``).

    ``text_field`` names the main body. :meth:`contents` joins fields into one string per
    document, which is what a single-field ("flat") index sees.
    """

    docids: pa.Array
    fields: Mapping[str, pa.Array]
    text_field: str = "text"
    metadata: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.text_field not in self.fields:
            raise DataError(
                f"Corpus: the main field {self.text_field!r} is not among {list(self.fields)}"
            )
        for name, col in self.fields.items():
            if len(col) != len(self.docids):
                raise DataError(
                    f"Corpus: field {name!r} has {len(col)} values for {len(self.docids)} docs"
                )

    @classmethod
    def from_arrays(
        cls,
        docid: Any,
        text: Any = None,
        *,
        fields: Mapping[str, Any] | None = None,
        text_field: str = "text",
        check_unique: bool = True,
    ) -> Corpus:
        """Build from a doc-id column and either ``text`` or named ``fields``.

        Missing field values (None) become empty strings.
        """
        d = as_str_array(docid, "docid")
        cols: dict[str, pa.Array] = {}
        if fields:
            for k, v in fields.items():
                arr = v if isinstance(v, (pa.Array, pa.ChunkedArray)) else pa.array(v, pa.string())
                if isinstance(arr, pa.ChunkedArray):
                    arr = arr.combine_chunks()
                if arr.null_count:
                    arr = pc.fill_null(arr, "")
                cols[k] = arr
        if text is not None:
            cols[text_field] = as_str_array(text, text_field)
        if not cols:
            raise DataError("Corpus: give a text column or named fields")
        if text_field not in cols:
            text_field = next(iter(cols))
        if check_unique and len(pc.unique(d)) != len(d):
            counts = pc.value_counts(d).to_pylist()
            dup = [c["values"] for c in counts if c["counts"] > 1][:3]
            raise DataError(f"Corpus: doc ids must be unique; repeated: {dup}")
        return cls(d, cols, text_field)

    @classmethod
    def from_pandas(cls, df: pd.DataFrame) -> Corpus:
        """From a frame with ``docno`` and ``text`` (PyTerrier), plus any other string fields."""
        if "docno" not in df.columns:
            raise MissingFeaturesError(
                f"Corpus.from_pandas: the frame lacks 'docno'; it has {list(df.columns)}"
            )
        fields = {
            c: df[c].astype(str).to_numpy()
            for c in df.columns
            if c != "docno" and (df[c].dtype == object or str(df[c].dtype).startswith("str"))
        }
        return cls.from_arrays(df["docno"].astype(str).to_numpy(), fields=fields)

    def __len__(self) -> int:
        return len(self.docids)

    def __repr__(self) -> str:
        return f"Corpus({len(self)} docs, fields={list(self.fields)})"

    @property
    def field_names(self) -> list[str]:
        return list(self.fields)

    def field(self, name: str) -> pa.Array:
        if name not in self.fields:
            raise MissingFeaturesError(
                f"the corpus has no field {name!r}; it has {list(self.fields)}"
            )
        return self.fields[name]

    def contents(self, fields: Sequence[str] | None = None, sep: str = " ") -> pa.Array:
        """One string per document: the given fields (default: all, title first) joined."""
        names = list(fields) if fields is not None else self._default_order()
        cols = [self.field(n) for n in names]
        if len(cols) == 1:
            return cols[0]
        joined = pc.binary_join_element_wise(*cols, sep)
        # a missing leading field leaves a leading separator: strip it as Pyserini does
        return pc.utf8_trim_whitespace(joined)

    def _default_order(self) -> list[str]:
        names = list(self.fields)
        if "title" in names:
            names.remove("title")
            names.insert(0, "title")
        return names

    def take(self, idx: np.ndarray) -> Corpus:
        return Corpus(
            take_str(self.docids, idx),
            {k: take_str(v, idx) for k, v in self.fields.items()},
            self.text_field,
            self.metadata,
        )

    def slice(self, start: int, stop: int) -> Corpus:
        n = max(0, stop - start)
        return Corpus(
            self.docids.slice(start, n),
            {k: v.slice(start, n) for k, v in self.fields.items()},
            self.text_field,
            self.metadata,
        )

    def batches(self, size: int) -> Iterator[Corpus]:
        for start in range(0, len(self), size):
            yield self.slice(start, start + size)

    def docid_list(self) -> list[str]:
        return to_str_list(self.docids)

    def to_arrow(self) -> pa.Table:
        return pa.table({"docno": self.docids, **self.fields})

    def to_pandas(self) -> pd.DataFrame:
        from rankstack._compat import require

        require("pandas")
        return self.to_arrow().to_pandas()
