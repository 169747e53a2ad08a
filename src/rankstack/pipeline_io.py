"""Saved pipelines: a folder that :func:`load_pipeline` turns back into a fitted pipeline.

Layout (format ``rankstack-pipeline``, version 1)::

    DIR/pipeline.json      expression, index reference, files and their SHA-256
    DIR/stages/0/          each learned stage saved by its own ``save`` (LightGBM text or
                           safetensors + JSON; never pickle)
    DIR/runs/0.trec        each precomputed run, as a TREC run file
    DIR/assets/0/          what a stage with ``save_assets(folder, ref)`` keeps beside its
                           parameters (the document embeddings of ``dense_features()``)

``pipeline.json`` holds the pipeline as an expression of the experiment language, with each
learned stage pointing at its folder::

    bm25(k=100) >> features() >> lambdamart(saved='stages/0')

so the same safe parser (:func:`rankstack.experiment.parse_pipeline`, :mod:`ast`, no
``eval``) reads experiment files and saved pipelines. It also records the index the pipeline
was fitted on: its path and its *fingerprint* (format version, document and term counts, the
fields and a digest of every array's SHA-256 from the index manifest). Loading checks the
fingerprint and refuses another index with :class:`IndexMismatchError`, unless the caller
passes ``allow_index_mismatch=True``. The folder is written in a temporary sibling and renamed
into place, and every file's checksum is verified on load. A loaded pipeline needs nothing but
the folder and the index, so services and batch jobs can open it on their own.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from pathlib import Path
from typing import Any

from rankstack.exceptions import IndexFormatError, RankstackError
from rankstack.io._files import read_versioned_json, replace_folder
from rankstack.pipeline import Precomputed, Stage, check_fitted, is_learned, iter_stages

logger = logging.getLogger(__name__)

FORMAT_NAME = "rankstack-pipeline"
FORMAT_VERSION = 1
DESCRIPTION = "pipeline.json"
_FINGERPRINT_KEYS = ("format", "format_version", "n_docs", "n_terms", "fields", "digest")


class PipelineFormatError(IndexFormatError):
    """A saved pipeline folder is truncated, foreign, corrupt or of another format version."""


class IndexMismatchError(RankstackError, ValueError):
    """A saved pipeline is applied to an index other than the one it was fitted on."""


# ------------------------------------------------------------------------------ fingerprints
def index_fingerprint(index: Any) -> dict[str, Any]:
    """What identifies an index's content, from its manifest.

    ``digest`` is the SHA-256 of the sorted (array name, array SHA-256) pairs recorded in the
    manifest (for an in-memory index without recorded checksums, of the arrays' bytes) together
    with the tokenizer settings: two indexes with the same digest score every query alike.
    """
    manifest = index.manifest
    arrays = manifest.get("arrays", {})
    h = hashlib.sha256()
    h.update(json.dumps(manifest.get("tokenizer", {}), sort_keys=True).encode())
    names = sorted(index.array_names)
    for name in names:
        spec = arrays.get(name, {})
        h.update(name.encode() + b"\0")
        if isinstance(spec, dict) and spec.get("sha256"):
            h.update(str(spec["sha256"]).encode())
        else:
            h.update(hashlib.sha256(memoryview(index.array(name)).cast("B")).digest())
    fields = manifest.get("fields", {})
    return {
        "format": manifest.get("format", "rankstack-index"),
        "format_version": manifest.get("version"),
        "n_docs": int(index.n_docs),
        "n_terms": int(index.n_terms),
        "fields": sorted(fields),
        "positions": bool(manifest.get("positions", False)),
        "digest": h.hexdigest(),
    }


def check_index(
    index: Any,
    expected: dict[str, Any],
    *,
    allow_mismatch: bool = False,
    where: str = "pipeline",
) -> None:
    """Refuse ``index`` unless its fingerprint equals ``expected`` (or ``allow_mismatch``)."""
    got = index_fingerprint(index)
    diffs = [
        f"{key} {expected.get(key)!r} (fitted) vs {got.get(key)!r} (given)"
        for key in _FINGERPRINT_KEYS
        if key in expected and expected.get(key) != got.get(key)
    ]
    if not diffs:
        return
    short = "; ".join(
        d if not d.startswith("digest") else "the index content differs" for d in diffs
    )
    if allow_mismatch:
        logger.warning("%s: applied to another index than it was fitted on (%s)", where, short)
        return
    raise IndexMismatchError(
        f"{where} was fitted on another index ({short}); its learned stages would see other "
        "statistics. Use the index it was fitted on, or pass allow_index_mismatch=True "
        "(command line: --allow-index-mismatch) to apply it anyway"
    )


def pipeline_indexes(pipe: Stage) -> list[Any]:
    """The distinct indexes the stages of ``pipe`` read (opened when given as paths)."""
    from rankstack.index import Index

    found: list[Any] = []
    for stage in iter_stages(pipe):
        value = stage.get_params().get("index")
        if value is None:
            continue
        if isinstance(value, (str, os.PathLike)):
            value = getattr(stage, "index_", None) or Index.load(Path(value))
        if isinstance(value, Index) and not any(value is f for f in found):
            found.append(value)
    return found


# ------------------------------------------------------------------------------ saving
def save_pipeline(
    pipe: Stage, folder: str | os.PathLike[str], *, info: dict[str, Any] | None = None
) -> Path:
    """Write a fitted pipeline to ``folder`` atomically; returns the folder.

    Parameters
    ----------
    pipe:
        A pipeline whose learned stages are fitted (:class:`NotFittedError` otherwise) and
        whose stages the expression language can write.
    info:
        Free-form facts stored with it (training queries, dataset...), shown by ``describe``.
    """
    from rankstack.experiment.describe import describe
    from rankstack.io import write_run

    check_fitted(pipe)
    indexes = pipeline_indexes(pipe)
    fingerprints = {index_fingerprint(i)["digest"]: i for i in indexes}
    if len(fingerprints) > 1:
        raise RankstackError(
            f"a saved pipeline refers to one index, but its stages read {len(fingerprints)} "
            "different ones"
        )
    target = Path(folder)
    _check_target(target)
    with replace_folder(target) as tmp:
        refs: list[dict[str, Any]] = []

        def resolve(stage: Stage) -> str | None:
            if is_learned(stage):
                ref = f"stages/{len(refs)}"
                stage.save(tmp / ref)  # type: ignore[attr-defined]
                kind = str(getattr(stage, "kind", type(stage).__name__.lower()))
                refs.append({"path": ref, "kind": kind, "class": type(stage).__name__})
                return f"{_factory_name(stage)}(saved={ref!r})"
            save_assets = getattr(stage, "save_assets", None)
            if callable(save_assets):  # a stage that keeps data beside its parameters
                ref = f"assets/{len(refs)}"
                (tmp / "assets").mkdir(exist_ok=True)
                overrides = save_assets(tmp / ref, ref)
                refs.append({"path": ref, "kind": "assets", "class": type(stage).__name__})
                return describe(type(stage)(**{**stage.get_params(), **overrides}))
            if isinstance(stage, Precomputed):
                ref = f"runs/{len(refs)}.trec"
                (tmp / "runs").mkdir(exist_ok=True)
                write_run(stage.run, tmp / ref, tag=stage.name or "run")
                refs.append({"path": ref, "kind": "run", "class": "Precomputed"})
                name = f", name={stage.name!r}" if stage.name else ""
                return f"run(path={ref!r}{name})"
            return None

        expression = describe(pipe, resolve=resolve)
        index = next(iter(fingerprints.values()), None)
        from rankstack import __version__

        doc = {
            "format": FORMAT_NAME,
            "version": FORMAT_VERSION,
            "rankstack_version": __version__,
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            "expression": expression,
            "index": None
            if index is None
            else {
                "path": None if index.path is None else str(Path(index.path).resolve()),
                "fingerprint": index_fingerprint(index),
            },
            "stages": refs,
            "info": info or {},
            "files": _checksums(tmp),
        }
        (tmp / DESCRIPTION).write_text(json.dumps(doc, indent=2) + "\n", encoding="utf-8")
    logger.info("saved pipeline %s to %s", expression, target)
    return target


def _factory_name(stage: Stage) -> str:
    from rankstack.experiment.describe import _NAMES

    known = _NAMES.get(type(stage).__name__)
    if known is None:
        raise RankstackError(
            f"cannot save {type(stage).__name__}: only lambdamart and neural rankers are known "
            "to saved pipelines"
        )
    return known[0]


def _checksums(folder: Path) -> dict[str, str]:
    out = {}
    for path in sorted(folder.rglob("*")):
        if path.is_file() and path.name != DESCRIPTION:
            out[path.relative_to(folder).as_posix()] = _sha256(path)
    return out


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _check_target(target: Path) -> None:
    """Refuse to replace a folder that is not a saved pipeline (or empty)."""
    if not target.exists():
        return
    if target.is_dir() and (not any(target.iterdir()) or (target / DESCRIPTION).is_file()):
        return
    raise RankstackError(
        f"{target} exists and is not a saved pipeline; choose another folder or remove it"
    )


# ------------------------------------------------------------------------------ loading
def read_description(folder: str | os.PathLike[str], *, verify: bool = True) -> dict[str, Any]:
    """The checked ``pipeline.json`` of a saved pipeline (file checksums verified)."""
    root = Path(folder)
    path = root / DESCRIPTION
    if not root.is_dir():
        raise PipelineFormatError(
            f"{root}: not a saved pipeline (expected a folder with {DESCRIPTION})"
        )
    if not path.is_file():
        raise PipelineFormatError(f"{root}: {DESCRIPTION} is missing; is this a saved pipeline?")
    doc = read_versioned_json(
        path,
        fmt=FORMAT_NAME,
        version=FORMAT_VERSION,
        keys=(),
        error=PipelineFormatError,
        what="pipeline",
    )
    for key, kind in (("expression", str), ("files", dict), ("stages", list)):
        if not isinstance(doc.get(key), kind):
            raise PipelineFormatError(f"{path}: the key {key!r} is missing or malformed")
    if verify:
        for rel, digest in doc["files"].items():
            file = root / rel
            if not file.is_file():
                raise PipelineFormatError(
                    f"{root}: the file {rel} is missing; save the pipeline again"
                )
            if _sha256(file) != digest:
                raise PipelineFormatError(
                    f"{root}: the file {rel} does not match its checksum; the folder is corrupt"
                )
    return doc


def load_pipeline(
    folder: str | os.PathLike[str],
    *,
    index: Any = None,
    allow_index_mismatch: bool = False,
) -> Stage:
    """Load a pipeline saved by :func:`save_pipeline`.

    Parameters
    ----------
    index:
        The :class:`~rankstack.index.Index` (or its path) to apply the pipeline to; default: the
        path recorded when it was saved. Its fingerprint must equal the recorded one.
    allow_index_mismatch:
        Apply the pipeline to an index with another fingerprint anyway (logged as a warning).

    Raises
    ------
    PipelineFormatError
        For a missing, foreign, corrupt or differently versioned folder.
    IndexMismatchError
        For an index other than the one the pipeline was fitted on.
    """
    from rankstack.experiment.expression import ExperimentError, parse_pipeline
    from rankstack.experiment.factories import stage_factories

    root = Path(folder)
    doc = read_description(root)
    ref = doc.get("index")
    opened: list[Any] = []

    def get_index() -> Any:
        if not opened:
            opened.append(_open_index(index, ref, root, allow_index_mismatch))
        return opened[0]

    if ref is not None:
        get_index()  # index errors first, not wrapped in an expression error

    factories = stage_factories(get_index, base=root, models=root)
    try:
        return parse_pipeline(doc["expression"], factories, where=f"{root / DESCRIPTION}")
    except ExperimentError as exc:
        raise PipelineFormatError(str(exc)) from exc


def _open_index(index: Any, ref: dict[str, Any] | None, root: Path, allow: bool) -> Any:
    from rankstack.index import Index

    if index is None:
        path = None if ref is None else ref.get("path")
        if path is None:
            raise RankstackError(
                f"{root}: this pipeline was fitted on an in-memory index; pass the index "
                "(index=... or --index PATH)"
            )
        if not Path(path).exists():
            raise RankstackError(
                f"{root}: the index it was fitted on, {path}, does not exist; pass its new "
                "location (index=... or --index PATH)"
            )
        index = path
    opened = index if isinstance(index, Index) else Index.load(index)
    if ref is not None and isinstance(ref.get("fingerprint"), dict):
        check_index(opened, ref["fingerprint"], allow_mismatch=allow, where=f"the pipeline {root}")
    return opened
