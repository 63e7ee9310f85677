"""The Kedro runner of a watched group's producer (`kedro run --runner
kedro_airflow_k8s.watched.WatchedRunner`): it runs the group's nodes in the pipeline's order
as Kedro's SequentialRunner does, or with `--runner-params max_workers=N` the nodes that do
not depend on each other side by side in N threads as Kedro's ThreadRunner does; it says on
its output when each node starts and how it ends (one `MARKER` line each), and goes on past a
node that fails with every node that does not depend on it. The producer task reads those
lines and hands each node's end to that node's own Airflow task (see
`dag_runtime.operators.WatchedGroupBashOperator`).

It runs where the project runs (the Airflow worker, or the project's image): it imports Kedro,
never Airflow.
"""

from __future__ import annotations

import io
import json
import logging
import sys
import threading
import time
import traceback
import warnings
from collections import Counter
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from itertools import chain
from typing import TYPE_CHECKING, Any, TextIO

from kedro.runner import SequentialRunner
from kedro.runner.task import Task

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro.io import CatalogProtocol
    from kedro.pipeline import Node, Pipeline
    from pluggy import PluginManager

# The start of a line that tells the producer task about a node; the rest is one JSON object:
# {"node": name, "event": "start" | "success" | "failed" | "not run", "time": epoch seconds}
# and, for "failed", "error": the last lines of its traceback; with threads, an end also holds
# "lines": what the node's thread wrote while it ran (the last LOG_LINES; run one at a time,
# a node's lines are those between its start and its end). The DAG file's operators hold the
# same text (tests/test_watched.py keeps them equal).
MARKER = "kedro-airflow-k8s:node "
RUNNER = f"{__name__}.WatchedRunner"
_TRACEBACK_LINES = 12  # of a failed node's traceback, in its event
LOG_LINES = 200  # of a node's lines, in its end (dag_runtime.operators.NodeEvents.LOG_LINES)


class NodesFailed(RuntimeError):
    """Some nodes of the group failed (each said so in its own event)."""


def event(node: str, what: str, **details: Any) -> str:
    """One line of the protocol."""
    return MARKER + json.dumps({"node": node, "event": what, "time": time.time(), **details},
                               sort_keys=True)


class WatchedRunner(SequentialRunner):
    """SequentialRunner's order and hooks, one event per node start and end, and no stop at
    the first failure: a failed node's descendants are not run (event "not run"), every
    other node is. The run fails at the end when a node failed.

    `max_workers` above 1 (`kedro run --runner-params max_workers=4`): the nodes whose inputs
    are ready run side by side in that many threads, as Kedro's ThreadRunner runs them (the
    nodes must be safe to run in threads); each node's end carries what its thread wrote
    while it ran, to sys.stdout, sys.stderr or the logs' console handlers."""

    def __init__(self, max_workers: int = 1, is_async: bool = False) -> None:
        if isinstance(max_workers, bool) or not isinstance(max_workers, int) \
                or max_workers < 1:
            raise ValueError(f"WatchedRunner: max_workers must be a whole number of at least "
                             f"1, not {max_workers!r}")
        if is_async and max_workers > 1:
            warnings.warn("WatchedRunner: is_async does not go with threads (max_workers "
                          "above 1), as with Kedro's ThreadRunner; it is set to False",
                          stacklevel=2)
            is_async = False
        super().__init__(is_async=is_async)
        self._max_workers = max_workers

    def _run(self, pipeline: Pipeline, catalog: CatalogProtocol[Any, Any],
             hook_manager: PluginManager | None = None, run_id: str | None = None) -> None:
        book = _Book(pipeline)

        def run_node(node: Node, say: Callable[..., None]) -> bool:
            say(node.name, "start")
            try:
                Task(node=node, catalog=catalog, hook_manager=hook_manager,
                     is_async=self._is_async, run_id=run_id).execute()
            except Exception:  # a node's error is reported, and the run goes on
                lines = traceback.format_exc().rstrip().splitlines()
                self._logger.error("Node %s failed:\n%s", node.name, "\n".join(lines))
                say(node.name, "failed", error=lines[-_TRACEBACK_LINES:])
                return False
            say(node.name, "success")
            return True

        def finished(node: Node, ok: bool) -> None:
            book.end(node, ok)
            if ok:
                self._release_datasets(node, catalog, book.load_counts, pipeline)

        if self._max_workers == 1:
            for node in pipeline.nodes:
                if book.blocked(node):
                    _say(event(node.name, "not run"))
                    continue
                finished(node, run_node(node, lambda *a, **k: _say(event(*a, **k))))
        else:
            _run_in_threads(pipeline, book, self._max_workers, run_node, finished)
        if book.failed:
            raise NodesFailed(f"nodes {', '.join(sorted(book.failed))} failed" + (
                f"; {', '.join(sorted(book.not_run))} not run" if book.not_run else ""))


