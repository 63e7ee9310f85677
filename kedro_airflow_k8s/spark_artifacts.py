"""What a Dataproc cluster needs besides the DAG: the project's wheel and configuration, the
job script that runs a group of nodes, and the init script that installs the project.

Built by upload-pipeline, run-once and schedule, uploaded to
`<run_config.spark.artifacts_path>/<dag id>/` before the DAG file, so a DAG never names
files that are not there yet.
"""

from __future__ import annotations

import io
import subprocess
import sys
import tarfile
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kedro_airflow_k8s import __version__
from kedro_airflow_k8s.config import SparkConfig
from kedro_airflow_k8s.errors import ConfigError, UploadError
from kedro_airflow_k8s.spark import (
    DATAPROC_HOME,
    INIT_SCRIPT,
    JOB_SCRIPT,
    conf_archive_name,
    dataproc_artifacts_folder,
)

_BUILD_HINT = "pip install 'kedro-airflow-k8s[gcp]'"
_HEREDOC_END = "KEDRO_REQUIREMENTS"


def _template(name: str) -> Any:
    from kedro_airflow_k8s.render import TEMPLATES, template_environment

    return template_environment(TEMPLATES / "spark").get_template(name)


def job_script(package: str) -> str:
    """The PySpark main file: sets the environment, then runs the packaged project."""
    return _template(f"{JOB_SCRIPT}.j2").render(package=package, version=__version__)


def _user_script(project_path: Path, key: str, relative: str | None) -> str | None:
    if not relative:
        return None
    path = project_path / relative
    try:
        return path.read_text(encoding="utf-8").rstrip("\n")
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or exc
        raise ConfigError(f"run_config.spark.{key}: cannot read {path}: {reason}") from None


def init_script(config: SparkConfig, project_path: Path, package: str, dag_id: str,
                wheel: str) -> str:
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
        artifacts=dataproc_artifacts_folder(config, dag_id), home=DATAPROC_HOME,
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
    """The project's configuration as `kedro package` packs it (local/*.yml left out, the
    folder at the top of the archive), with fixed owners and times: same conf, same bytes."""
    def clean(info: tarfile.TarInfo) -> tarfile.TarInfo | None:
        parts = Path(info.name).parts
        if len(parts) == 3 and parts[1] == "local" and info.name.endswith(".yml"):
            return None
        info.uid = info.gid = 0
        info.uname = info.gname = ""
        info.mtime = 0
        return info

    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz", format=tarfile.PAX_FORMAT) as archive:
        archive.add(conf_dir, arcname=conf_dir.name, recursive=False, filter=clean)
        for path in sorted(conf_dir.rglob("*")):
            archive.add(path, arcname=str(Path(conf_dir.name) / path.relative_to(conf_dir)),
                        recursive=False, filter=clean)
    return buffer.getvalue()


def build_wheel(project_path: Path, into: Path) -> Path:
    """The project's wheel, built by the `build` frontend (as `kedro package` does)."""
    try:
        import build  # noqa: F401
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


def build_artifacts(project: Any, dag_id: str) -> dict[str, bytes]:
    """File name -> content of everything the cluster reads from the artifacts folder."""
    from kedro.framework.project import settings

    config = project.config.run_config.spark
    package = project.package_name
    with tempfile.TemporaryDirectory(prefix="kedro-airflow-k8s-wheel-") as folder:
        wheel = build_wheel(project.path, Path(folder))
        files = {wheel.name: wheel.read_bytes()}
    files[conf_archive_name(package)] = conf_archive(project.path / settings.CONF_SOURCE)
    files[JOB_SCRIPT] = job_script(package).encode()
    files[INIT_SCRIPT] = init_script(config, project.path, package, dag_id,
                                     wheel.name).encode()
    return files


def upload_artifacts(project: Any, dag_id: str,
                     notify: Callable[[str], None] = lambda line: None) -> str:
    """Build and upload the artifacts; the folder they are in."""
    from kedro_airflow_k8s.upload import upload_file

    config = project.config.run_config.spark
    folder = dataproc_artifacts_folder(config, dag_id)
    files = build_artifacts(project, dag_id)
    for name, content in files.items():
        upload_file(content, folder, name, key="run_config.spark.artifacts_path")
    notify(f"Uploaded Spark artifacts to {folder}/: {', '.join(files)}")
    return folder
