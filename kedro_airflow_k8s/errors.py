"""One exception type per failure family; the CLI prints each as a single line."""


class PluginError(Exception):
    """A failure the user can fix; its message is one line meant for them."""


class ConfigError(PluginError):
    """`airflow-k8s.yaml` is missing, unreadable or invalid."""


class CompileError(PluginError):
    """The pipeline and the configuration cannot make a valid DAG."""


class ProjectCodeError(PluginError):
    """The project's own code (settings, pipeline registry, a pipeline module) fails to
    import; the message names the module and the exception."""


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
