"""The ``phananh`` command line (also ``flask --app wsgi ...``)."""

from __future__ import annotations

from typing import Any


def register_commands(app: Any) -> None:
    """Attach the phananh commands to ``app.cli``."""


def main() -> None:
    """Console-script entry point."""
