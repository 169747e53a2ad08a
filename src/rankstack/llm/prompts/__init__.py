"""Versioned prompt templates, shipped as package data (``*.txt`` in this folder).

A template file is named ``NAME.vVERSION.txt``; it starts with ``#`` comment lines, then has
one ``=== system ===`` and one ``=== user ===`` section. Placeholders use
:class:`string.Template` syntax (``$query``, ``$passages``, ``$n``, ``$passage``,
``$passage_a``, ``$passage_b``, ``$first``, ``$last``), so braces and brackets in the text need
no escaping. A run records the template's name and the sha256 of its bytes; changing a single
character of a template changes the hash, and with it every cache key.

Users can pass their own file (any path ending in ``.txt``) wherever a template name is taken.
"""

from __future__ import annotations

import hashlib
import string
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import Any

from rankstack.exceptions import FormatError

_SECTIONS = ("system", "user")


@dataclass(frozen=True)
class PromptTemplate:
    """A parsed template: its ``name`` (``listwise.v1``), ``sha256`` and the two sections."""

    name: str
    sha256: str
    system: str
    user: str

    def render(self, **values: Any) -> tuple[str, str]:
        """``(system, user)`` with the placeholders filled (a missing one raises FormatError)."""
        try:
            return (
                string.Template(self.system).substitute(values),
                string.Template(self.user).substitute(values),
            )
        except (KeyError, ValueError) as exc:
            raise FormatError(
                f"prompt template {self.name}: placeholder {exc} has no value; given "
                f"{sorted(values)}"
            ) from exc

    def describe(self) -> dict[str, str]:
        return {"name": self.name, "sha256": self.sha256}


def available() -> list[str]:
    """Names of the bundled templates."""
    folder = resources.files(__name__)
    return sorted(p.name[:-4] for p in folder.iterdir() if p.name.endswith(".txt"))


def load_template(spec: str | Path) -> PromptTemplate:
    """A bundled template by name (``listwise.v1``) or a template file by path."""
    text_spec = str(spec)
    path = Path(text_spec)
    if text_spec.endswith(".txt") and path.is_file():
        data, name = path.read_bytes(), path.name[:-4]
    else:
        res = resources.files(__name__) / f"{text_spec}.txt"
        if not res.is_file():
            raise FormatError(
                f"unknown prompt template {text_spec!r}: expected a file NAME.txt or one of "
                f"{available()}"
            )
        data, name = res.read_bytes(), text_spec
    return parse_template(data, name, path if path.is_file() else None)


def parse_template(data: bytes, name: str, path: Path | None = None) -> PromptTemplate:
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise FormatError("a prompt template must be UTF-8 text", path) from exc
    parts: dict[str, list[str]] = {}
    current: str | None = None
    for lineno, line in enumerate(text.splitlines(), start=1):
        head = line.strip()
        if head.startswith("===") and head.endswith("===") and len(head) > 6:
            current = head.strip("= ").lower()
            if current not in _SECTIONS or current in parts:
                raise FormatError(
                    f"section {current!r}: expected each of {_SECTIONS} once", path, lineno
                )
            parts[current] = []
        elif current is None:
            if head and not head.startswith("#"):
                raise FormatError("text before the first === section === line", path, lineno)
        else:
            parts[current].append(line)
    if "user" not in parts:
        raise FormatError("a prompt template needs a === user === section", path)
    return PromptTemplate(
        name=name,
        sha256=hashlib.sha256(data).hexdigest(),
        system="\n".join(parts.get("system", [])).strip(),
        user="\n".join(parts["user"]).strip(),
    )
