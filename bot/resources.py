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