class _Book:
    """What a run has done so far: the nodes that ended, failed or were not run."""

    def __init__(self, pipeline: Pipeline) -> None:
        self.load_counts = Counter(chain.from_iterable(node.inputs for node in pipeline.nodes))
        self.dependencies = pipeline.node_dependencies
        self.failed: set[str] = set()
        self.not_run: set[str] = set()
        self.done: set[Node] = set()

    def blocked(self, node: Node) -> bool:
        """Whether a node the node depends on failed or was not run (then neither is it)."""
        if any(parent.name in self.failed | self.not_run
               for parent in self.dependencies[node]):
            self.not_run.add(node.name)
            self.done.add(node)
            return True
        return False

    def ready(self, node: Node) -> bool:
        return self.dependencies[node] <= self.done

    def end(self, node: Node, ok: bool) -> None:
        self.done.add(node)
        if not ok:
            self.failed.add(node.name)


def _run_in_threads(pipeline: Pipeline, book: _Book, workers: int,
                    run_node: Callable[[Node, Callable[..., None]], bool],
                    finished: Callable[[Node, bool], None]) -> None:
    """Every node once its parents ended, in up to `workers` threads; in the pipeline's
    order among the nodes ready at once."""
    todo = list(pipeline.nodes)
    running: dict[Future[bool], Node] = {}
    with _NodeOutput() as output, ThreadPoolExecutor(workers) as pool:
        while todo or running:
            for node in [node for node in todo if book.ready(node)]:
                todo.remove(node)
                if book.blocked(node):
                    output.say(event(node.name, "not run"))
                else:
                    running[pool.submit(output.run_as, node.name, run_node, node)] = node
            if not running:  # nodes were found not run: others may be ready now
                continue
            ended, _ = wait(running, return_when=FIRST_COMPLETED)
            for future in ended:
                finished(running.pop(future), future.result())


class _NodeOutput:
    """While threads run nodes: sys.stdout, sys.stderr and the logs' handlers that write to
    them go on writing there, and what each node's thread writes is kept for its end."""

    def __init__(self) -> None:
        self.lock = threading.RLock()
        self.local = threading.local()
        self.lines: dict[str, list[str]] = {}
        self.partial: dict[str, str] = {}
        self.at_line_start = True
        self.streams: list[tuple[str, TextIO]] = []
        self.handlers: list[tuple[logging.StreamHandler[Any], Any]] = []

    def __enter__(self) -> _NodeOutput:
        for name in ("stdout", "stderr"):
            stream = getattr(sys, name)
            self.streams.append((name, stream))
            setattr(sys, name, _Tee(self, stream))
        originals = {id(stream): getattr(sys, name) for name, stream in self.streams}
        for handler in _stream_handlers():
            tee = originals.get(id(handler.stream))
            if tee is not None:
                self.handlers.append((handler, handler.setStream(tee)))
        return self

    def __exit__(self, *_: object) -> None:
        for handler, stream in self.handlers:
            handler.setStream(stream)
        for name, stream in self.streams:
            setattr(sys, name, stream)

    def run_as(self, node: str, run_node: Callable[[Node, Callable[..., None]], bool],
               target: Node) -> bool:
        """`run_node` in this thread, what it writes kept as the node's; its end carries it."""
        self.local.node = node
        self.lines[node] = []

        def say(name: str, what: str, **details: Any) -> None:
            if what != "start":
                rest = self.partial.pop(name, "")
                kept = self.lines.pop(name, []) + ([rest] if rest else [])
                details["lines"] = kept[-LOG_LINES:]
            self.say(event(name, what, **details))

        try:
            return run_node(target, say)
        finally:
            self.local.node = None

    def write(self, stream: TextIO, text: str) -> None:
        with self.lock:
            stream.write(text)
            if text:
                self.at_line_start = text.endswith("\n")
            node = getattr(self.local, "node", None)
            if node is None or node not in self.lines:
                return
            *whole, rest = (self.partial.pop(node, "") + text).split("\n")
            self.lines[node].extend(whole)
            del self.lines[node][:-LOG_LINES]
            if rest:
                self.partial[node] = rest

    def say(self, line: str) -> None:
        """A protocol line on a line of its own, whatever other threads are writing."""
        stdout = self.streams[0][1]
        with self.lock:
            stdout.write(("" if self.at_line_start else "\n") + line + "\n")
            stdout.flush()
            self.at_line_start = True


class _Tee(io.TextIOBase):
    """sys.stdout or sys.stderr while threads run nodes (see _NodeOutput)."""

    def __init__(self, output: _NodeOutput, stream: TextIO) -> None:
        super().__init__()
        self.output = output
        self.stream = stream

    def write(self, text: str) -> int:
        self.output.write(self.stream, text)
        return len(text)

    def flush(self) -> None:
        self.stream.flush()

    def isatty(self) -> bool:
        return self.stream.isatty()

    def fileno(self) -> int:
        return self.stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]  # the stream's, read-only here
        return self.stream.encoding


def _stream_handlers() -> list[logging.StreamHandler[Any]]:
    loggers = [logging.getLogger(), *(logger for logger in
                                      logging.Logger.manager.loggerDict.values()
                                      if isinstance(logger, logging.Logger))]
    return [handler for logger in loggers for handler in logger.handlers
            if type(handler) is logging.StreamHandler]


def _say(line: str) -> None:
    """Write a protocol line at once, whole, on a line of its own."""
    sys.stdout.write(line + "\n")
    sys.stdout.flush()
