"""Translation catalogs: Vietnamese is the source language (the msgids), English is a catalog.

The catalogs live as ``backend/translations/<locale>/LC_MESSAGES/messages.po`` (committed); gettext needs
them compiled to ``.mo``, which is never committed. :func:`compile_catalogs` compiles every ``.po`` whose
``.mo`` is missing or older: the wheel build runs it on the built package (``BuildPy``, the setuptools
``build_py`` command of ``pyproject.toml``), ``make install`` and the test suite run it on the checkout
(``python -m backend.i18n``). Flask-free: the build imports this module without the app's dependencies
(only ``babel``, a build requirement).
"""

from __future__ import annotations

import sys
from pathlib import Path

from babel.messages.mofile import write_mo
from babel.messages.pofile import read_po

TRANSLATIONS = Path(__file__).resolve().parent / "translations"


def compile_catalogs(root: Path = TRANSLATIONS, *, force: bool = False) -> list[Path]:
    """Compile ``root/*/LC_MESSAGES/*.po`` to ``.mo`` next to them; the ``.mo`` files written."""
    written = []
    for po in sorted(root.glob("*/LC_MESSAGES/*.po")):
        mo = po.with_suffix(".mo")
        if not force and mo.exists() and mo.stat().st_mtime >= po.stat().st_mtime:
            continue
        with po.open("rb") as source:
            catalog = read_po(source, locale=po.parent.parent.name)
        tmp = mo.with_suffix(".mo.tmp")
        with tmp.open("wb") as target:
            write_mo(target, catalog, use_fuzzy=False)
        tmp.replace(mo)
        written.append(mo)
    return written


try:  # the wheel's build step (setuptools is there at build time, not necessarily at run time)
    from setuptools.command.build_py import build_py as _build_py

    class BuildPy(_build_py):
        """``build_py`` that also compiles the translation catalogs copied into the build."""

        def run(self) -> None:
            super().run()
            if not self.editable_mode:
                compile_catalogs(Path(self.build_lib) / "backend" / "translations", force=True)
except ImportError:  # pragma: no cover - a runtime without setuptools never builds
    pass


if __name__ == "__main__":
    for path in compile_catalogs(force="--force" in sys.argv):
        print(f"compiled {path}")
