"""``Measure``: one evaluation measure with its parameters, printed in ir_measures' syntax."""

from __future__ import annotations

from dataclasses import dataclass, replace


@dataclass(frozen=True)
class Measure:
    """A parsed measure such as ``nDCG@10``, ``AP(rel=2)`` or ``IPrec@0.1``.

    Build one with :func:`rankstack.evaluate.parse_measure`. ``str(measure)`` is the canonical
    name (ir_measures' syntax), used as the key of every result.

    Attributes
    ----------
    name : family name (``"nDCG"``, ``"AP"``, ``"P"``...)
    cutoff : rank cut-off ``k`` of ``@k``, or None
    recall : recall level of ``IPrec@r``, or None
    rel : minimum grade that counts as relevant; None means the evaluation's default
        (``rel=`` of :func:`~rankstack.evaluate.evaluate`, trec_eval's ``-l``, 1 by default)
    judged_only : drop retrieved documents without a judgement before ranking (trec_eval ``-J``)
    dcg : ``"log2"`` (trec_eval: gain = grade) or ``"exp-log2"`` (gain = 2**grade - 1)
    """

    name: str
    cutoff: int | None = None
    recall: float | None = None
    rel: int | None = None
    judged_only: bool = False
    dcg: str = "log2"

    def __str__(self) -> str:
        params = []
        if self.rel is not None:
            params.append(f"rel={self.rel}")
        if self.judged_only:
            params.append("judged_only=True")
        if self.dcg != "log2":
            params.append(f"dcg='{self.dcg}'")
        out = self.name + (f"({','.join(params)})" if params else "")
        if self.cutoff is not None:
            out += f"@{self.cutoff}"
        elif self.recall is not None:
            out += f"@{self.recall!r}"
        return out

    def resolve_rel(self, default: int) -> int:
        """The relevance threshold in force: the measure's own ``rel``, else ``default``."""
        return default if self.rel is None else self.rel

    def with_rel(self, rel: int | None) -> Measure:
        return replace(self, rel=rel)
