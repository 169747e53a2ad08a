"""LETOR / SVMlight ranking files and plain LibSVM with a LightGBM ``.query`` group file.

One line per (query, document)::

    2 qid:10032 1:0.056537 ... 46:0.076923 #docid = GX029-35-5894638 inc = 1 prob = 0.0246
    0 10:0.89 11:0.75 17:0.45                      (LibSVM: no qid; group sizes in FILE.query)

Format as in Joachims' SVMlight (``<target> qid:<qid> <index>:<value> ... # <info>``) and
LETOR 4.0 (Qin & Liu, "Introducing LETOR 4.0 Datasets", arXiv:1306.2597, 2013). Indices are
1-based and may be sparse (missing features are 0). The comment after ``#`` is ignored except
for ``docid = X``.

Doc ids: taken from the ``docid = X`` comment; a line without one gets ``"{qid}-{k}"`` with
``k`` the line's 0-based position among its query's lines in file order, so ids are stable for
a given file. Query ids of LibSVM files with a group file are ``"1"``, ``"2"``... in group
order.

The whole file is parsed with Arrow compute (comment split, whitespace split, ``index:value``
split, casts) and numpy scatter into the dense float32 matrix; there is no loop over lines.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from rankstack.data import Qrels, Run
from rankstack.data._columns import (
    group_codes,
    offsets_from_sizes,
    rank_desc_within_ties,
    take_str,
)
from rankstack.exceptions import DataError, FormatError
from rankstack.io._checks import check_finite, check_unique_pairs, parse_numbers
from rankstack.io._files import PathLike, read_bytes
from rankstack.io._lines import blank_mask, split_lines
from rankstack.io._text import float_text, int_text, join_lines, write_lines

logger = logging.getLogger(__name__)

_DOCID_RE = r"(?:^|\s)docid\s*=\s*(?P<docid>\S+)"


@dataclass(frozen=True, eq=False)
class LetorData:
    """A learning-to-rank set: a run carrying the feature matrix, and one label per row.

    ``run`` has scores 0 and rows in :class:`~rankstack.data.Run` order (per query by doc id
    descending, as ``Run.from_arrays`` orders equal scores); ``labels[i]`` is the graded
    relevance of ``run`` row ``i``.
    """

    run: Run
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.run.features is None:
            raise DataError("LetorData: the run must carry a feature matrix")
        if self.labels.shape != (len(self.run),):
            raise DataError(
                f"LetorData: {len(self.run)} rows but labels of shape {self.labels.shape}"
            )

    def __len__(self) -> int:
        return len(self.run)

    def __repr__(self) -> str:
        return (
            f"LetorData({self.run.n_queries} queries, {len(self)} rows, {self.n_features} features)"
        )

    @property
    def features(self) -> np.ndarray:
        """The float32 feature matrix, one row per run row."""
        feats = self.run.features
        if feats is None:  # pragma: no cover - excluded by __post_init__
            raise DataError("LetorData: the run carries no features")
        return feats

    @property
    def n_features(self) -> int:
        return len(self.run.feature_names)

    @property
    def group_sizes(self) -> np.ndarray:
        """Rows per query, in run order (LightGBM's ``group``)."""
        return self.run.sizes

    @property
    def qrels(self) -> Qrels:
        """The labels as qrels (every row is judged; label 0 is judged non-relevant)."""
        return Qrels.from_arrays(self.run.qid_column(), self.run.docids, self.labels)


def read_letor(
    path: PathLike,
    *,
    group_file: PathLike | None = None,
    n_features: int | None = None,
    feature_names: Sequence[str] | None = None,
    allow_interleaved: bool = False,
) -> LetorData:
    """Read an SVMlight/LETOR ranking file (gzip/bz2/xz/zip transparent).

    Parameters
    ----------
    path:
        The file. Lines without ``qid:`` need group sizes: ``group_file``, or LightGBM's
        convention ``PATH.query`` next to the file.
    group_file:
        One positive integer per line: the number of consecutive lines of each query.
    n_features:
        Width of the feature matrix (default: the largest index in the file). An index above
        it raises :class:`FormatError`.
    feature_names:
        Names of the feature columns (default ``"1"`` .. ``"F"``, the file's indices).
    allow_interleaved:
        A query's lines must be consecutive; a qid that appears again after another query
        raises :class:`FormatError` naming both lines, unless this is true, in which case the
        lines are grouped by qid.

    Raises
    ------
    FormatError
        For a non-numeric or non-integer label, a malformed ``index:value``, an index below 1,
        an index given twice on a line, a NaN or infinite value, lines mixing qid and no qid,
        interleaved queries, or a doc id listed twice for a query; each names the line.
    """
    data = read_bytes(path)
    lines = split_lines(data, path)
    keep = ~blank_mask(lines) if len(lines) else np.zeros(0, dtype=bool)
    body, comment = _split_comments(lines)
    keep &= pc.greater(pc.utf8_length(body), 0).to_numpy(zero_copy_only=False)
    rows = np.flatnonzero(keep)
    line_no = rows + 1
    if len(rows) == 0:
        logger.warning("%s: no LETOR lines (empty file)", path)
        return _empty(n_features, feature_names)
    take = pa.array(rows)
    body, comment = body.take(take), comment.take(take)
    tokens = pc.ascii_split_whitespace(body)
    labels = _labels(pc.list_element(tokens, 0), line_no, path)
    flat = pc.list_flatten(tokens)
    parent = pc.list_parent_indices(tokens).to_numpy(zero_copy_only=False)
    bounds = np.asarray(tokens.offsets) - int(tokens.offsets[0].as_py())
    starts, n_tokens = bounds[:-1], np.diff(bounds)
    position = np.arange(len(flat)) - starts[parent]
    qid, first_feature = _qids(flat, starts, n_tokens, line_no, path, group_file)
    is_feat = position >= first_feature
    feat_rows = parent[is_feat]
    features, names = _features(
        flat.filter(pa.array(is_feat)), feat_rows, line_no, len(rows), path, n_features
    )
    if feature_names is not None:
        if len(feature_names) != features.shape[1]:
            raise DataError(
                f"read_letor: {len(feature_names)} feature names for {features.shape[1]} features"
            )
        names = tuple(feature_names)
    if qid is None:
        qid = _qids_from_groups(path, group_file, len(rows))
    uniq, codes = group_codes(qid)
    if not allow_interleaved:
        _check_contiguous(codes, uniq, line_no, path)
    docids = _docids(comment, qid, codes)
    check_unique_pairs(qid, docids, line_no, path, "a document appears once per query")
    scores = np.zeros(len(rows), dtype=np.float64)
    order = rank_desc_within_ties(docids, codes, scores)
    run = Run(
        qids=uniq,
        offsets=offsets_from_sizes(np.bincount(codes, minlength=len(uniq))),
        docids=take_str(docids, order),
        scores=scores,
        features=features[order],
        feature_names=names,
        metadata={"source": str(path)},
    )
    return LetorData(run, labels[order])


def _split_comments(lines: pa.Array) -> tuple[pa.Array, pa.Array]:
    """Each line's data part (trimmed) and its comment after the first ``#`` (null if none)."""
    parts = pc.split_pattern(lines, "#", max_splits=1)
    bounds = np.asarray(parts.offsets) - int(parts.offsets[0].as_py())
    flat = pc.list_flatten(parts)
    has = np.diff(bounds) == 2
    body = pc.utf8_trim_whitespace(flat.take(pa.array(bounds[:-1])))
    comment = flat.take(pa.array(bounds[:-1] + 1, mask=~has))
    return body, comment


def _empty(n_features: int | None, names: Sequence[str] | None) -> LetorData:
    f = n_features or (len(names) if names is not None else 0)
    feats = np.zeros((0, f), dtype=np.float32)
    run = Run.empty().with_features(feats, names or [str(i + 1) for i in range(f)])
    return LetorData(run, np.zeros(0, dtype=np.int32))


def _labels(texts: pa.Array, line_no: np.ndarray, path: PathLike) -> np.ndarray:
    values = parse_numbers(texts, line_no, path, "relevance label (first column)")
    check_finite(values, line_no, path, "relevance label")
    frac = values != np.round(values)
    if frac.any():
        row = int(np.flatnonzero(frac)[0])
        raise FormatError(
            f"expected an integer relevance label, found {texts[row].as_py()!r}",
            path,
            int(line_no[row]),
        )
    too_big = np.abs(values) > np.iinfo(np.int32).max
    if too_big.any():
        row = int(np.flatnonzero(too_big)[0])
        raise FormatError(f"relevance label {values[row]} is out of range", path, int(line_no[row]))
    return values.astype(np.int32)


def _qids(
    flat: pa.Array,
    starts: np.ndarray,
    n_tokens: np.ndarray,
    line_no: np.ndarray,
    path: PathLike,
    group_file: PathLike | None,
) -> tuple[pa.Array | None, int]:
    """The qid of each line (None for LibSVM lines) and the position of the first feature."""
    second = flat.take(pa.array(starts + 1, mask=n_tokens < 2))
    has = pc.fill_null(pc.starts_with(second, "qid:"), False).to_numpy(zero_copy_only=False)
    if not has.any():
        return None, 1
    if not has.all():
        row = int(np.flatnonzero(~has)[0])
        raise FormatError(
            "expected 'label qid:Q index:value ...' as on the other lines, found no qid:",
            path,
            int(line_no[row]),
        )
    qid = pc.utf8_slice_codeunits(second, 4)
    empty = pc.equal(pc.utf8_length(qid), 0).to_numpy(zero_copy_only=False)
    if empty.any():
        row = int(np.flatnonzero(empty)[0])
        raise FormatError("the query id after 'qid:' is empty", path, int(line_no[row]))
    if pc.any(pc.match_substring(qid, ":")).as_py():
        row = int(np.flatnonzero(pc.match_substring(qid, ":").to_numpy(zero_copy_only=False))[0])
        raise FormatError(f"malformed qid token {second[row].as_py()!r}", path, int(line_no[row]))
    if group_file is not None:
        logger.info("%s: the lines carry qid:, the group file %s is ignored", path, group_file)
    return qid, 2


def _features(
    pairs: pa.Array,
    rows: np.ndarray,
    line_no: np.ndarray,
    n_rows: int,
    path: PathLike,
    n_features: int | None,
) -> tuple[np.ndarray, tuple[str, ...]]:
    """Scatter ``index:value`` tokens into a dense float32 matrix."""
    split = pc.split_pattern(pairs, ":", max_splits=1)
    ok = pc.equal(pc.list_value_length(split), 2).to_numpy(zero_copy_only=False)
    if len(ok) and not ok.all():
        bad = int(np.flatnonzero(~ok)[0])
        raise FormatError(
            f"expected 'index:value', found {pairs[bad].as_py()!r}", path, int(line_no[rows[bad]])
        )
    flat = pc.list_flatten(split)
    n = len(pairs)
    feat_lines = line_no[rows]
    try:  # one cast for indices and values together: [i0, v0, i1, v1, ...]
        both = pc.cast(flat, pa.float64()).to_numpy(zero_copy_only=False)
        index_f, values = both[0::2], both[1::2]
        if n and not (np.isfinite(index_f).all() and (index_f == np.round(index_f)).all()):
            raise ValueError("non-integer index")
        index = index_f.astype(np.int64)
    except (pa.ArrowInvalid, ValueError):
        idx_text = flat.take(pa.array(np.arange(n, dtype=np.int64) * 2))
        val_text = flat.take(pa.array(np.arange(n, dtype=np.int64) * 2 + 1))
        index = parse_numbers(idx_text, feat_lines, path, "feature index", integer=True)
        values = parse_numbers(val_text, feat_lines, path, "feature value")
    check_finite(values, feat_lines, path, "feature value")
    if n and index.min() < 1:
        bad = int(np.flatnonzero(index < 1)[0])
        raise FormatError(
            f"feature indices start at 1, found {index[bad]} in {pairs[bad].as_py()!r}",
            path,
            int(feat_lines[bad]),
        )
    width = int(index.max()) if n else 0
    if n_features is not None:
        if width > n_features:
            bad = int(np.flatnonzero(index > n_features)[0])
            raise FormatError(
                f"feature index {index[bad]} is above n_features={n_features}",
                path,
                int(feat_lines[bad]),
            )
        width = n_features
    if width > 1_000_000 or n_rows * width > 2_000_000_000:
        raise FormatError(
            f"feature index {width} would need a {n_rows} x {width} dense matrix; "
            "is the file sparse text features (not a LETOR file)?",
            path,
        )
    key = rows.astype(np.int64) * (width + 1) + index
    if n:
        order = np.argsort(key, kind="stable")
        dup = np.flatnonzero(key[order][1:] == key[order][:-1])
        if len(dup):
            bad = int(order[dup[0] + 1])
            raise FormatError(
                f"feature index {index[bad]} is given twice on the line",
                path,
                int(feat_lines[bad]),
            )
    matrix = np.zeros((n_rows, width), dtype=np.float32)
    matrix[rows, index - 1] = values
    return matrix, tuple(str(i + 1) for i in range(width))


def _group_path(path: PathLike, group_file: PathLike | None) -> Path | None:
    if group_file is not None:
        return Path(group_file)
    p = Path(path)
    candidates = [p.with_name(p.name + ".query")]
    if p.suffix in (".gz", ".bz2", ".xz"):
        candidates.append(p.with_name(p.stem + ".query"))
    return next((c for c in candidates if c.is_file()), None)


def _qids_from_groups(path: PathLike, group_file: PathLike | None, n_rows: int) -> pa.Array:
    gpath = _group_path(path, group_file)
    if gpath is None:
        raise FormatError(
            "the lines have no 'qid:' and no group file was found; pass group_file= or put "
            f"the group sizes (one per line) in {path}.query (LightGBM's convention)",
            path,
        )
    sizes = read_group_sizes(gpath)
    if int(sizes.sum()) != n_rows:
        raise FormatError(
            f"the group sizes add up to {int(sizes.sum())} but {path} has {n_rows} lines",
            gpath,
        )
    names = pc.cast(pa.array(np.arange(1, len(sizes) + 1)), pa.string())
    return take_str(names, np.repeat(np.arange(len(sizes)), sizes))


def read_group_sizes(path: PathLike) -> np.ndarray:
    """A LightGBM ``.query`` file: one positive integer per line (rows of each query)."""
    data = read_bytes(path)
    lines = split_lines(data, path)
    keep = ~blank_mask(lines) if len(lines) else np.zeros(0, dtype=bool)
    line_no = np.flatnonzero(keep) + 1
    texts = pc.utf8_trim_whitespace(lines.filter(pa.array(keep)))
    sizes = parse_numbers(texts, line_no, path, "group size", integer=True)
    if len(sizes) and sizes.min() < 1:
        row = int(np.flatnonzero(sizes < 1)[0])
        raise FormatError(f"group sizes must be >= 1, found {sizes[row]}", path, int(line_no[row]))
    return sizes.astype(np.int64)


def _check_contiguous(
    codes: np.ndarray, uniq: pa.Array, line_no: np.ndarray, path: PathLike
) -> None:
    """Each query's lines together; else name the line where a query comes back."""
    if len(codes) < 2:
        return
    starts = np.concatenate([[0], np.flatnonzero(codes[1:] != codes[:-1]) + 1])
    if len(starts) == len(uniq):
        return
    run_codes = codes[starts]
    _, first_run = np.unique(run_codes, return_index=True)
    again = np.flatnonzero(first_run[run_codes] != np.arange(len(run_codes)))
    start = int(starts[again[0]])
    code = codes[start]
    previous = int(np.flatnonzero(codes[:start] == code)[-1])
    raise FormatError(
        f"query {uniq[int(code)].as_py()!r} appears again after other queries (its previous "
        f"line is {int(line_no[previous])}); a query's lines must be consecutive "
        "(pass allow_interleaved=True to group them by qid)",
        path,
        int(line_no[start]),
    )


def _docids(comment: pa.Array, qid: pa.Array, codes: np.ndarray) -> pa.Array:
    """Doc ids from ``docid = X`` comments, else ``"{qid}-{k}"`` (k: position in its query)."""
    found = pc.struct_field(pc.extract_regex(pc.fill_null(comment, ""), _DOCID_RE), "docid")
    missing = found.is_null()
    if not pc.any(missing).as_py():
        return found
    order = np.argsort(codes, kind="stable")
    sizes = np.bincount(codes)
    group_start = offsets_from_sizes(sizes)[:-1]
    position = np.empty(len(codes), dtype=np.int64)
    position[order] = np.arange(len(codes)) - group_start[codes[order]]
    synth = pc.binary_join_element_wise(qid, pc.cast(pa.array(position), pa.string()), "-")
    return pc.if_else(missing, synth, found)


def write_letor(
    data: LetorData,
    path: PathLike,
    *,
    comments: bool = True,
    sparse: bool = False,
) -> None:
    """Write ``label qid:Q 1:v ... F:v #docid = D`` lines, atomically (``.gz`` compresses).

    Values use the shortest text that reads back to the same float32, so reading the file
    gives the same matrix, labels, qids and (with ``comments``) doc ids. ``sparse`` leaves out
    zero values (SVMlight style); LETOR files list every feature.
    """
    run = data.run
    feats = data.features
    if len(run) and not np.isfinite(feats).all():
        raise DataError("cannot write NaN or infinite feature values to a LETOR file")
    for ids, what in ((run.qids, "query id"), (run.docids, "doc id")):
        bad = pc.match_substring_regex(ids, r"\s|^$")
        if len(ids) and pc.any(bad).as_py():
            raise DataError(
                f"cannot write a {what} with whitespace or empty to a LETOR file: "
                f"{ids.filter(bad)[0].as_py()!r}"
            )
    if len(run) == 0:
        write_lines(path, [])
        return
    pieces: list[pa.Array | str] = [int_text(data.labels), " qid:", run.qid_column()]
    for j in range(feats.shape[1]):
        column = feats[:, j]
        text = pc.binary_join_element_wise(f" {j + 1}:", float_text(column), "")
        if sparse:
            text = pc.if_else(pa.array(column == 0), pa.scalar(None, pa.string()), text)
        pieces.append(text)
    if comments:
        pieces += [" #docid = ", run.docids]
    write_lines(path, [join_lines(pieces, skip_nulls=sparse)])


__all__ = ["LetorData", "read_group_sizes", "read_letor", "write_letor"]
