"""A JSON file dataset, so the example needs nothing beyond Kedro itself."""

import json
from pathlib import Path
from typing import Any

from kedro.io import AbstractDataset


class JSONDataset(AbstractDataset):
    def __init__(self, filepath: str) -> None:
        self._filepath = Path(filepath)

    def load(self) -> Any:
        return json.loads(self._filepath.read_text(encoding="utf-8"))

    def save(self, data: Any) -> None:
        self._filepath.parent.mkdir(parents=True, exist_ok=True)
        self._filepath.write_text(json.dumps(data, indent=2, sort_keys=True), encoding="utf-8")

    def _exists(self) -> bool:
        return self._filepath.exists()

    def _describe(self) -> dict[str, Any]:
        return {"filepath": str(self._filepath)}
