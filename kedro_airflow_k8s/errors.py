"""One exception type per failure family; the CLI prints each as a single line."""


class PluginError(Exception):
    """A failure the user can fix; its message is one line meant for them."""


class ConfigError(PluginError):
    """`airflow-k8s.yaml` is missing, unreadable or invalid."""


class CompileError(PluginError):
    """The pipeline and the configuration cannot make a valid DAG."""


class InitError(PluginError):
    """`init` would overwrite files or cannot write them."""


class OutputError(PluginError):
    """A file cannot be written where it should go."""
