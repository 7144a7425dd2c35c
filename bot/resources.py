"""Project files the code reads at run time, found both in a checkout and in an installed wheel.

In a checkout they sit at the project root (``locales/``, ``config.example.toml``), where
the set-up script and the tests use them; a wheel has no project root, so the build copies
them into the ``bot`` package (see setup.py).  A copy inside the package wins.
"""

from __future__ import annotations

from pathlib import Path

PACKAGE_DIR = Path(__file__).resolve().parent


def bundled(name: str) -> Path:
    """``bot/<name>`` when the build put it there, else ``<project root>/<name>``."""
    inside = PACKAGE_DIR / name
    return inside if inside.exists() else PACKAGE_DIR.parent / name


def compile_catalogues(source: Path, target: Path) -> list[Path]:
    """Compiles every ``source/<locale>/LC_MESSAGES/*.po`` to ``target/…/*.mo``.

    One implementation for the wheel build (setup.py) and the tests' temporary catalogues;
    scripts/setup.sh compiles a checkout in place with ``pybabel compile``, the same code.
    """
    from babel.messages.mofile import write_mo
    from babel.messages.pofile import read_po

    written = []
    for po_path in sorted(source.glob("*/LC_MESSAGES/*.po")):
        relative = po_path.relative_to(source)
        mo_path = (target / relative).with_suffix(".mo")
        mo_path.parent.mkdir(parents=True, exist_ok=True)
        with po_path.open("rb") as po_file:
            catalog = read_po(po_file, locale=relative.parts[0])
        with mo_path.open("wb") as mo_file:
            write_mo(mo_file, catalog)
        written.append(mo_path)
    return written
