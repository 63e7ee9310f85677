"""Rewrite the golden corpus: `python -m tests.golden.regenerate [NAME ...]`.

Only after checking that a change of output is intended: tests/test_golden.py compares.
"""

from __future__ import annotations

import json
import os
import re
import sys
import tempfile
from pathlib import Path

FOLDER = Path(__file__).parent
# The provider names a secret's volume `secretvol<uuid4>`, new in every process.
_SECRET_VOLUME = re.compile(
    r"secretvol[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def expected_path(name: str) -> Path:
    return FOLDER / f"{name}.json"


def dump(data: object) -> str:
    return json.dumps(data, indent=1, sort_keys=True, ensure_ascii=False) + "\n"


def current(name: str) -> str:
    """The JSON text of configuration `name` as the code gives it now."""
    from tests.golden.configs import CONFIGS
    from tests.golden.snapshot import snapshot

    with tempfile.TemporaryDirectory(prefix="kak-golden-") as folder:
        text = dump(snapshot(CONFIGS[name](), Path(folder)))
        return _SECRET_VOLUME.sub("secretvol<uuid>", text.replace(folder, "<dags>"))


def main(names: list[str]) -> int:
    os.environ.setdefault("AIRFLOW__CORE__LOAD_EXAMPLES", "False")
    os.environ.setdefault("AIRFLOW__CORE__UNIT_TEST_MODE", "True")
    from tests.golden.configs import CONFIGS

    for name in names or CONFIGS:
        expected_path(name).write_text(current(name), encoding="utf-8")
        print(f"wrote {expected_path(name).relative_to(FOLDER.parent.parent)}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
