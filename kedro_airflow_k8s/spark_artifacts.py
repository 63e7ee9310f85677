"""What a Dataproc cluster needs besides the DAG: the project's wheel and configuration, the
job script that runs a group of nodes, and the init script that installs the project.

Built by upload-pipeline, run-once and schedule, uploaded to
`<run_config.spark.artifacts_path>/<dag id>/<version>/` before the DAG file, so a DAG never
names files that are not there yet, and a new version never replaces the files of a DAG that
is running. Local configuration and credentials are never uploaded (`never_shipped`).
"""

from __future__ import annotations

import gzip
import hashlib
import io
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Callable
from pathlib import Path, PurePath, PurePosixPath
from typing import TYPE_CHECKING

from kedro_airflow_k8s import __version__
from kedro_airflow_k8s.config import SparkConfig
from kedro_airflow_k8s.errors import ConfigError, UploadError
from kedro_airflow_k8s.project_version import (  # noqa: F401 - never_shipped: public here too
    add_content,
    add_files,
    code_files,
    is_credentials,
    never_shipped,
)
from kedro_airflow_k8s.spark import (
    DATAPROC_HOME,
    INIT_SCRIPT,
    JOB_SCRIPT,
    conf_archive_name,
    dataproc_artifacts_folder,
)

if TYPE_CHECKING:
    from jinja2 import Template

    from kedro_airflow_k8s.context import KedroProject

_BUILD_HINT = "pip install 'kedro-airflow-k8s[gcp]'"
_HEREDOC_END = "KEDRO_REQUIREMENTS"
_USER_SCRIPTS = ("user_init_path", "user_post_init_path")


def _spark(project: KedroProject) -> SparkConfig:
    spark = project.config.run_config.spark
    if spark is None:  # callers ship artifacts only for a DAG with Spark tasks
        raise ConfigError("run_config.spark: not set, so there are no Spark artifacts to build")
    return spark


def _template(name: str) -> Template:
    from kedro_airflow_k8s.render import TEMPLATES, template_environment

    return template_environment(TEMPLATES / "spark").get_template(name)


def job_script(package: str) -> str:
    """The PySpark main file: sets the environment, then runs the packaged project."""
    return _template(f"{JOB_SCRIPT}.j2").render(package=package, version=__version__)


