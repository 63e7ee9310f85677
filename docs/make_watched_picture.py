"""Draw a watched run as Airflow recorded it (docs/watched-run.json, written by
`python bench/watched.py --pipelines layers --modes "watched group" --work 1 --repeat 1
--record docs/watched-run.json`: 30 nodes working 1 s each) as an SVG of its task
instances over time (docs/watched-run.svg): one row per task, a bar from its start to its
end in its state's colour, as the Gantt view of Airflow's grid shows them.

    python docs/make_watched_picture.py     # rewrites docs/watched-run.svg

A test checks the picture is current.
"""

from __future__ import annotations

import json
from datetime import datetime
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
RECORD = ROOT / "docs" / "watched-run.json"
LABEL_W, CHART_W, ROW_H, PAD = 300, 520, 26, 16
COLOUR = {"success": "#4caf50", "failed": "#e53935", "upstream_failed": "#fb8c00",
          "running": "#66bb6a"}


def _seconds(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def svg(instances: list[dict]) -> str:
    begin = min(_seconds(ti["start_date"]) for ti in instances)
    end = max(_seconds(ti["end_date"]) for ti in instances)
    scale = CHART_W / max(end - begin, 1.0)
    height = PAD * 2 + ROW_H * (len(instances) + 1)
    width = PAD * 2 + LABEL_W + CHART_W + 70
    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             f'<rect width="{width}" height="{height}" fill="white"/>']
    for row, ti in enumerate(instances):
        y = PAD + row * ROW_H
        start, stop = _seconds(ti["start_date"]), _seconds(ti["end_date"])
        x = PAD + LABEL_W + (start - begin) * scale
        bar = max((stop - start) * scale, 2.0)
        weight = ' font-weight="bold"' if ti["task_id"].startswith("run__") else ""
        parts += [
            f'<text x="{PAD}" y="{y + 17}"{weight}>{escape(ti["task_id"])}</text>',
            f'<rect x="{x:.1f}" y="{y + 5}" width="{bar:.1f}" height="{ROW_H - 10}" rx="3" '
            f'fill="{COLOUR.get(ti["state"], "#9e9e9e")}"><title>{escape(ti["task_id"])}: '
            f'{escape(ti["state"])}, {stop - start:.1f} s</title></rect>',
            f'<text x="{x + bar + 6:.1f}" y="{y + 17}" fill="#555">{stop - start:.1f} s</text>']
    axis = PAD + ROW_H * len(instances) + 14
    parts.append(f'<text x="{PAD + LABEL_W}" y="{axis}" fill="#555">0 s</text>')
    parts.append(f'<text x="{PAD + LABEL_W + CHART_W - 30}" y="{axis}" fill="#555">'
                 f'{end - begin:.0f} s</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def watched_svg() -> str:
    return svg(json.loads(RECORD.read_text()))


if __name__ == "__main__":
    (ROOT / "docs" / "watched-run.svg").write_text(watched_svg())
