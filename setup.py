"""Build step the pyproject metadata cannot express: what a wheel needs beyond the packages.

A checkout keeps the catalogues' sources in ``locales/`` (compiled in place by
scripts/setup.sh) and the config template at the root.  A wheel has no project root, so
``build_py`` compiles the catalogues into ``bot/locales`` and copies the template into
``bot/``; bot.resources.bundled finds them there.  Editable installs read the checkout.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py

ROOT = Path(__file__).resolve().parent
sys.path.insert(0, str(ROOT))

from bot.resources import compile_catalogues  # noqa: E402  (the project's own, from ROOT)


class BuildWithResources(build_py):
    def run(self) -> None:
        super().run()
        if self.editable_mode or self.dry_run:
            return
        package = Path(self.build_lib) / "bot"
        compile_catalogues(ROOT / "locales", package / "locales")
        shutil.copyfile(ROOT / "config.example.toml", package / "config.example.toml")


setup(cmdclass={"build_py": BuildWithResources})
