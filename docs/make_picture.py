"""Draw the example project's DAG as an SVG (docs/demo-dag.svg) from the compiler's model.

    python docs/make_picture.py          # rewrites docs/demo-dag.svg

Columns are the tasks' depth in the DAG; a test checks the file is current.
"""

from __future__ import annotations

import os
import sys
from html import escape
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
BOX_W, BOX_H, GAP_X, GAP_Y, PAD = 190, 34, 60, 18, 20
FILL = {"node": "#e8f1fb", "volume-create": "#eef7ea", "volume-init": "#eef7ea",
        "volume-delete": "#eef7ea", "result": "#fdf1e6", "sensor": "#f3eefa"}


def layout(spec) -> dict[str, tuple[int, int]]:
    depth: dict[str, int] = {}

    def level(task_id: str) -> int:
        if task_id not in depth:
            depth[task_id] = 1 + max((level(u) for u in spec.upstream.get(task_id, [])),
                                     default=-1)
        return depth[task_id]

    columns: dict[int, list[str]] = {}
    for task in spec.tasks:
        columns.setdefault(level(task.task_id), []).append(task.task_id)
    return {task_id: (column, row) for column, ids in columns.items()
            for row, task_id in enumerate(sorted(ids))}


def svg(spec) -> str:
    place = layout(spec)
    width = PAD * 2 + (max(c for c, _ in place.values()) + 1) * (BOX_W + GAP_X) - GAP_X
    height = PAD * 2 + (max(r for _, r in place.values()) + 1) * (BOX_H + GAP_Y) - GAP_Y + 24

    def corner(task_id: str) -> tuple[int, int]:
        column, row = place[task_id]
        return PAD + column * (BOX_W + GAP_X), PAD + 24 + row * (BOX_H + GAP_Y)

    parts = [f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}" '
             f'font-family="sans-serif" font-size="12">',
             '<defs><marker id="arrow" markerWidth="8" markerHeight="8" refX="8" refY="4" '
             'orient="auto"><path d="M0,0 L8,4 L0,8 z" fill="#666"/></marker></defs>',
             f'<text x="{PAD}" y="{PAD + 4}" font-size="14" font-weight="bold">'
             f'{escape(spec.dag_id)}: {len(spec.tasks)} tasks</text>']
    for task_id, waits_for in sorted(spec.upstream.items()):
        x2, y2 = corner(task_id)
        for other in waits_for:
            x1, y1 = corner(other)
            start, end = (x1 + BOX_W, y1 + BOX_H // 2), (x2, y2 + BOX_H // 2)
            if place[task_id][0] - place[other][0] > 1:  # around the boxes in between
                lane = y1 - GAP_Y // 2
                points = [start, (start[0] + GAP_X // 3, lane), (end[0] - GAP_X // 3, lane),
                          end]
            else:
                points = [start, end]
            path = " ".join(f"{x},{y}" for x, y in points)
            parts.append(f'<polyline points="{path}" fill="none" stroke="#666" '
                         'marker-end="url(#arrow)"/>')
    for task in spec.tasks:
        x, y = corner(task.task_id)
        parts.append(f'<rect x="{x}" y="{y}" width="{BOX_W}" height="{BOX_H}" rx="6" '
                     f'fill="{FILL[task.kind]}" stroke="#4a6fa5"/>')
        parts.append(f'<text x="{x + 8}" y="{y + 21}">{escape(task.task_id)}</text>')
    parts.append("</svg>")
    return "\n".join(parts) + "\n"


def demo_svg() -> str:
    from kedro_airflow_k8s.compiler import compile_project
    from kedro_airflow_k8s.context import KedroProject

    os.environ["KEDRO_CONFIG_COMMIT_ID"] = "example"
    return svg(compile_project(KedroProject.at(path=ROOT / "examples" / "demo")))


if __name__ == "__main__":
    (ROOT / "docs" / "demo-dag.svg").write_text(demo_svg())
    sys.exit(0)
