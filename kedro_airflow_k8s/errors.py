"""One exception type per failure family; the CLI prints each as a single line."""

from __future__ import annotations

import sys
import traceback
from pathlib import Path


class PluginError(Exception):
    """A failure the user can fix; its message is one line meant for them."""


class ConfigError(PluginError):
    """`airflow-k8s.yaml` is missing, unreadable or invalid."""


class CompileError(PluginError):
    """The pipeline and the configuration cannot make a valid DAG."""


class ProjectCodeError(PluginError):
    """The project's own code (settings, pipeline registry, a pipeline module) fails to
    import; the message names the module and the exception."""

    @classmethod
    def of(cls, exc: BaseException, project_path: Path, what: str) -> ProjectCodeError:
        """`exc` as one line: the project module it came from (with the line), the
        exception's type and first line. A wrapper (Kedro's find_pipelines raises "An error
        occurred while importing ..." from the real error) is seen through to its cause."""
        outer, exc = exc, innermost_cause(exc)
        message = str(exc.msg if isinstance(exc, SyntaxError) else exc).strip()
        text = f"{type(exc).__name__}: {message.splitlines()[0]}" if message \
            else type(exc).__name__
        where = project_frame(exc, project_path) or project_frame(outer, project_path)
        place = f"{where[0]}, line {where[1]}: " if where else ""
        return cls(f"the project's {what} failed to load: {place}{text} "
                   "(--traceback shows the traceback)")


def innermost_cause(exc: BaseException) -> BaseException:
    """The last exception of `exc`'s `raise ... from` chain."""
    seen = {id(exc)}
    while exc.__cause__ is not None and id(exc.__cause__) not in seen:
        exc = exc.__cause__
        seen.add(id(exc))
    return exc


def project_frame(exc: BaseException, project_path: Path) -> tuple[str, int] | None:
    """(module, line) of the innermost place in the project's own files the exception
    passed through (a SyntaxError: where it is); None when it never did."""
    places = [(frame.filename, frame.lineno) for frame in traceback.extract_tb(
        exc.__traceback__)]
    if isinstance(exc, SyntaxError) and exc.filename:
        places.append((exc.filename, exc.lineno or 0))
    root = project_path.resolve()
    for filename, line in reversed(places):
        path = Path(filename).resolve()
        if root in path.parents and "site-packages" not in path.parts:
            return _module_name(path), line or 0
    return None


def _module_name(path: Path) -> str:
    """The dotted module name of a file, from the sys.path entry it is under."""
    roots = [Path(entry or ".").resolve() for entry in sys.path]
    bases = sorted((root for root in roots if root in path.parents),
                   key=lambda root: len(root.parts), reverse=True)
    if not bases:
        return str(path)
    parts = list(path.relative_to(bases[0]).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


class InitError(PluginError):
    """`init` would overwrite files or cannot write them."""


class OutputError(PluginError):
    """A file cannot be written where it should go."""


class UploadError(PluginError):
    """The DAG file cannot be put where Airflow reads it."""


class AirflowApiError(PluginError):
    """Airflow's REST API refused, failed, or could not be reached."""


class DagNotFound(AirflowApiError):
    """Airflow does not know the DAG (yet): not uploaded, or not parsed so far."""


class RunFailed(PluginError):
    """A DAG run ended in failure (exit 1) or did not end in time (exit 3)."""

    def __init__(self, message: str, exit_code: int = 1) -> None:
        super().__init__(message)
        self.exit_code = exit_code