def _user_script(project_path: Path, key: str, relative: str | None) -> str | None:
    if not relative:
        return None
    if _is_local_or_credentials(PurePath(relative)):
        raise ConfigError(f"run_config.spark.{key}: {relative} is local configuration or "
                          "credentials, which are never uploaded: keep the script elsewhere "
                          "in the project")
    path = project_path / relative
    try:
        return path.read_text(encoding="utf-8").rstrip("\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"run_config.spark.{key}: cannot read {path}: {reason}") from None


def _is_local_or_credentials(relative: PurePath) -> bool:
    """`never_shipped` for a path relative to the project (conf/local/..., */credentials*)."""
    from kedro.framework.project import settings

    conf = PurePath(settings.CONF_SOURCE)
    if relative.is_relative_to(conf):
        return never_shipped(relative.relative_to(conf))
    return is_credentials(relative)


def artifacts_version(project: KedroProject) -> str:
    """12 hex characters that change with anything the artifacts are built from: the source
    folder and packaging files (the wheel, as `project_version.code_files` lists them), the
    shipped configuration, the user scripts, run_config.spark and this plugin's version.
    Build leftovers (egg-info, __pycache__) do not count, so building the wheel does not
    change it."""
    from kedro.framework.project import settings

    config = _spark(project)
    digest = hashlib.sha256()

    def add(label: str, content: bytes) -> None:
        add_content(digest, label, content)

    add("plugin", __version__.encode())
    add("run_config.spark", config.model_dump_json().encode())
    add_files(digest, code_files(project.path, Path(project.metadata.source_dir)))
    add("conf", conf_archive(project.path / settings.CONF_SOURCE))
    for key in _USER_SCRIPTS:
        add(key, (_user_script(project.path, key, getattr(config, key)) or "").encode())
    return digest.hexdigest()[:12]


def init_script(config: SparkConfig, project_path: Path, package: str, dag_id: str,
                wheel: str, version: str) -> str:
    """The cluster's init action: the user's init script, the project's requirements and
    wheel installed into the cluster's Python, the configuration copied, the post script."""
    requirements_file = project_path / "requirements.txt"
    requirements = requirements_file.read_text(encoding="utf-8").strip() \
        if requirements_file.is_file() else ""
    if any(line.strip() == _HEREDOC_END for line in requirements.splitlines()):
        raise ConfigError(f"{requirements_file}: a line reads {_HEREDOC_END}, which ends the "
                          "init script's copy of it")
    return _template(f"{INIT_SCRIPT}.j2").render(
        package=package, dag_id=dag_id, version=__version__,
        artifacts=dataproc_artifacts_folder(config, dag_id, version), home=DATAPROC_HOME,
        wheel=wheel, conf=conf_archive_name(package), requirements=requirements,
        user_init=_user_script(project_path, "user_init_path", config.user_init_path),
        user_init_path=_one_line(config.user_init_path),
        user_post_init=_user_script(project_path, "user_post_init_path",
                                    config.user_post_init_path),
        user_post_init_path=_one_line(config.user_post_init_path),
    )


def _one_line(text: str | None) -> str:
    return " ".join(str(text).split())


def conf_archive(conf_dir: Path) -> bytes:
    """The project's configuration as `kedro package` packs it (the folder at the top of the
    archive), minus what `never_shipped` keeps home, with fixed owners and times: same conf,
    same bytes."""
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo:
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    buffer = io.BytesIO()
    # gzip's own header holds a time too: 0, so the bytes depend on the conf alone
    with gzip.GzipFile(fileobj=buffer, mode="wb", mtime=0) as zipped, \
            tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive:
        archive.add(conf_dir, arcname=conf_dir.name, recursive=False, filter=clean)
        for path in sorted(conf_dir.rglob("*")):
            relative = path.relative_to(conf_dir)
            if never_shipped(relative):
                continue
            archive.add(path, arcname=str(Path(conf_dir.name) / relative), recursive=False,
                        filter=clean)
    return buffer.getvalue()


def build_wheel(project_path: Path, into: Path) -> Path:
    """The project's wheel, built by the `build` frontend (as `kedro package` does)."""
    try:
        import build  # noqa: F401 - only whether it is installed
    except ImportError:
        raise UploadError(f"Spark on Dataproc ships the project as a wheel, which needs the "
                          f"'build' package: run {_BUILD_HINT}") from None
    result = subprocess.run(
        [sys.executable, "-m", "build", "--wheel", "--outdir", str(into), str(project_path)],
        capture_output=True, text=True)
    wheels = sorted(into.glob("*.whl"))
    if result.returncode != 0 or len(wheels) != 1:
        lines = (result.stderr.strip() or result.stdout.strip()).splitlines()
        raise UploadError(f"cannot build the project's wheel: "
                          f"{lines[-1] if lines else 'no wheel made'}")
    return wheels[0]


def check_wheel(wheel: Path) -> None:
    """Refuse a wheel that packs local configuration or credentials as package data."""
    with zipfile.ZipFile(wheel) as archive:
        names = archive.namelist()
    for name in names:
        parts = PurePosixPath(name).parts
        local = any(parts[i:i + 2] == ("conf", "local") for i in range(len(parts)))
        credentials = not name.endswith((".py", ".pyi")) and is_credentials(PurePath(name))
        if local or credentials:
            raise UploadError(f"the project's wheel {wheel.name} holds {name}, local "
                              "configuration or credentials, which are never uploaded: leave "
                              "it out of the package data")


def build_artifacts(project: KedroProject, dag_id: str, version: str) -> dict[str, bytes]:
    """File name -> content of everything the cluster reads from the artifacts folder."""
    from kedro.framework.project import settings

    config = _spark(project)
    package = project.package_name
    with tempfile.TemporaryDirectory(prefix="kedro-airflow-k8s-wheel-") as folder:
        wheel = build_wheel(project.path, Path(folder))
        check_wheel(wheel)
        files = {wheel.name: wheel.read_bytes()}
    files[conf_archive_name(package)] = conf_archive(project.path / settings.CONF_SOURCE)
    files[JOB_SCRIPT] = job_script(package).encode()
    files[INIT_SCRIPT] = init_script(config, project.path, package, dag_id,
                                     wheel.name, version).encode()
    return files


def upload_artifacts(project: KedroProject, dag_id: str, version: str,
                     notify: Callable[[str], None] = lambda line: None) -> str:
    """Build and upload the artifacts of `version` (the one compile named in the DAG); the
    folder they are in."""
    from kedro_airflow_k8s.upload import upload_file

    config = _spark(project)
    folder = dataproc_artifacts_folder(config, dag_id, version)
    files = build_artifacts(project, dag_id, version)
    for name, content in files.items():
        upload_file(content, folder, name, key="run_config.spark.artifacts_path")
    notify(f"Uploaded Spark artifacts to {folder}/: {', '.join(files)}")
    return folder
