"""docs/architecture.md places every module of the package, and names none that is gone."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "kedro_airflow_k8s"
DOC = ROOT / "docs" / "architecture.md"
# A module's place: its path inside the package in backticks, e.g. `ship/backfill.py`.
_PLACED = re.compile(r"`([\w/]+\.py)`")


def _modules() -> set[str]:
    return {path.relative_to(PACKAGE).as_posix() for path in PACKAGE.rglob("*.py")
            if path.name != "__init__.py" or path.parent != PACKAGE}


def test_every_module_of_the_package_is_placed_in_the_architecture_doc():
    placed = set(_PLACED.findall(DOC.read_text(encoding="utf-8")))
    missing = sorted(_modules() - placed)
    assert missing == [], f"docs/architecture.md does not place: {missing}"


def test_the_architecture_doc_names_no_module_that_does_not_exist():
    placed = set(_PLACED.findall(DOC.read_text(encoding="utf-8")))
    stale = sorted(name for name in placed
                   if not (PACKAGE / name).is_file() and not (ROOT / name).is_file())
    assert stale == [], f"docs/architecture.md names modules that do not exist: {stale}"
