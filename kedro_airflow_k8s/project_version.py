"""The project version a DAG names: 12 hex characters of a sha256 over the code and the
configuration it was compiled from.

Code: the source folder (`src/`, what `kedro package` builds the wheel from) and the
packaging files beside it. Configuration: `conf/<base env>` and `conf/<run env>`, the two a
pod's `kedro run --env` reads; local configuration and credentials never count
(`never_shipped`, as they are never uploaded either). Build leftovers (`__pycache__`,
`*.pyc`, `*.egg-info`) and hidden files (`.DS_Store`, `.ipynb_checkpoints`) do not count, so
neither does the DAG file nor a build's output, which live outside these folders. Each file
counts by its path and its bytes, in sorted order, not by its time: every checkout of the
same files on any machine gives the same version, in a git repository or not (.gitignore is
not read).
"""

from __future__ import annotations

import fnmatch
import hashlib
from collections.abc import Callable, Iterable
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.errors import CompileError

if TYPE_CHECKING:
    from kedro_airflow_k8s.session import ProjectSession

# What the wheel is built from besides the source folder
PACKAGING_FILES = ("pyproject.toml", "setup.py", "setup.cfg", "MANIFEST.in", "requirements.txt")
LENGTH = 12


def never_shipped(relative: PurePath) -> bool:
    """True for local configuration and credentials, which never leave the machine: anything
    under conf/local (`relative` to the conf folder), and any file or folder whose name holds
    "credentials" (Kedro's own .gitignore pattern), whatever its extension and depth."""
    return relative.parts[:1] == ("local",) or is_credentials(relative)


def is_credentials(path: PurePath) -> bool:
    return any(fnmatch.fnmatch(part.lower(), "*credentials*") for part in path.parts)


def _is_leftover(relative: PurePath) -> bool:
    """Build leftovers and hidden files, which the same checkout may or may not hold."""
    return relative.suffix == ".pyc" or any(
        part == "__pycache__" or part.endswith(".egg-info") or part.startswith(".")
        for part in relative.parts)


def _files_under(folder: Path, label: str,
                 skip: Callable[[PurePath], bool] = lambda relative: False,
                 ) -> list[tuple[str, Path]]:
    if not folder.is_dir():
        return []
    found = []
    for path in folder.rglob("*"):
        relative = path.relative_to(folder)
        if path.is_file() and not _is_leftover(relative) and not skip(relative):
            found.append((f"{label}/{relative.as_posix()}", path))
    return sorted(found)


def code_files(project_path: Path, source_dir: Path) -> list[tuple[str, Path]]:
    """(label, path) of the packaging files and of every file of the source folder."""
    packaging = [(name, project_path / name) for name in PACKAGING_FILES
                 if (project_path / name).is_file()]
    return packaging + _files_under(source_dir, "source")


def conf_files(conf_dir: Path, envs: Iterable[str]) -> list[tuple[str, Path]]:
    """(label, path) of every file of the given envs' folders, local configuration and
    credentials left out."""
    found = []
    for env in dict.fromkeys(envs):
        if never_shipped(PurePath(env)):
            continue
        found += _files_under(conf_dir / env, f"conf/{env}", _never_shipped_under(env))
    return found


def _never_shipped_under(env: str) -> Callable[[PurePath], bool]:
    """never_shipped for a path relative to the env's folder."""
    return lambda relative: never_shipped(PurePath(env) / relative)


def add_content(digest: Any, label: str, content: bytes) -> None:
    """Feed a label, a length and bytes to `digest`: content moved between files changes it."""
    digest.update(f"{label}\0{len(content)}\0".encode())
    digest.update(content)


def add_files(digest: Any, files: Iterable[tuple[str, Path]]) -> None:
    for label, path in files:
        try:
            content = path.read_bytes()
        except OSError as error:
            raise CompileError(f"cannot read {path} for the project version: "
                               f"{error.strerror or error}") from error
        add_content(digest, label, content)


def version_of(project_path: Path, source_dir: Path, conf_dir: Path,
               envs: Iterable[str]) -> str:
    digest = hashlib.sha256()
    add_files(digest, code_files(project_path, source_dir))
    add_files(digest, conf_files(conf_dir, envs))
    return digest.hexdigest()[:LENGTH]


def project_version(project: ProjectSession) -> str:
    """The version of `project` as its DAG runs it: its code, and its base and run env's
    configuration."""
    from kedro.framework.project import settings

    project.bootstrap()
    base = settings.CONFIG_LOADER_ARGS.get("base_env") or "base"
    return version_of(project.path, Path(project.metadata.source_dir),
                      project.path / settings.CONF_SOURCE, [base, project.run_env])
