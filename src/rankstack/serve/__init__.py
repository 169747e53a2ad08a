"""HTTP search service over saved pipelines (``rankstack serve``; needs ``rankstack[serve]``).

:func:`create_app` builds the FastAPI application; :class:`ServeConfig` and :class:`Limits`
say what it serves and what it accepts; :func:`publish` rolls a new pipeline version in by
pointing a symbolic link at it. The application modules import FastAPI, so they are loaded on
first use, and a missing FastAPI names the extra to install. See ``docs/operations.md``.
"""

from __future__ import annotations

from typing import Any

from rankstack.serve.config import Limits, PipelineSpec, ServeConfig

__all__ = ["Limits", "PipelineSpec", "Registry", "ServeConfig", "create_app", "publish"]


def __getattr__(name: str) -> Any:
    if name == "create_app":
        from rankstack._compat import require

        require("fastapi")
        from rankstack.serve.app import create_app

        return create_app
    if name in ("Registry", "publish"):
        from rankstack.serve import registry

        return getattr(registry, name)
    raise AttributeError(f"module 'rankstack.serve' has no attribute {name!r}")
