"""Which Kedro configuration environments the pods find in the project's image.

The pods run `kedro run --env E`, and Kedro reads conf/base and conf/E there: a folder the
image lacks is a MissingConfigException in every pod. `docker build .` leaves out what the
project's .dockerignore names (`init` writes one without conf/local: credentials never go into
an image), and Dataproc gets a configuration archive without conf/local.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path, PurePath
from typing import TYPE_CHECKING, Any

from kedro_airflow_k8s.errors import ConfigError
from kedro_airflow_k8s.project_version import never_shipped

if TYPE_CHECKING:
    from collections.abc import Callable

    from kedro_airflow_k8s.context import KedroProject

DOCKERIGNORE = ".dockerignore"


@dataclass(frozen=True)
class BuildContext:
    """The project folder as `docker build .` sends it, through its .dockerignore."""

    root: Path
    patterns: tuple[str, ...]

    @classmethod
    def of(cls, root: Path) -> BuildContext:
        path = root / DOCKERIGNORE
        try:
            lines = path.read_text(encoding="utf-8-sig").splitlines()
        except FileNotFoundError:
            lines = []
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError(f"{path}: cannot read it ({exc})") from None
        # as docker's own client reads it: trimmed lines, no blanks, no comments
        return cls(root, tuple(line for line in map(str.strip, lines)
                               if line and not line.startswith("#")))

    def leaves_out(self, folder: PurePath) -> str | None:
        """The pattern that leaves all of `folder` (relative to the root) out of the image;
        None when the image has the folder (or something of it that a later `!` brings
        back)."""
        if not self.patterns:
            return None
        from docker.utils.build import PatternMatcher  # the matcher docker's client builds with

        matcher = PatternMatcher(list(self.patterns))
        if not matcher.matches(folder.as_posix()):
            return None
        for path in (self.root / folder).rglob("*"):
            if path.is_file() and not matcher.matches(path.relative_to(self.root).as_posix()):
                return None
        excluding = [pattern for pattern in self.patterns if not pattern.startswith("!")
                     and PatternMatcher([pattern]).matches(folder.as_posix())]
        return excluding[-1]


def pods_env(project: KedroProject, execution: str, dataproc: bool,
             notify: Callable[[str], Any]) -> str:
    """The env every task runs `kedro run --env` with. Local execution runs in the project
    folder: the env compile read. Pods run the env named with -e or KEDRO_ENV, refused when
    the image lacks it; else Kedro's default run env when the image has it, else the base
    env alone (`kedro run --env base` reads conf/base only)."""
    env = project.run_env
    if execution == "local":
        return env
    from kedro.framework.project import settings

    base = settings.CONFIG_LOADER_ARGS.get("base_env") or "base"
    context = BuildContext.of(project.path)
    conf = PurePath(settings.CONF_SOURCE)

    pattern = context.leaves_out(conf / base)
    if pattern is not None:
        raise ConfigError(f"{DOCKERIGNORE}: {pattern!r} leaves {(conf / base).as_posix()} out "
                          "of the image, and every pod's kedro run reads it")
    if env == base:
        return env
    pattern = context.leaves_out(conf / env)
    if pattern is not None:
        reason = (f"the project's {DOCKERIGNORE} leaves {(conf / env).as_posix()} out of the "
                  f"image (by {pattern!r})")
    elif dataproc and never_shipped(PurePath(env)):
        reason = f"{(conf / env).as_posix()} is local configuration, never uploaded to Dataproc"
    else:
        return env
    source = project.env_source
    if source is not None:
        named = f"{source}={env}" if source == "KEDRO_ENV" else f"{source} {env}"
        raise ConfigError(
            f"{named}: {reason}, so every pod's `kedro run --env {env}` "
            "would fail (MissingConfigException): compile with an env the image holds "
            f"(-e {base}, or a conf/<env> of its own for the cluster)")
    notify(f"Note: the pods run `kedro run --env {base}`: {reason}, and Kedro's default run "
           f"env is {env}; -e names the env they run.")
    return base
