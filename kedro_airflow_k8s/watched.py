"""The Kedro runner of a watched group's producer (`kedro run --runner
kedro_airflow_k8s.watched.WatchedRunner`): it runs the group's nodes in the pipeline's order
as Kedro's SequentialRunner does, says on its output when each node starts and how it ends
(one `MARKER` line each), and goes on past a node that fails with every node that does not
depend on it. The producer task reads those lines and hands each node's end to that node's
own Airflow task (see `dag_runtime.operators.WatchedGroupBashOperator`).

It runs where the project runs (the Airflow worker, or the project's image): it imports Kedro,
never Airflow.
"""

from __future__ import annotations

import json
import sys
import time
import traceback
from collections import Counter
from itertools import chain
from typing import TYPE_CHECKING, Any

from kedro.runner import SequentialRunner
from kedro.runner.task import Task

if TYPE_CHECKING:
    from kedro.io import CatalogProtocol
    from kedro.pipeline import Pipeline
    from pluggy import PluginManager

# The start of a line that tells the producer task about a node; the rest is one JSON object:
# {"node": name, "event": "start" | "success" | "failed" | "not run", "time": epoch seconds}
# and, for "failed", "error": the last lines of its traceback. The DAG file's operators hold
# the same text (tests/test_watched.py keeps them equal).
MARKER = "kedro-airflow-k8s:node "
RUNNER = f"{__name__}.WatchedRunner"
_TRACEBACK_LINES = 12  # of a failed node's traceback, in its event


class NodesFailed(RuntimeError):
    """Some nodes of the group failed (each said so in its own event)."""


def event(node: str, what: str, **details: Any) -> str:
    """One line of the protocol."""
    return MARKER + json.dumps({"node": node, "event": what, "time": time.time(), **details},
                               sort_keys=True)


class WatchedRunner(SequentialRunner):
    """SequentialRunner's order and hooks, one event per node start and end, and no stop at
    the first failure: a failed node's descendants are not run (event "not run"), every
    other node is. The run fails at the end when a node failed."""

    def _run(self, pipeline: Pipeline, catalog: CatalogProtocol[Any, Any],
             hook_manager: PluginManager | None = None, run_id: str | None = None) -> None:
        load_counts = Counter(chain.from_iterable(node.inputs for node in pipeline.nodes))
        dependencies = pipeline.node_dependencies
        failed: set[str] = set()
        not_run: set[str] = set()
        for node in pipeline.nodes:
            if any(parent.name in failed | not_run for parent in dependencies[node]):
                not_run.add(node.name)
                _say(event(node.name, "not run"))
                continue
            _say(event(node.name, "start"))
            try:
                Task(node=node, catalog=catalog, hook_manager=hook_manager,
                     is_async=self._is_async, run_id=run_id).execute()
            except Exception:  # a node's error is reported, and the run goes on
                failed.add(node.name)
                lines = traceback.format_exc().rstrip().splitlines()
                self._logger.error("Node %s failed:\n%s", node.name, "\n".join(lines))
                _say(event(node.name, "failed", error=lines[-_TRACEBACK_LINES:]))
                continue
            _say(event(node.name, "success"))
            self._release_datasets(node, catalog, load_counts, pipeline)
        if failed:
            raise NodesFailed(f"nodes {', '.join(sorted(failed))} failed" +
                              (f"; {', '.join(sorted(not_run))} not run" if not_run else ""))


def _say(line: str) -> None:
    """Write a protocol line at once, whole, on a line of its own."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
