"""The training file of ``rankstack train``: a TOML description of data, model and output.

Example (``examples/mq2008-lambdamart.toml``)::

    seed = 42                                   # overrides [model] seed

    [data]
    train = "letor/mq2008/fold1/train"          # registry split or a LETOR/SVMlight file
    valid = "letor/mq2008/fold1/vali"           # optional: early stopping
    test = "letor/mq2008/fold1/test"            # optional: evaluated after training
    allow_interleaved = false                   # group lines of a qid that come back later
    measures = ["nDCG@1", "nDCG@3", "nDCG@5", "nDCG@10", "AP"]
    letor_eval = true                           # also LETOR 4.0's own definitions

    [model]
    kind = "lambdamart"                         # or "neural" (then e.g. loss = "lambdaloss")
    n_estimators = 1000
    learning_rate = 0.05
    normalize = "zscore"

    [output]
    path = "models/mq2008-lm"

Training from a click log (unbiased learning to rank, ``docs/ultr.md``): ``[data] clicks``
names the log, ``train`` then only supplies the feature vectors of the shown documents, and
``[debias]`` holds the :class:`~rankstack.ultr.UnbiasedRanker` settings (``method = "dla"``,
``"ipw"``, ``"rem"``, ``"naive"`` or ``"lgbm_position"``; ``propensities``, ``max_weight``...);
``[model]`` is the base ranker::

    [data]
    train = "letor/mq2008/fold1/train"
    clicks = "clicks.parquet"
    valid = "letor/mq2008/fold1/vali"

    [model]
    kind = "neural"

    [debias]
    method = "dla"

Every key is checked: an unknown key is refused with the valid ones, so a typo never
silently changes a run. Model parameters are checked by the model class
(:func:`~rankstack.ltr.base.make_ranker`). Relative paths (data files, output) are resolved
against the folder of the TOML file.
"""

from __future__ import annotations

import difflib
import os
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rankstack.data import Run
from rankstack.exceptions import DataError, DatasetNotFoundError, FormatError
from rankstack.io.letor import LetorData, read_letor
from rankstack.ltr.base import Ranker, make_ranker

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    import tomli as tomllib

#: measures reported after training and by ``rankstack cv`` (trec_eval definitions)
DEFAULT_MEASURES = ("nDCG@1", "nDCG@3", "nDCG@5", "nDCG@10", "AP")

_TOP_KEYS: dict[str, type | tuple[type, ...]] = {
    "data": dict,
    "model": dict,
    "output": dict,
    "debias": dict,
    "seed": int,
    "name": str,
    "description": str,
}
_DATA_KEYS: dict[str, type | tuple[type, ...]] = {
    "train": str,
    "valid": str,
    "test": str,
    "allow_interleaved": bool,
    "measures": list,
    "letor_eval": bool,
    "clicks": str,
}
_OUTPUT_KEYS: dict[str, type | tuple[type, ...]] = {"path": str}
_RUN_SUFFIXES = (".parquet", ".pq", ".jsonl", ".ndjson", ".json")


