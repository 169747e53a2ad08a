"""CLI commands (placeholder: filled in by the module owner)."""

from rankstack.cli._app import app  # noqa: F401
