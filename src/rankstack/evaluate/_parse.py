"""Parse measure names: ir_measures' syntax, trec_eval's names, and a few common aliases.

Grammar (ir_measures): ``NAME [ "(" key=value {"," key=value} ")" ] [ "@" CUTOFF ]``, for
example ``nDCG@10``, ``AP(rel=2)``, ``P(rel=2,judged_only=True)@5``, ``IPrec@0.1``,
``nDCG(dcg='exp-log2')@10``. trec_eval's names map to the same measures: ``ndcg_cut_10`` (or
``ndcg_cut.10``) is ``nDCG@10``, ``map`` is ``AP``, ``P_5`` is ``P@5``, ``recip_rank`` is
``RR``, ``iprec_at_recall_0.10`` is ``IPrec@0.1``, and so on.
"""

from __future__ import annotations

import re

from rankstack.evaluate._measure import Measure
from rankstack.evaluate.measures import FAMILIES, Family
from rankstack.exceptions import MeasureError

_GENERAL = re.compile(
    r"^(?P<name>[A-Za-z][A-Za-z_\-]*)(?:\((?P<params>[^()]*)\))?(?:@(?P<at>[^@()]+))?$"
)
# trec_eval: base name, then "_" or "." and one parameter
_TREC_PARAM = re.compile(
    r"^(?P<base>ndcg_cut|map_cut|P|recall|success|iprec_at_recall)[._](?P<at>[0-9.]+)$"
)
_TREC_PLAIN = {
    "ndcg": "nDCG",
    "map": "AP",
    "recip_rank": "RR",
    "Rprec": "Rprec",
    "bpref": "Bpref",
    "num_ret": "NumRet",
    "num_rel": "NumRel",
    "num_rel_ret": "NumRelRet",
    "num_q": "NumQ",
}
_TREC_BASE = {
    "ndcg_cut": "nDCG",
    "map_cut": "AP",
    "P": "P",
    "recall": "R",
    "success": "Success",
    "iprec_at_recall": "IPrec",
}
# other spellings (ir_measures aliases, ranx and common lower-case names); matched ignoring case
_ALIASES = {
    "ndcg": "nDCG",
    "ap": "AP",
    "map": "AP",
    "rr": "RR",
    "mrr": "RR",
    "recip_rank": "RR",
    "p": "P",
    "precision": "P",
    "r": "R",
    "recall": "R",
    "rprec": "Rprec",
    "r-precision": "Rprec",
    "bpref": "Bpref",
    "success": "Success",
    "hit_rate": "Success",
    "iprec": "IPrec",
    "judged": "Judged",
    "numq": "NumQ",
    "numret": "NumRet",
    "numrelret": "NumRelRet",
    "numrel": "NumRel",
}
_TRUE = {"true", "1", "yes"}
_FALSE = {"false", "0", "no"}


def valid_names() -> str:
    """A one-line summary of the accepted names, for error messages and help."""
    parts = []
    for f in FAMILIES.values():
        if f.cutoff == "required":
            parts.append(f"{f.name}@k")
        elif f.cutoff == "optional":
            parts.append(f"{f.name}[@k]")
        elif f.cutoff == "recall":
            parts.append(f"{f.name}@r")
        else:
            parts.append(f.name)
    return (
        ", ".join(parts)
        + "; parameters as NAME(rel=2,judged_only=True)@k; trec_eval names (ndcg_cut_10, map,"
        " P_5, recall_100, recip_rank, bpref, num_ret...) are accepted too"
    )


def parse_measure(name: str | Measure) -> Measure:
    """Parse a measure name into a :class:`Measure`.

    Raises :class:`~rankstack.exceptions.MeasureError` naming the valid measures when the name
    is unknown or a parameter does not apply.

    Examples
    --------
    >>> str(parse_measure("ndcg_cut_10"))
    'nDCG@10'
    >>> str(parse_measure("P(rel=2)@5"))
    'P(rel=2)@5'
    """
    if isinstance(name, Measure):
        return name
    if not isinstance(name, str):
        raise MeasureError(f"a measure name must be a string, found {type(name).__name__}")
    text = "".join(name.split())
    m = _TREC_PARAM.match(text)
    if m:
        return _build(name, FAMILIES[_TREC_BASE[m["base"]]], m["at"], {})
    if text in _TREC_PLAIN:
        return _build(name, FAMILIES[_TREC_PLAIN[text]], None, {})
    m = _GENERAL.match(text)
    if not m:
        raise MeasureError(f"cannot parse measure {name!r}; valid measures: {valid_names()}")
    family = _family(m["name"], name)
    params = _params(m["params"], name)
    if family.name == "NumRet" and "rel" in params:  # ir_measures: NumRet(rel=N) is NumRelRet
        family = FAMILIES["NumRelRet"]
    return _build(name, family, m["at"], params)


def _family(word: str, original: str) -> Family:
    if word in FAMILIES:
        return FAMILIES[word]
    alias = _ALIASES.get(word.lower())
    if alias is None:
        raise MeasureError(f"unknown measure {original!r}; valid measures: {valid_names()}")
    return FAMILIES[alias]


def _params(text: str | None, original: str) -> dict[str, str]:
    out: dict[str, str] = {}
    if not text:
        return out
    for item in text.split(","):
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise MeasureError(
                f"measure {original!r}: parameters are written key=value, found {item!r}"
            )
        out[key] = value.strip("'\"")
    return out


def _build(original: str, family: Family, at: str | None, params: dict[str, str]) -> Measure:
    for key in params:
        if key not in family.params:
            accepted = ", ".join(sorted(family.params)) or "none"
            hint = " (custom gains are not supported)" if key == "gains" else ""
            raise MeasureError(
                f"measure {original!r}: {family.name} does not take the parameter {key!r}"
                f"{hint}; it accepts: {accepted}"
            )
    cutoff: int | None = None
    recall: float | None = None
    if at is None:
        if family.cutoff in ("required", "recall"):
            example = "IPrec@0.1" if family.cutoff == "recall" else f"{family.name}@10"
            raise MeasureError(
                f"measure {original!r}: {family.name} needs a cut-off, e.g. {example}"
            )
    elif family.cutoff == "none":
        raise MeasureError(f"measure {original!r}: {family.name} takes no cut-off")
    elif family.cutoff == "recall":
        try:
            recall = float(at)
        except ValueError:
            recall = -1.0
        if not 0.0 <= recall <= 1.0:
            raise MeasureError(
                f"measure {original!r}: the recall level must be a number in [0, 1], found {at!r}"
            )
    else:
        if not at.isdigit() or int(at) < 1:
            raise MeasureError(
                f"measure {original!r}: the cut-off must be a positive integer, found {at!r}"
            )
        cutoff = int(at)
    rel: int | None = None
    if "rel" in params:
        try:
            rel = int(params["rel"])
        except ValueError:
            rel = -1
        if rel < 0:
            raise MeasureError(
                f"measure {original!r}: rel must be an integer >= 0, found {params['rel']!r}"
            )
    judged_only = False
    if "judged_only" in params:
        flag = params["judged_only"].lower()
        if flag not in _TRUE | _FALSE:
            raise MeasureError(
                f"measure {original!r}: judged_only must be True or False, "
                f"found {params['judged_only']!r}"
            )
        judged_only = flag in _TRUE
    dcg = params.get("dcg", "log2")
    if dcg not in ("log2", "exp-log2"):
        raise MeasureError(f"measure {original!r}: dcg must be 'log2' or 'exp-log2', found {dcg!r}")
    return Measure(family.name, cutoff, recall, rel, judged_only, dcg)