def _check_keys(
    data: dict[str, Any], allowed: dict[str, Any], where: str, path: Path | None
) -> None:
    for key, value in data.items():
        if key not in allowed:
            close = difflib.get_close_matches(key, list(allowed), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise FormatError(
                f"{where}: unknown key {key!r}{hint}; valid keys: {', '.join(sorted(allowed))}",
                path,
            )
        expected = allowed[key]
        types = expected if isinstance(expected, tuple) else (expected,)
        ok = isinstance(value, types) and not (isinstance(value, bool) and bool not in types)
        if not ok:
            names = " or ".join(t.__name__ for t in types)
            raise FormatError(
                f"{where}: key {key!r} must be of type {names}, found {type(value).__name__}", path
            )


@dataclass(frozen=True)
class TrainConfig:
    """A parsed and checked training file (see the module docstring for the layout)."""

    train: str
    kind: str
    params: dict[str, Any] = field(default_factory=dict)
    valid: str | None = None
    test: str | None = None
    allow_interleaved: bool = False
    measures: tuple[str, ...] = DEFAULT_MEASURES
    letor_eval: bool = False
    output: str | None = None
    seed: int | None = None
    name: str = ""
    base: Path = field(default_factory=Path)
    source: Path | None = None
    clicks: str | None = None
    debias: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_toml(cls, path: str | os.PathLike[str]) -> TrainConfig:
        """Read and check a training file; raises :class:`FormatError` naming the problem."""
        p = Path(path)
        if not p.is_file():
            raise FormatError("training file not found", p)
        try:
            data = tomllib.loads(p.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise FormatError(f"not valid TOML: {exc}", p) from exc
        return cls.from_dict(data, base=p.resolve().parent, source=p)

    @classmethod
    def from_dict(
        cls, data: dict[str, Any], *, base: Path | None = None, source: Path | None = None
    ) -> TrainConfig:
        """Check a parsed TOML document (``base`` resolves relative paths)."""
        _check_keys(data, _TOP_KEYS, "training file", source)
        for section in ("data", "model"):
            if section not in data:
                raise FormatError(f"training file: the [{section}] table is required", source)
        data_sec = dict(data["data"])
        _check_keys(data_sec, _DATA_KEYS, "[data]", source)
        if "train" not in data_sec:
            raise FormatError("[data]: the key 'train' is required", source)
        model = dict(data["model"])
        kind = model.pop("kind", None)
        if not isinstance(kind, str):
            raise FormatError(
                '[model]: the key \'kind\' is required ("lambdamart" or "neural")', source
            )
        output = dict(data.get("output", {}))
        _check_keys(output, _OUTPUT_KEYS, "[output]", source)
        measures = data_sec.get("measures", list(DEFAULT_MEASURES))
        if not measures or not all(isinstance(m, str) for m in measures):
            raise FormatError("[data]: 'measures' must be a non-empty list of names", source)
        seed = data.get("seed")
        if seed is not None and "seed" in model and model["seed"] != seed:
            raise FormatError(
                f"the top-level seed ({seed}) and [model] seed ({model['seed']}) differ; give one",
                source,
            )
        config = cls(
            train=data_sec["train"],
            kind=kind,
            params=model,
            valid=data_sec.get("valid"),
            test=data_sec.get("test"),
            allow_interleaved=bool(data_sec.get("allow_interleaved", False)),
            measures=tuple(measures),
            letor_eval=bool(data_sec.get("letor_eval", False)),
            output=output.get("path"),
            seed=seed,
            name=str(data.get("name", source.stem if source else "model")),
            base=base or Path.cwd(),
            source=source,
            clicks=data_sec.get("clicks"),
            debias=dict(data.get("debias", {})),
        )
        try:  # check the model parameters now, not after loading the data
            config.make_model()
        except DataError as exc:
            raise FormatError(f"[model]: {exc}", source) from exc
        if config.debias:
            try:  # names and values of the [debias] keys (the method may come from the CLI)
                unbiased: Any = config.make_unbiased(str(config.debias.get("method", "naive")))
                unbiased._check_params()
            except DataError as exc:
                raise FormatError(f"[debias]: {exc}", source) from exc
        return config

    def make_unbiased(self, method: str | None = None, **overrides: Any) -> Ranker:
        """An unfitted :class:`~rankstack.ultr.UnbiasedRanker`: ``[debias]`` settings (method
        overridden by ``method``) over the ``[model]`` base ranker and its parameters."""
        settings = dict(self.debias)
        for key in ("base", "params", "seed"):
            if key in settings:
                raise DataError(f"the key {key!r} belongs in [model], not [debias]")
        if method is not None:
            settings["method"] = method
        if "method" not in settings:
            raise DataError(
                "a click log needs a debiasing method: --debias dla|ipw|rem|naive or "
                '[debias] method = "..."'
            )
        params = {**overrides, **self.params}
        seed = self.seed if self.seed is not None else params.pop("seed", None)
        params.pop("seed", None)
        prop = settings.get("propensities")
        if isinstance(prop, str) and prop != "log":
            settings["propensities"] = self.resolve(prop)
        extra = {} if seed is None else {"seed": int(seed)}
        return make_ranker("unbiased", base=self.kind, params=params, **settings, **extra)

    def make_model(self, **overrides: Any) -> Ranker:
        """An unfitted model with the configured kind, parameters and seed.

        ``overrides`` are added to the parameters unless the file sets them.
        """
        params = {**overrides, **self.params}
        if self.seed is not None:
            params["seed"] = self.seed
        return make_ranker(self.kind, **params)

    def resolve(self, spec: str) -> str:
        """A data spec as given, or a relative file path made absolute against ``base``."""
        p = Path(spec).expanduser()
        if not p.is_absolute() and (self.base / p).exists():
            return str(self.base / p)
        return spec

    def output_path(self, override: str | os.PathLike[str] | None = None) -> Path:
        """Where the model goes (``-o`` wins over ``[output] path``)."""
        if override is not None:
            return Path(override)
        if self.output is None:
            raise FormatError(
                "no output folder: set [output] path in the training file or pass -o", self.source
            )
        p = Path(self.output).expanduser()
        return p if p.is_absolute() else self.base / p

    def load(self, which: str, *, allow_interleaved: bool | None = None) -> LetorData | None:
        """The ``train``, ``valid`` or ``test`` set (None when not configured)."""
        spec = {"train": self.train, "valid": self.valid, "test": self.test}[which]
        if spec is None:
            return None
        flag = self.allow_interleaved if allow_interleaved is None else allow_interleaved
        return load_letor(self.resolve(spec), allow_interleaved=flag)


def load_letor(spec: str | os.PathLike[str], *, allow_interleaved: bool = False) -> LetorData:
    """A LETOR set from a registry split (``letor/mq2008/fold1/train``) or a file path.

    A registered name wins over a same-named relative path (write ``./name`` for the file).
    ``allow_interleaved`` groups the lines of a qid that appears again later in a file
    instead of raising :class:`FormatError` (registry files are always well-formed).
    """
    text = str(spec)
    path = Path(text).expanduser()
    try:
        from rankstack import datasets

        ds = datasets.load(text)
    except DatasetNotFoundError as exc:
        if path.exists():
            return read_letor(path, allow_interleaved=allow_interleaved)
        raise DatasetNotFoundError(
            f"{text!r} is neither a LETOR split of the registry nor an existing file ({exc})"
        ) from exc
    if ds.kind != "letor":
        raise DataError(f"{text!r} is a {ds.kind} dataset, not a LETOR feature set")
    return ds.letor()


def load_scoring_data(
    spec: str | os.PathLike[str], *, allow_interleaved: bool = False
) -> LetorData | Run:
    """What ``rankstack predict`` scores: a LETOR set, or a Parquet/JSONL run with features."""
    path = Path(str(spec)).expanduser()
    if path.suffix.lower() in _RUN_SUFFIXES or path.name.lower().endswith(
        tuple(s + ".gz" for s in _RUN_SUFFIXES)
    ):
        from rankstack.io import read_run_file

        return read_run_file(path)
    return load_letor(spec, allow_interleaved=allow_interleaved)
