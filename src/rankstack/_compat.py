"""Optional dependencies, imported in one place so a missing one names its extra."""

from __future__ import annotations

import importlib
from types import ModuleType

from rankstack.exceptions import MissingDependencyError

_EXTRA_OF = {
    "pandas": "pandas",
    "lightgbm": "ltr",
    "xgboost": "ltr",
    "torch": "neural",
    "safetensors": "ltr",
    "sentence_transformers": "dense",
    "faiss": "dense",
    "transformers": "llm",
    "peft": "llm",
    "httpx": "llm",
    "gguf": "llm",
    "llama_cpp": "llamacpp",
    "fastapi": "serve",
    "uvicorn": "serve",
    "dask": "dask",
    "distributed": "dask",
    "matplotlib": "report",
}


def require(module: str) -> ModuleType:
    """Import ``module`` or raise :class:`MissingDependencyError` naming the extra to install."""
    try:
        return importlib.import_module(module)
    except ImportError as exc:
        extra = _EXTRA_OF.get(module.split(".")[0])
        hint = f"pip install 'rankstack[{extra}]'" if extra else f"pip install {module}"
        raise MissingDependencyError(
            f"this feature needs the optional package {module!r}, which is not installed: {hint}"
        ) from exc
